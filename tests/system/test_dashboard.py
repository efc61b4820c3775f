"""System tests of the web dashboard (web/, served by server/web.c).

One deployment (ward init, SQLite) with an image repository of two signed
images, 32 devices of two models enrolled over EST and checking in over
mutual TLS with varied facts (so their risk differs), one revoked, two
labelled, one with stage reports; operator accounts made with `ward
operator add`. The dashboard's files are a copy of web/ with hostile
extras next to them (a symlink out of the root, a directory, a file over
the size limit, a hidden file, one of unknown type), named by `[web] root`.

The browser is Debian's chromium, headless, driven by playwright-core from
npm (tests/system/js/dashboard.mjs plays one scenario a run and prints what
the page showed as JSON). It trusts exactly ward-server's key
(--ignore-certificate-errors-spki-list), not every certificate. Each test
compares what the page shows with what the API answers for the same
question (device count and serials per filter, a device's slots, the risk
heat map's cells and its riskiest device, audit records, a campaign's
counts per phase), starts and pauses a campaign from the page and checks
the API's state, signs out, and checks that the API refuses the page
without its token. Any console error, uncaught exception or
Content-Security-Policy violation on a page fails the test. Screenshots of
every view go to $WARD_BUILD/test-artifacts/dashboard/.

The hostile test needs no browser: path traversal (plain and
percent-encoded), encoded slashes and backslashes, NUL, a directory, a
symlink out of the root, a huge path, wrong methods, and the security
headers on every reply, errors included.

Run: WARD_BUILD=build /usr/bin/python3 -m pytest -q tests/system/test_dashboard.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import fleet as fleetmod
from device import HW, KiB, Release, image_bytes
from fleet import BUILD, REPO_ROOT, WARD_SERVER, Fleet, request, tls_context

PASSWORD = "correct horse battery staple"
SHOTS = BUILD / "test-artifacts" / "dashboard"
CHROMIUM = os.environ.get("WARD_CHROMIUM", "/usr/bin/chromium")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

THERMO = [f"thermo-{i:02d}" for i in range(24)]
CAMS = [f"cam-{i:02d}" for i in range(8)]


@pytest.fixture(autouse=True)
def binaries(ward_bin):
    if not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)):
        pytest.fail(f"ward-server not found at {WARD_SERVER}: build it first", pytrace=False)


@pytest.fixture(scope="session")
def chromium():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (deps/debian.txt)", pytrace=False)
    return CHROMIUM


class Dash:
    """The deployment, its server and what the tests need to talk to them."""

    def __init__(self, base: Path):
        self.base = base
        self.release = Release(base / "maker")
        self.v1 = self.release.add("1.0.0", image_bytes("dash-v1", 64 * KiB))
        self.v2 = self.release.add("2.0.0", image_bytes("dash-v2", 72 * KiB))
        self.fl = Fleet(base / "fleet")
        os.symlink(self.release.repo / "repo", self.fl.dir / "repo")
        self.web = self.make_web_root(base)
        self.fl.set_conf("web", "root", self.web)
        for name, role in [("alice", "admin"), ("olga", "auditor")]:
            pw = base / f"pw-{name}"
            pw.write_text(PASSWORD + "\n")
            pw.chmod(0o600)
            self.fl.ward("operator", "add", name, "--role", role, "--password-file", pw, "-c", self.fl.conf)
        self.srv = self.fl.start(workers=2)
        self.url = self.srv.url
        self.ctx = tls_context(self.fl.root)
        self.token = self.login("alice")
        self.seq: dict[str, int] = {}
        self.devs = {}
        thermo = self.fl.batch(model="thermo-2", count=len(THERMO))
        cams = self.fl.batch(model="cam-1", count=len(CAMS))
        for s in THERMO:
            self.devs[s] = self.fl.enroll(self.srv, thermo, s)
        for s in CAMS:
            self.devs[s] = self.fl.enroll(self.srv, cams, s)
        for i, s in enumerate(THERMO):
            old = i % 5 == 0
            self.checkin(s, {
                "hardware_id": HW, "firmware_version": "1.0.0" if old else "2.0.0",
                "slots": {"A": {"state": "good", "version": "1.0.0" if old else "2.0.0"},
                          "B": {"state": "bad" if i % 7 == 3 else "good", "version": "1.0.0"}},
                "booted_slot": "A", "secure_boot": i % 3 != 0, "uptime": 100 + i,
                "listening_ports": [443] if i % 4 else [22, 23, 443]})
        for i, s in enumerate(CAMS[:6]):  # two cameras never check in
            self.checkin(s, {"hardware_id": "cam-hw", "firmware_version": f"0.{i}",
                             "slots": {"A": {"state": "good", "version": f"0.{i}"},
                                       "B": {"state": "empty", "version": ""}},
                             "booted_slot": "B" if i % 2 else "A", "uptime": 7})
        self.fl.ward("device", "revoke", "cam-07", "-c", self.fl.conf)
        # labels and stage reports (operator and device APIs)
        self.labels = [self.api("POST", f"/api/v1/devices/{s}/labels", body)[0]
                       for s, body in [("thermo-03", {"tags": ["lab", "north"], "critical": True}),
                                       ("thermo-04", {"tags": ["lab"]})]]
        self.report_status = self.report("thermo-01", [
            ("downloading", ""), ("installed", ""), ("healthy", "")], self.v2)

    @staticmethod
    def make_web_root(base: Path) -> Path:
        """web/ copied, with hostile neighbours and extras."""
        web = base / "web"
        shutil.copytree(REPO_ROOT / "web", web)
        outside = base / "outside"
        outside.mkdir()
        (outside / "secret.js").write_text("SECRET-OUTSIDE-THE-ROOT\n")
        (base / "secret.txt").write_text("SECRET-OUTSIDE-THE-ROOT\n")
        os.symlink(outside / "secret.js", web / "link.js")
        os.symlink(outside, web / "linkdir")
        (web / "sub").mkdir()
        (web / "sub" / "inner.js").write_text("// inner\n")
        (web / ".hidden.js").write_text("// hidden\n")
        (web / "notype.xyz").write_text("no type\n")
        (web / "big.js").write_bytes(b"/" * (3 * 1024 * 1024))
        (web / "empty.txt").write_bytes(b"")
        return web

    def login(self, name: str) -> str:
        r = request(self.srv.port, self.ctx, "POST", "/api/v1/login",
                    json.dumps({"name": name, "password": PASSWORD}).encode(),
                    {"Content-Type": "application/json"})
        assert r.status == 200, r.text
        return json.loads(r.body)["token"]

    def api(self, method: str, path: str, body=None, token: str | None = None):
        h = {"Authorization": f"Bearer {token or self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        r = request(self.srv.port, self.ctx, method, path, data, h)
        try:
            doc = json.loads(r.body) if r.status == 200 else None
        except ValueError:
            doc = None
        return r.status, doc, r.text

    def get(self, path: str):
        st, doc, text = self.api("GET", path)
        assert st == 200, f"GET {path}: {st} {text}"
        return doc

    def checkin(self, serial: str, facts: dict):
        c = self.fl.client(self.srv, self.devs[serial])
        try:
            r = c.request("POST", "/api/v1/device/checkin", json.dumps(facts).encode(),
                          {"Content-Type": "application/json"})
        finally:
            c.close()
        assert r.status == 200, f"check-in of {serial}: {r.status} {r.text}"
        return json.loads(r.body)

    def report(self, serial: str, stages, image) -> int:
        reps = []
        for stage, reason in stages:
            self.seq[serial] = self.seq.get(serial, 0) + 1
            reps.append({"seq": self.seq[serial], "stage": stage, "target": image.name,
                         "version": image.version, "reason": reason, "time": int(time.time())})
        c = self.fl.client(self.srv, self.devs[serial])
        try:
            r = c.request("POST", "/api/v1/device/report", json.dumps({"reports": reps}).encode(),
                          {"Content-Type": "application/json"})
        finally:
            c.close()
        return r.status

    def spki(self) -> str:
        """base64 SHA-256 of ward-server's certificate's SubjectPublicKeyInfo (Chromium's pin)."""
        cert = x509.load_pem_x509_certificate((self.fl.dir / "ca" / "server.pem").read_bytes())
        der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def devices(self, **params) -> list[str]:
        from urllib.parse import urlencode
        params.setdefault("limit", 1000)
        doc = self.get("/api/v1/devices?" + urlencode(params))
        return [d["serial"] for d in doc["devices"]]


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    d = Dash(tmp_path_factory.mktemp("dashboard"))
    yield d
    d.fl.stop_all()


@pytest.fixture(scope="module")
def shots():
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("failure-*.png"):  # a previous run's
        old.unlink()
    return SHOTS


def play(npm_js: Path, dash: Dash, chromium: str, shots: Path, scenario: str, **extra) -> dict:
    """Run one dashboard.mjs scenario; return what the page showed."""
    cfg = {"url": dash.url, "spki": dash.spki(), "user": "alice", "password": PASSWORD,
           "scenario": scenario, "shots": str(shots), "chromium": chromium, **extra}
    p = subprocess.run(["node", str(npm_js / "dashboard.mjs"), json.dumps(cfg)], cwd=npm_js,
                       capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    lines = p.stdout.strip().splitlines()
    try:
        out = json.loads(lines[-1])
    except (IndexError, ValueError):
        pytest.fail(f"dashboard.mjs {scenario}: no result (exit {p.returncode})\n{p.stdout}\n{p.stderr}",
                    pytrace=False)
    assert out["ok"], (f"dashboard.mjs {scenario}: {out.get('error')}\npage: {out.get('page', '')[:1500]}\n"
                       f"problems: {out.get('problems')}\n{p.stderr[-2000:]}")
    # an API refusal the scenario asked for is logged by Chromium as a failed load; anything
    # else (a script error, a CSP violation) is a defect
    problems = [x for x in out["problems"] if "Failed to load resource" not in x]
    assert not problems, problems
    for f in out["shots"]:
        assert Path(f).stat().st_size > 5000, f
    return out


# ---- browser scenarios ----------------------------------------------------------------


def test_login_fleet_filters_and_paging(dash, npm_js, chromium, shots):
    out = play(npm_js, dash, chromium, shots, "login", filter_model="cam-1", filter_q="mo-1",
               filter_status="revoked", filter_tag="lab")
    # the wrong password: the server's refusal on the page, no token kept
    r = request(dash.srv.port, dash.ctx, "POST", "/api/v1/login",
                json.dumps({"name": "alice", "password": "not the password at all"}).encode(),
                {"Content-Type": "application/json"})
    assert r.status == 401
    assert out["error"] == "Sign-in refused: " + r.text.strip(), out["error"]
    assert out["token_after_failure"] is None
    # the right one: the whole fleet, as the API lists it
    everyone = dash.devices()
    assert len(everyone) == len(THERMO) + len(CAMS)
    assert out["who"] == "alice"
    assert out["count"] == len(everyone) and out["serials"] == everyone
    assert out["token_kept"] and out["local_storage"] == 0  # sessionStorage only
    row = out["rows"][everyone.index("thermo-05")]
    assert row[0] == "thermo-05" and row[1] == "thermo-2" and row[2] == "active", row
    # filters: what the API answers for the same question, and what the fleet is
    assert out["by_model"] == dash.devices(model="cam-1") == CAMS
    assert out["by_q"] == dash.devices(q="mo-1") == [s for s in THERMO if "mo-1" in s]
    assert out["by_status"] == dash.devices(status="revoked") == ["cam-07"]
    assert out["by_tag"] == dash.devices(tag="lab") == ["thermo-03", "thermo-04"]
    # paging, 25 a page: the API's first page, then the rest, then back
    assert out["page1"] == everyone[:25]
    assert out["next_enabled"]
    assert out["page2"] == everyone[25:]
    assert out["page1_again"] == everyone[:25]


def why(reason: dict) -> str:
    """A risk reason's text: "why" in docs/api.md, "text" in `ward fleet risk --json`."""
    return reason["why"] if "why" in reason else reason["text"]


def test_risk_heat_map(dash, npm_js, chromium, shots):
    out = play(npm_js, dash, chromium, shots, "risk")
    risk = dash.get("/api/v1/fleet/risk")["devices"]
    cli = json.loads(dash.fl.ward("fleet", "risk", "-c", dash.fl.conf, "--json").stdout)
    assert [d["serial"] for d in risk] == [d["serial"] for d in cli]
    assert len(out["cells"]) == out["count"] == len(risk) == len(THERMO) + len(CAMS)
    by_serial = {d["serial"]: d for d in risk}
    for c in out["cells"]:
        d = by_serial[c["serial"]]
        assert c["score"] == d["score"] and c["model"] == d["model"], c
        assert f"risk-{min(10, d['score'] // 10)}" in c["cls"].split(), c
        for reason in d["reasons"]:  # every reason on hover
            assert f"+{reason['points']} {why(reason)}" in c["title"], (c, reason)
    # grouped by model, each group riskiest first
    assert sorted(out["groups"]) == sorted({d["model"] for d in risk})
    for model in out["groups"]:
        scores = [c["score"] for c in out["cells"] if c["model"] == model]
        assert scores == sorted(scores, reverse=True), (model, scores)
    # the riskiest device, its reasons when its cell is clicked, and the sorted table
    assert out["top"] == risk[0]["serial"] == out["detail_serial"]
    assert out["detail"] == [f"+{x['points']} {why(x)}" for x in risk[0]["reasons"]]
    assert out["table"] == [d["serial"] for d in risk]


def test_audit_log(dash, npm_js, chromium, shots):
    out = play(npm_js, dash, chromium, shots, "audit", subject="thermo-02")
    first = dash.get("/api/v1/audit?limit=50")["records"]
    assert [(r["seq"], r["event"], r["subject"]) for r in out["rows"]] == [
        (r["seq"], r["event"], r["subject"]) for r in first]
    # the database says the same
    db = dash.fl.audit(0)[:50]
    assert [r["seq"] for r in out["rows"]] == [r["seq"] for r in db]
    assert [r["event"] for r in out["rows"]] == [r["event"] for r in db]
    page1 = dash.get("/api/v1/audit?limit=25")
    assert out["page1"] == [r["seq"] for r in page1["records"]]
    assert page1["next"] is not None
    page2 = dash.get(f"/api/v1/audit?limit=25&after={page1['next']}")
    assert out["page2"] == [r["seq"] for r in page2["records"]]
    assert out["by_subject"] and set(out["by_subject"]) == {"thermo-02"}
    assert len(out["by_subject"]) == len(dash.get("/api/v1/audit?subject=thermo-02")["records"])


def test_campaigns_start_pause_and_progress(dash, npm_js, chromium, shots):
    # a campaign made and started through the API, devices checking in and reporting
    st, c, text = dash.api("POST", "/api/v1/campaigns", {
        "name": "spring release", "image": dash.v2.name, "select": "model=thermo-2",
        "phases": [10, 50, 100], "max_failure": 50, "require_approval": False})
    assert st == 200, f"POST /api/v1/campaigns: {st} {text}"
    cid = c["id"]
    st, _, text = dash.api("POST", f"/api/v1/campaigns/{cid}/start")
    assert st == 200, text
    for s in THERMO:
        dash.checkin(s, {"hardware_id": HW, "firmware_version": "1.0.0",
                         "slots": {"A": {"state": "good", "version": "1.0.0"},
                                   "B": {"state": "good", "version": "1.0.0"}}, "booted_slot": "A"})
    doc = dash.get(f"/api/v1/campaigns/{cid}")
    offered = [d["serial"] for d in doc["devices"] if d["state"] not in ("pending", "awaiting-approval")]
    for i, s in enumerate(offered):
        stages = [("downloading", "")] if i % 3 == 0 else (
            [("downloading", ""), ("failed", "disk full")] if i % 3 == 1 else
            [("downloading", ""), ("installed", ""), ("booted", ""), ("healthy", "")])
        assert dash.report(s, stages, dash.v2) == 200

    # a campaign made with the form (a refused one first), started from the page
    bad = {"image": dash.v1.name, "select": "model=cam-1", "phases": [50, 10], "max_failure": 10,
           "require_approval": False, "name": "cameras"}
    st, _, refusal = dash.api("POST", "/api/v1/campaigns", bad)
    assert st == 400, (st, refusal)
    before = [x["id"] for x in dash.get("/api/v1/campaigns")["campaigns"]]
    made = play(npm_js, dash, chromium, shots, "campaign_create", name="cameras", image=dash.v1.name,
                select="model=cam-1", max_failure=10, bad_phases="50, 10", phases="50, 100")
    assert refusal.strip() in made["create_error"], (refusal, made["create_error"])
    assert sorted(made["images"]) == sorted(i["name"] for i in dash.get("/api/v1/images")["images"])
    new = made["id"]
    assert new not in before
    api = dash.get(f"/api/v1/campaigns/{new}")
    assert (api["name"], api["image"], api["select"], [p["percent"] for p in api["phases"]],
            api["max_failure"]) == ("cameras", dash.v1.name, "model=cam-1", [50, 100], 10)
    assert made["created"]["state"] == "created"
    assert made["created"]["buttons"]["act-start"] and not made["created"]["buttons"]["act-resume"]
    assert made["after_start"]["state"] == api["state"] == "running"

    paused = play(npm_js, dash, chromium, shots, "campaign_pause", campaign=new, reason="checking a report")
    api = dash.get(f"/api/v1/campaigns/{new}")
    assert paused["before"]["state"] == "running"
    assert paused["after_pause"]["state"] == api["state"] == "paused"
    assert paused["after_pause"]["buttons"]["act-resume"] and not paused["after_pause"]["buttons"]["act-pause"]
    # the two actions are audited under alice's name
    recs = [r for r in dash.fl.audit(0) if r["subject"] == new]
    assert len(recs) >= 3, recs
    assert all((r["detail"] or {}).get("operator", "alice") == "alice" for r in recs), recs

    # an auditor: the page shows the server's refusal and the campaign stays paused
    denied = play(npm_js, dash, chromium, shots, "campaign_denied", campaign=new, auditor="olga")
    st, _, refusal = dash.api("POST", f"/api/v1/campaigns/{new}/resume", token=dash.login("olga"))
    assert st == 403, (st, refusal)
    assert refusal.strip() in denied["error"] and "403" in denied["error"], denied["error"]
    assert denied["after"]["state"] == dash.get(f"/api/v1/campaigns/{new}")["state"] == "paused"

    # the list and the API-made campaign's progress by phase
    out = play(npm_js, dash, chromium, shots, "campaigns", campaign=cid)
    listing = dash.get("/api/v1/campaigns")["campaigns"]
    assert [(x["id"], x["state"]) for x in out["list"]] == [(x["id"], x["state"]) for x in listing]
    doc = dash.get(f"/api/v1/campaigns/{cid}")
    shown = out["detail"]
    assert shown["state"] == doc["state"]
    assert (shown["reason"] or "") == doc["reason"]
    assert [p["devices"] for p in shown["phases"]] == [p["devices"] for p in doc["phases"]]
    assert [p["counts"] for p in shown["phases"]] == [
        {k: v for k, v in p["counts"].items() if v} for p in doc["phases"]]
    assert [p["segments"] for p in shown["phases"]] == [
        len([v for v in p["counts"].values() if v]) for p in doc["phases"]]
    assert sum(sum(p["counts"].values()) for p in shown["phases"]) > 0
    assert [(d["serial"], d["state"]) for d in shown["devices"]] == [
        (d["serial"], d["state"]) for d in doc["devices"]]


def test_device_detail(dash, npm_js, chromium, shots):
    serial = "thermo-01"
    out = play(npm_js, dash, chromium, shots, "device", serial=serial, missing_serial="no-such-device")
    d = dash.get(f"/api/v1/devices/{serial}")
    assert out["hash"] == f"#/device/{serial}"
    assert out["serial"] == d["serial"] == serial
    facts = d["facts"]
    assert out["firmware"] == d["firmware_version"] == facts["firmware_version"]
    assert out["booted"] == facts["booted_slot"] == "A"
    assert [(s["slot"], s["state"], s["version"], s["booted"]) for s in out["slots"]] == [
        (k, facts["slots"][k]["state"], facts["slots"][k]["version"] or "—", k == "A") for k in "AB"]
    props = out["props"]
    assert props["Model"] == d["model"] == "thermo-2"
    assert props["Batch"] == d["batch"]
    assert props["Certificate serial"] == d["cert_serial"] == dash.devs[serial].cert_serial
    assert props["Status"] == "active"
    assert props["Certificate expires"].startswith(
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(d["cert_not_after"])))
    # the stage reports, newest first (the fixture's three are the oldest), the campaigns it
    # is in, and the device's audit records
    assert dash.report_status == 200
    assert [h[1] for h in out["history"]] == [h["stage"] for h in d["history"]]
    assert [h["stage"] for h in d["history"]][-3:] == ["healthy", "installed", "downloading"]
    assert [h[3] for h in out["history"]] == [h["version"] for h in d["history"]]
    assert [(c[0], c[1], c[3]) for c in out["campaigns"]] == [
        (c["name"] or c["id"], c["state"], c["device_state"]) for c in d["campaigns"]]
    assert d["campaigns"], "thermo-01 is in the test's campaign"
    assert [a[0] for a in out["audit"]] == [str(a["seq"]) for a in d["audit"]]
    assert any(a[2] == "device-enroll" or "enrol" in a[2] for a in out["audit"]), out["audit"]
    # an unknown serial: the API's 404 reason on the page
    st, _, text = dash.api("GET", "/api/v1/devices/no-such-device")
    assert st == 404
    assert text.strip() in out["missing_error"] and "404" in out["missing_error"]


def test_logout_and_api_without_token(dash, npm_js, chromium, shots):
    out = play(npm_js, dash, chromium, shots, "logout")
    assert out["shown_before"] == len(THERMO) + len(CAMS)
    assert out["login_message"] == "You have signed out."
    assert out["token"] is None and out["view_children"] == 0
    assert out["api_no_token"]["status"] == 401 and "Bearer" in out["api_no_token"]["text"]
    assert out["api_bad_token"] == 401
    assert out["after_nav"] == {"login": True, "view": False}
    assert out["stale_message"].startswith("Your session has ended"), out["stale_message"]
    assert out["stale_token"] is None


# ---- hostile requests (no browser) ---------------------------------------------------------


def get(dash: Dash, path: str, method: str = "GET", body: bytes | None = None, headers=None):
    return request(dash.srv.port, dash.ctx, method, path, body, headers)


def assert_security_headers(r, what):
    for k, v in SECURITY_HEADERS.items():
        assert r.headers.get(k) == v, (what, k, r.headers)
    assert "max-age=" in r.headers.get("strict-transport-security", ""), (what, r.headers)
    assert r.headers.get("cache-control") in ("no-store", "no-cache"), (what, r.headers)


def test_static_files_and_headers(dash):
    web = REPO_ROOT / "web"
    for path, ctype, src in [("/", "text/html; charset=utf-8", "index.html"),
                             ("/index.html", "text/html; charset=utf-8", "index.html"),
                             ("/app.js", "text/javascript; charset=utf-8", "app.js"),
                             ("/style.css", "text/css; charset=utf-8", "style.css"),
                             ("/sub/inner.js", "text/javascript; charset=utf-8", None),
                             ("/empty.txt", "text/plain; charset=utf-8", None),
                             ("/app.js?v=1", "text/javascript; charset=utf-8", "app.js")]:
        r = get(dash, path)
        assert r.status == 200, (path, r.status, r.text)
        assert r.headers["content-type"] == ctype, (path, r.headers)
        assert_security_headers(r, path)
        if src:
            assert r.body == (web / src).read_bytes(), path
    r = get(dash, "/", "HEAD")
    assert r.status == 200 and r.body == b""
    assert_security_headers(r, "HEAD /")
    # no inline script or style anywhere in the page (the CSP would refuse them)
    html = (web / "index.html").read_text()
    assert "<style" not in html and " style=" not in html and "javascript:" not in html
    assert html.count("<script") == 1 and '<script src="app.js"' in html
    js = (web / "app.js").read_text()
    for bad in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                "new Function", "setAttribute('style'"):
        assert bad not in js, bad
    for f in ("index.html", "app.js", "style.css"):
        text = (web / f).read_text()
        assert "http://" not in text and "https://" not in text, f  # nothing from elsewhere


HOSTILE_GET = [
    "/../ward.conf", "/../../ward.conf", "/%2e%2e/ward.conf", "/%2E%2E/ward.conf", "/.%2e/ward.conf",
    "/%2e%2e%2fward.conf", "/..%2fward.conf", "/..%2Fward.conf", "/sub/..%2f..%2fward.conf",
    "/%2e%2e%2f%2e%2e%2fsecret.txt", "/..%5cward.conf", "/%5c..%5cward.conf", "/sub%5cinner.js",
    "/app.js%00.html", "/%00", "//etc/passwd", "/%2fetc%2fpasswd", "/.hidden.js", "/./index.html",
    "/sub/", "/sub", "/sub//inner.js", "/index.html/", "/link.js", "/linkdir/secret.js", "/linkdir",
    "/big.js", "/notype.xyz", "/nonexistent.html", "/%", "/%zz", "/index.html%2f",
    "/sub/./inner.js", "/sub/../index.html", "/..", "/.", "/~root", "/ward.conf",
]


def test_hostile_paths(dash):
    for path in HOSTILE_GET:
        r = get(dash, path)
        assert r.status in (400, 404), (path, r.status, r.text[:200])
        assert b"SECRET" not in r.body and b"[database]" not in r.body and b"root:" not in r.body, path
        if r.status == 404:
            assert_security_headers(r, path)
    # a huge path: refused before any file system call (or by the transport)
    for n in (1100, 7000, 20000):
        r = get(dash, "/" + "a" * n + ".js")
        assert r.status is None or 400 <= r.status < 500, (n, r.status)
    # methods: GET and HEAD only
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        for path in ("/", "/app.js", "/../ward.conf"):
            r = get(dash, path, method, b"x" if method in ("POST", "PUT", "PATCH") else None,
                    {"Content-Type": "text/plain"})
            assert r.status == 405, (method, path, r.status)
            assert r.headers.get("allow") == "GET, HEAD", (method, path, r.headers)
            assert_security_headers(r, f"{method} {path}")
    # the API, EST and the repository are not the dashboard's
    r = get(dash, "/api/v1/devices")
    assert r.status == 401 and "content-security-policy" not in r.headers
    assert get(dash, "/api/v1/nope").status in (401, 404)
    assert get(dash, "/repo/metadata/1.root.json").status == 200
    # the server is fine afterwards
    assert get(dash, "/").status == 200
    assert dash.srv.running() and not dash.srv.worker_deaths(), dash.srv.log()
    assert "big.js" in dash.srv.log()  # the oversized file was noted


def test_default_root_next_to_the_executable(dash, tmp_path, monkeypatch):
    """No [web] root: share/ward/web, else <exe dir>/../../web only in a source tree (a meson.build
    next to it); a clear 404 without."""
    tree = tmp_path / "tree"
    (tree / "build" / "server").mkdir(parents=True)
    exe = tree / "build" / "server" / "ward-server"
    shutil.copy2(WARD_SERVER, exe)
    # the deployment's ward.conf without [web] (next to it: its relative paths stay right)
    conf = dash.fl.dir / "noweb.conf"
    lines = [line for line in dash.fl.conf.read_text().splitlines()
             if not line.startswith("root = " + str(dash.web)) and line.strip() != "[web]"]
    assert len(lines) == len(dash.fl.conf.read_text().splitlines()) - 2
    conf.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(fleetmod, "WARD_SERVER", exe)
    srv = fleetmod.Server(conf, 1, tmp_path / "default.log")
    try:
        r = request(srv.port, dash.ctx, "GET", "/")
        assert r.status == 404 and "[web] root" in r.text, (r.status, r.text)
        assert_security_headers(r, "no root")
        (tree / "web").mkdir()
        (tree / "web" / "index.html").write_text("<!doctype html><title>tree</title>\n")
        # a ../../web that is not in a source tree is not served (an installed binary in
        # /usr/bin would otherwise serve whatever sits at /web)
        r = request(srv.port, dash.ctx, "GET", "/")
        assert r.status == 404, (r.status, r.text)
        (tree / "meson.build").write_text("project('ward')\n")
        r = request(srv.port, dash.ctx, "GET", "/")
        assert r.status == 200 and b"<title>tree</title>" in r.body, (r.status, r.text)
    finally:
        srv.stop()
