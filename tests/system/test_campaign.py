"""test_campaign — phased update campaigns, end to end through ward-server.

Devices here are simulated in Python (they enrol over EST, speak mutual TLS,
read their director metadata and send stage reports exactly as wardd does;
test_update_reports.py and the demo do the same with the real wardd), so
one test can hold twenty devices and decide which of them fail. Operators
use the real API (bearer tokens) and the real `ward campaign` CLI. The
campaign engine runs inside ward-server every second; tests poll with a
deadline, never sleep a fixed time to assert.

Covered, on SQLite and PostgreSQL: phases advance only when their devices
report healthy, in the sizes the percentages say; a phase whose failures
pass the threshold pauses the campaign, withdraws offers not yet taken and
the failed device's own offer; resume acknowledges the failures seen and
goes on; critical devices wait for an operator's approval; require_approval
gates each phase; state survives kill -9 of ward-server, and two servers on
one PostgreSQL run the same campaign; every step is audited and the chain
verifies. Hostile input: report bodies (malformed, oversized, unknown stage,
out-of-order and replayed seq, unknown fields, no client certificate) and
campaign requests (bad phases, selectors, percentages, ids, methods, roles,
overlapping campaigns, an image the repository does not list).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from device import Release, image_bytes, KiB  # noqa: E402
from fleet import Fleet, Conn, request, tls_context  # noqa: E402
from pg import pg_server  # noqa: E402,F401

PASSWORD = "correct horse battery staple"
MODEL = "thermo-3"


def wait_for(what, fn, timeout=20.0, every=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = fn()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}: last value {last!r}")


class SimDevice:
    """One device: its identity, a keep-alive mutual-TLS connection, its report counter."""

    def __init__(self, world: "World", serial: str):
        self.world = world
        self.serial = serial
        self.ident = world.fleet.enroll(world.server, world.batch, serial)
        self.seq = 0
        self.conn: Conn | None = None

    def call(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = self.world.fleet.client(self.world.server, self.ident)
            try:
                r = self.conn.request(method, path, body, headers or {})
                if r.status is not None:
                    return r
            except OSError:
                pass
            self.conn.close()
            self.conn = None
        raise AssertionError(f"{self.serial}: {method} {path} failed twice")

    def offered(self) -> str | None:
        """The image the director names for this device now (or None)."""
        r = self.call("GET", "/api/v1/device/director/targets.json")
        assert r.status == 200, r.text
        targets = json.loads(r.body)["signed"]["targets"]
        assert len(targets) <= 1, targets
        return next(iter(targets), None)

    def report(self, stage: str, target: str, version: str = "2.0.0", reason: str = "", seq=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        body = {"reports": [{"seq": seq, "stage": stage, "target": target, "version": version,
                             "reason": reason, "time": int(time.time())}]}
        r = self.call("POST", "/api/v1/device/report", json.dumps(body).encode(),
                      {"Content-Type": "application/json"})
        assert r.status == 200, (r.status, r.text)
        return json.loads(r.body)

    def update_ok(self, target: str):
        for st in ("downloading", "installed", "booted", "healthy"):
            self.report(st, target)


class World:
    """A deployment with an image repository, ward-server, operators and N devices."""

    def __init__(self, tmp: Path, fleet: Fleet, n: int, workers: int = 2):
        self.release = Release(tmp / "maker")
        self.v2 = self.release.add("2.0.0", image_bytes("v2", 64 * KiB))
        self.fleet = fleet
        os.symlink(self.release.repo / "repo", self.fleet.dir / "repo")
        self.server = self.fleet.start(workers=workers)
        self.batch = self.fleet.batch(model=MODEL, count=max(n, 1))
        self.tokens = {}
        for role in ("admin", "release-manager", "operator", "auditor"):
            name = role.replace("-", "")
            pw = tmp / f"pw-{name}"
            pw.write_text(PASSWORD + "\n")
            self.fleet.ward("operator", "add", name, "--role", role, "--password-file", pw, "-c",
                            self.fleet.conf)
            r = self.api("POST", "/api/v1/login", {"name": name, "password": PASSWORD}, token=None)
            assert r.status == 200, r.text
            self.tokens[role] = json.loads(r.body)["token"]
        self.devices = [SimDevice(self, f"d-{i:03d}") for i in range(n)]

    def api(self, method, path, body=None, token="admin", raw=None, server=None):
        h = {}
        if token is not None:
            h["Authorization"] = "Bearer " + (self.tokens.get(token, token))
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        srv = server or self.server
        return request(srv.port, tls_context(self.fleet.root), method, path, data, h)

    def create(self, token="admin", **kw):
        body = {"image": self.v2.name, "select": f"model={MODEL}", "phases": [10, 50, 100],
                "max_failure": 20}
        body.update(kw)
        r = self.api("POST", "/api/v1/campaigns", body, token=token)
        assert r.status == 200, (r.status, r.text)
        return json.loads(r.body)

    def act(self, cid, action, token="admin", body=None, status=200):
        r = self.api("POST", f"/api/v1/campaigns/{cid}/{action}", body if body is not None else {},
                     token=token)
        assert r.status == status, (r.status, r.text)
        return json.loads(r.body) if status == 200 else r.text

    def show(self, cid):
        r = self.api("GET", f"/api/v1/campaigns/{cid}")
        assert r.status == 200, r.text
        return json.loads(r.body)

    def states(self, cid) -> dict[str, str]:
        return {d["serial"]: d["state"] for d in self.show(cid)["devices"]}

    def by(self, serial) -> SimDevice:
        return next(d for d in self.devices if d.serial == serial)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def make_world(backend, request, tmp_path):
    made, dbs = [], []
    pg = request.getfixturevalue("pg_server") if backend == "postgresql" else None

    def make(n: int, workers: int = 2) -> World:
        if pg is None:
            fl = Fleet(tmp_path / "fleet")
        else:
            db = "ward_" + secrets.token_hex(6)
            pg.psql(f"CREATE DATABASE {db}", dbname="postgres")
            dbs.append(db)
            fl = Fleet(tmp_path / "fleet", "postgresql", pg.uri_for(db), pg, db)
        made.append(fl)
        return World(tmp_path, fl, n, workers)

    yield make
    deaths = []
    for fl in made:
        fl.stop_all()
        for s in fl.servers:
            deaths += s.worker_deaths()
    for db in dbs:
        pg.psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", dbname="postgres")
    assert not deaths, deaths


def offered_set(w: World) -> set[str]:
    return {d.serial for d in w.devices if d.offered() == w.v2.name}


def test_phases_advance_when_devices_are_healthy(make_world):
    w = make_world(20)
    c = w.create(name="spring release")
    assert c["state"] == "created" and c["version"] == "2.0.0" and c["phases"][0]["devices"] == 0
    assert offered_set(w) == set()  # created: nothing offered yet
    c = w.act(c["id"], "start")
    cid = c["id"]
    assert c["state"] == "running" and c["phase"] == 0
    assert [p["devices"] for p in c["phases"]] == [2, 8, 10]  # ceil(10%, 50%, 100% of 20)
    first = {d["serial"] for d in c["devices"] if d["phase"] == 0}
    assert offered_set(w) == first
    # phase 1 is not done until both devices are healthy
    a, b = sorted(first)
    w.by(a).update_ok(w.v2.name)
    w.by(b).report("downloading", w.v2.name)
    time.sleep(1.5)
    assert w.show(cid)["phase"] == 0
    w.by(b).report("installed", w.v2.name)
    w.by(b).report("healthy", w.v2.name)
    c = wait_for("phase 2", lambda: (x := w.show(cid))["phase"] == 1 and x)
    second = {d["serial"] for d in c["devices"] if d["phase"] == 1}
    assert len(second) == 8
    assert wait_for("phase 2 offered", lambda: offered_set(w) == first | second)
    for s in second:
        w.by(s).update_ok(w.v2.name)
    c = wait_for("phase 3", lambda: (x := w.show(cid))["phase"] == 2 and x)
    assert c["phases"][1]["counts"] == {"healthy": 8}
    rest = {d["serial"] for d in c["devices"] if d["phase"] == 2}
    for s in rest:
        w.by(s).update_ok(w.v2.name)
    c = wait_for("finished", lambda: (x := w.show(cid))["state"] == "finished" and x)
    assert sum(p["counts"].get("healthy", 0) for p in c["phases"]) == 20
    events = [r["event"] for r in w.fleet.audit() if r["subject"] == cid]
    assert events == ["campaign-create", "campaign-start", "campaign-phase", "campaign-phase",
                      "campaign-finish"], events
    w.fleet.audit_verify()
    # the device API's history: every report stored once, in order
    rows = w.fleet.sql(f"SELECT stage FROM device_reports WHERE serial = '{a}' ORDER BY seq")
    assert [r[0] for r in rows] == ["downloading", "installed", "booted", "healthy"]


def test_failures_pause_the_campaign_and_withdraw_offers(make_world):
    w = make_world(10)
    c = w.create(phases=[20, 100], max_failure=10)
    cid = w.act(c["id"], "start")["id"]
    first = sorted(d["serial"] for d in w.show(cid)["devices"] if d["phase"] == 0)
    assert len(first) == 2 and offered_set(w) == set(first)
    bad, idle = w.by(first[0]), w.by(first[1])
    bad.report("downloading", w.v2.name)
    bad.report("installed", w.v2.name)
    bad.report("rolled-back", w.v2.name, reason="health check failed: exit 1")
    c = wait_for("auto-pause", lambda: (x := w.show(cid))["state"] == "paused" and x)
    assert "1 of 2 devices of phase 1 failed" in c["reason"] and "10.00% limit" in c["reason"], c["reason"]
    # the failed device and the one that had not started yet are offered nothing now
    assert offered_set(w) == set()
    st = w.states(cid)
    assert st[bad.serial] == "rolled-back" and st[idle.serial] == "pending"
    fails = [r for r in w.fleet.audit() if r["event"] == "device-update-failed"]
    assert fails and fails[-1]["subject"] == bad.serial
    assert fails[-1]["detail"]["reason"] == "health check failed: exit 1"
    pauses = [r for r in w.fleet.audit() if r["event"] == "campaign-pause"]
    assert pauses and pauses[-1]["detail"]["by"] == "ward-server"
    # the operator may pause/resume (operators may pause; resume is for release managers)
    assert "may not resume" in w.act(cid, "resume", token="operator", status=403)
    c = w.act(cid, "resume", token="release-manager", body={"reason": "bad unit replaced"})
    assert c["state"] == "running" and "bad unit replaced" in c["reason"]
    assert wait_for("re-offered", lambda: offered_set(w) == {idle.serial})
    idle.update_ok(w.v2.name)
    c = wait_for("phase 2", lambda: (x := w.show(cid))["phase"] == 1 and x)
    # a new failure in phase 2 beyond the threshold pauses again
    p2 = sorted(d["serial"] for d in c["devices"] if d["phase"] == 1)
    wait_for("phase 2 offered", lambda: offered_set(w) == set(p2) | {idle.serial})
    w.by(p2[0]).report("failed", w.v2.name, reason="no space left on slot B")
    w.by(p2[1]).report("failed", w.v2.name, reason="no space left on slot B")
    c = wait_for("second pause", lambda: (x := w.show(cid))["state"] == "paused" and x)
    assert "2 of 8 devices of phase 2" in c["reason"], c["reason"]
    c = w.act(cid, "cancel", body={"reason": "give up"})
    assert c["state"] == "cancelled"
    assert offered_set(w) == {idle.serial}  # the healthy device keeps what it runs
    st = w.states(cid)
    assert st[p2[0]] == "failed" and st[idle.serial] == "healthy"
    assert sum(1 for v in st.values() if v == "cancelled") == 6
    w.fleet.audit_verify()


def test_critical_devices_wait_for_an_operator(make_world):
    w = make_world(4)
    crit = w.devices[0].serial
    w.fleet.sql(f"UPDATE devices SET critical = 1 WHERE serial = '{crit}'")
    c = w.create(phases=[100], max_failure=0)
    cid = w.act(c["id"], "start")["id"]
    st = w.states(cid)
    assert st[crit] == "awaiting-approval"
    assert sorted(k for k, v in st.items() if v == "offered") == sorted(d.serial for d in w.devices[1:])
    assert w.devices[0].offered() is None
    for d in w.devices[1:]:
        d.update_ok(w.v2.name)
    c = wait_for("waiting", lambda: "wait for an operator's approval" in (x := w.show(cid))["reason"] and x)
    assert c["state"] == "running"
    # an auditor may not approve; an operator may
    r = w.api("POST", f"/api/v1/campaigns/{cid}/approve", {"devices": [crit]}, token="auditor")
    assert r.status == 403
    r = w.api("POST", f"/api/v1/campaigns/{cid}/approve", {"devices": ["d-001"]}, token="operator")
    assert r.status == 404 and "not a critical device waiting" in r.text
    c = w.act(cid, "approve", token="operator", body={"devices": [crit]})
    dev = next(d for d in c["devices"] if d["serial"] == crit)
    assert dev["approved_by"] == "operator" and dev["state"] == "offered"
    assert w.devices[0].offered() == w.v2.name
    w.devices[0].update_ok(w.v2.name)
    wait_for("finished", lambda: w.show(cid)["state"] == "finished")
    appr = [r for r in w.fleet.audit() if r["event"] == "campaign-approve"]
    assert appr[-1]["detail"]["devices"] == [crit] and appr[-1]["detail"]["by"] == "operator"


def test_require_approval_gates_each_phase(make_world):
    w = make_world(4)
    c = w.create(phases=[25, 100], max_failure=0, require_approval=True)
    cid = w.act(c["id"], "start")["id"]
    first = [d["serial"] for d in w.show(cid)["devices"] if d["phase"] == 0]
    assert len(first) == 1
    w.by(first[0]).update_ok(w.v2.name)
    c = wait_for("gate", lambda: "phase 2 waits for an operator's approval" in (x := w.show(cid))["reason"] and x)
    assert c["phase"] == 0 and len(offered_set(w)) == 1
    r = w.api("POST", f"/api/v1/campaigns/{cid}/approve", {"phase": "yes"})
    assert r.status == 400
    c = w.act(cid, "approve", body={"phase": True})
    assert c["phase"] == 1 and c["phase_approved"] == 1
    assert len(offered_set(w)) == 4


def test_state_survives_a_killed_server(make_world):
    w = make_world(6)
    c = w.create(phases=[50, 100], max_failure=50)
    cid = w.act(c["id"], "start")["id"]
    first = [d["serial"] for d in w.show(cid)["devices"] if d["phase"] == 0]
    w.server.kill9()
    for d in w.devices:
        d.conn = None
    w.server = w.fleet.start(workers=2, name="restarted")
    for s in first:
        w.by(s).update_ok(w.v2.name)
    c = wait_for("phase 2 after restart", lambda: (x := w.show(cid))["phase"] == 1 and x)
    for d in c["devices"]:
        if d["phase"] == 1:
            w.by(d["serial"]).update_ok(w.v2.name)
    wait_for("finished", lambda: w.show(cid)["state"] == "finished")
    w.fleet.audit_verify()


def test_two_servers_share_one_campaign(make_world, backend):
    if backend != "postgresql":
        pytest.skip("two ward-server instances share one database only on PostgreSQL (by design)")
    w = make_world(8)
    other = w.fleet.start(workers=2, name="second")
    c = w.create(phases=[50, 100], max_failure=0)
    r = w.api("POST", f"/api/v1/campaigns/{c['id']}/start", {}, server=other)
    assert r.status == 200, r.text
    cid = c["id"]
    # half the devices talk to each server
    for i, d in enumerate(w.devices):
        if i % 2:
            d.world = type("W", (), {"fleet": w.fleet, "server": other})()
            d.conn = None
    for _ in range(2):
        c = w.show(cid)
        for d in c["devices"]:
            if d["phase"] == c["phase"] and d["state"] == "offered":
                w.by(d["serial"]).update_ok(w.v2.name)
        time.sleep(0.1)
        wait_for("progress", lambda: w.show(cid)["phase"] == 1 or w.show(cid)["state"] == "finished")
    for d in w.show(cid)["devices"]:
        if d["state"] != "healthy":
            w.by(d["serial"]).update_ok(w.v2.name)
    wait_for("finished", lambda: w.show(cid)["state"] == "finished")
    events = [r["event"] for r in w.fleet.audit() if r["subject"] == cid]
    assert events.count("campaign-phase") == 1 and events.count("campaign-finish") == 1, events
    w.fleet.audit_verify()


# ---- hostile input -------------------------------------------------------------


def test_report_endpoint_refuses_bad_input(make_world):
    w = make_world(1)
    d = w.devices[0]
    c = w.create(phases=[100], max_failure=0)
    cid = w.act(c["id"], "start")["id"]

    def post(body, ctype="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return d.call("POST", "/api/v1/device/report", raw, {"Content-Type": ctype})

    good = {"seq": 1, "stage": "downloading", "target": w.v2.name, "version": "2.0.0"}
    cases = [
        (b"{", 400, "invalid JSON"),
        (b"[]", 400, "reports"),
        ({"reports": {}}, 400, "reports"),
        ({"reports": [good], "extra": 1}, 400, "reports"),
        ({"reports": [dict(good, stage="pwned")]}, 400, "unknown stage"),
        ({"reports": [dict(good, seq=0)]}, 400, "seq"),
        ({"reports": [dict(good, seq="1")]}, 400, "seq"),
        ({"reports": [dict(good, seq=2), dict(good, seq=2)]}, 400, "increasing"),
        ({"reports": [dict(good, target="")]}, 400, "target"),
        ({"reports": [dict(good, reason="x" * 201)]}, 400, "reason"),
        ({"reports": [dict(good, version=7)]}, 400, "version"),
        ({"reports": [dict(good, evil=True)]}, 400, "unknown field"),
        ({"reports": [dict(good, seq=i + 1) for i in range(33)]}, 400, "at most 32"),
        ({"reports": [dict(good, target="a\u0001b")]}, 400, "control"),
        (b"{" + b" " * 17000 + b"}", 413, "limited"),
    ]
    for body, status, needle in cases:
        r = post(body)
        assert r.status == status, (body[:80] if isinstance(body, bytes) else body, r.status, r.text)
        assert needle.lower() in r.text.lower(), (needle, r.text)
    assert w.fleet.scalar(f"SELECT COUNT(*) FROM device_reports WHERE serial = '{d.serial}'") == "0"
    # without a client certificate: 401; GET: 405
    r = request(w.server.port, tls_context(w.fleet.root), "POST", "/api/v1/device/report",
                json.dumps({"reports": [good]}).encode(), {"Content-Type": "application/json"})
    assert r.status == 401
    r = d.call("GET", "/api/v1/device/report")
    assert r.status == 405 and "POST" in r.headers.get("allow", "")
    # a replay is accepted (the device may have missed the reply) but changes nothing
    assert d.report("downloading", w.v2.name, seq=5) == {"accepted": 1, "last_seq": 5}
    assert d.report("failed", w.v2.name, seq=5, reason="replayed") == {"accepted": 0, "last_seq": 5}
    assert d.report("failed", w.v2.name, seq=3, reason="old") == {"accepted": 0, "last_seq": 5}
    assert w.states(cid)[d.serial] == "downloading"
    assert not [r for r in w.fleet.audit() if r["event"] == "device-update-failed"]
    assert w.server.running() and not w.server.worker_deaths()


def test_campaign_requests_refuse_bad_input(make_world):
    w = make_world(2)
    base = {"image": w.v2.name, "select": f"model={MODEL}", "phases": [50, 100], "max_failure": 5}
    bad = [
        (dict(base, phases=[]), 400, "phases"),
        (dict(base, phases=[50, 40, 100]), 400, "increasing"),
        (dict(base, phases=[10, 50]), 400, "100"),
        (dict(base, phases=[0, 100]), 400, "phases"),
        (dict(base, phases=list(range(1, 12)) + [100]), 400, "phases"),
        (dict(base, phases=[50.5, 100]), 400, "phases"),
        (dict(base, max_failure=101), 400, "max_failure"),
        (dict(base, max_failure=-1), 400, "max_failure"),
        (dict(base, max_failure=0.001), 400, "two decimals"),
        (dict(base, max_failure="5%"), 400, "max_failure"),
        (dict(base, select=""), 400, "selector"),
        (dict(base, select="color=red"), 400, "selector term"),
        (dict(base, select="all model=x"), 400, "all"),
        (dict(base, select="model=" + "m" * 600), 400, "select"),
        (dict(base, image=""), 400, "image"),
        (dict(base, image="../../ward.conf"), 404, "does not list"),
        (dict(base, image="nope.img"), 404, "does not list"),
        (dict(base, require_approval="yes"), 400, "require_approval"),
        (dict(base, owner="me"), 400, "unknown field"),
        (dict(base, name="n" * 200), 400, "name"),
    ]
    for body, status, needle in bad:
        r = w.api("POST", "/api/v1/campaigns", body)
        assert r.status == status, (body, r.status, r.text)
        assert needle.lower() in r.text.lower(), (needle, r.text)
    r = w.api("POST", "/api/v1/campaigns", raw=b"{not json", body=None)
    assert r.status in (400, 415)
    # roles: only admin and release-manager create
    for role, status in (("operator", 403), ("auditor", 403), ("release-manager", 200)):
        r = w.api("POST", "/api/v1/campaigns", base, token=role)
        assert r.status == status, (role, r.status, r.text)
    assert any(r["event"] == "api-denied" for r in w.fleet.audit())
    r = w.api("POST", "/api/v1/campaigns", base, token="garbage")
    assert r.status == 401
    # ids, methods, states
    cid = w.create(**{k: base[k] for k in ("phases", "max_failure")})["id"]
    for path, status in ((f"/api/v1/campaigns/{'0' * 16}", 404), ("/api/v1/campaigns/xyz", 404),
                         ("/api/v1/campaigns/" + "a" * 300, 404),
                         (f"/api/v1/campaigns/{cid}?devices=2", 400),
                         (f"/api/v1/campaigns/{cid}?evil=1", 400)):
        r = w.api("GET", path)
        assert r.status == status, (path, r.status, r.text)
    r = w.api("POST", f"/api/v1/campaigns/{cid}/explode", {})
    assert r.status == 404
    r = w.api("GET", f"/api/v1/campaigns/{cid}/start")
    assert r.status == 405
    assert "only a running campaign can pause" in w.act(cid, "pause", status=409)
    w.act(cid, "start")
    assert "only a created campaign can start" in w.act(cid, "start", status=409)
    # an overlapping campaign on the same devices is refused while this one runs
    other = w.create(phases=[100], max_failure=0)["id"]
    assert "still being updated by campaign" in w.act(other, "start", status=409)
    nobody = w.create(select="model=none", phases=[100], max_failure=0)["id"]
    assert "matches no active device" in w.act(nobody, "start", status=409)
    assert w.server.running() and not w.server.worker_deaths()


def test_cli_local_and_json(make_world, backend):
    if backend != "sqlite":
        pytest.skip("the CLI's local path is the same code on both backends; run once")
    w = make_world(3)
    p = w.fleet.ward("campaign", "create", "-c", w.fleet.conf, "--image", w.v2.name, "--select",
                     f"model={MODEL}", "--phases", "34%,100%", "--max-failure", "0.5%", "--json")
    c = json.loads(p.stdout)
    assert c["max_failure"] == 0.5 and [p["percent"] for p in c["phases"]] == [34, 100]
    assert c["created_by"].startswith("cli:")
    p = w.fleet.ward("campaign", "start", c["id"], "-c", w.fleet.conf)
    assert f"campaign {c['id']}" in p.stdout and "running, phase 1 of 2" in p.stdout, p.stdout
    p = w.fleet.ward("campaign", "list", "-c", w.fleet.conf)
    assert c["id"] in p.stdout and "running" in p.stdout
    api = w.show(c["id"])
    cli = json.loads(w.fleet.ward("campaign", "show", c["id"], "-c", w.fleet.conf, "--json").stdout)
    assert cli == api
    p = w.fleet.ward("campaign", "create", "-c", w.fleet.conf, "--image", w.v2.name, "--select",
                     f"model={MODEL}", "--phases", "50,40", "--max-failure", "5", ok=False)
    assert p.returncode == 2 and "increase" in p.stderr
    p = w.fleet.ward("campaign", "pause", c["id"], "-c", w.fleet.conf, "--reason", "lunch")
    assert "paused by cli:" in p.stdout and "lunch" in p.stdout
    p = w.fleet.ward("campaign", "wait", c["id"], "-c", w.fleet.conf, "--state", "paused",
                     "--timeout", "5s")
    assert "paused" in p.stdout


def test_cli_remote_matches_local(make_world, backend, tmp_path):
    """`ward login` then `ward --server URL campaign ...` goes through the API, acting as the
    logged-in operator, and prints the same document as the local form (-c)."""
    if backend != "sqlite":
        pytest.skip("the CLI's paths do not depend on the backend; run once")
    import subprocess
    from fleet import WARD
    w = make_world(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    pw = tmp_path / "pw-rm"
    pw.write_text(PASSWORD + "\n")

    def ward(*args, ok=True):
        p = subprocess.run([str(WARD), *map(str, args)], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)
        return p

    ward("login", "--server", w.server.url, "--ca", w.fleet.root, "--name", "releasemanager",
         "--password-file", pw)
    c = json.loads(ward("campaign", "create", "--image", w.v2.name, "--select", f"model={MODEL}",
                        "--phases", "50,100", "--max-failure", "0", "--json").stdout)
    assert c["created_by"] == "releasemanager" and c["state"] == "created"
    ward("--server", w.server.url, "--ca", w.fleet.root, "campaign", "start", c["id"])
    remote = ward("campaign", "show", c["id"]).stdout
    local = ward("campaign", "show", c["id"], "-c", w.fleet.conf).stdout
    assert remote == local and "running, phase 1 of 2" in remote
    assert json.loads(ward("campaign", "show", c["id"], "--json").stdout) == w.show(c["id"])
    # the API's roles hold for the CLI too: an auditor may not pause
    ward("logout")
    ward("login", "--server", w.server.url, "--ca", w.fleet.root, "--name", "auditor", "--password-file", pw)
    p = ward("campaign", "pause", c["id"], ok=False)
    assert "may not pause" in p.stderr, p.stderr
    assert w.show(c["id"])["state"] == "running"


def test_reports_move_only_offered_devices_and_stay_bounded(make_world, backend):
    """A device's reports move its campaign state only once the campaign offered it the image:
    a critical device still waiting for approval that claims "healthy", or a device of a later
    phase that reports a stale failure, changes nothing. A device repeating a failure does not
    fill the audit log, and each device's history is bounded (SRV_REPORTS_KEPT = 500)."""
    if backend != "sqlite":
        pytest.skip("the same SQL on both backends; the flood is slow on a durable PostgreSQL")
    w = make_world(6)
    crit = w.devices[0]
    w.fleet.sql(f"UPDATE devices SET critical = 1 WHERE serial = '{crit.serial}'")
    c = w.create(phases=[50, 100], max_failure=100)
    cid = w.act(c["id"], "start")["id"]
    st = w.states(cid)
    # the critical device waits for approval (phase 1) or for its phase (phase 2): never offered
    waiting = st[crit.serial]
    assert waiting in ("awaiting-approval", "pending"), st
    later = next(d for d in w.show(cid)["devices"] if d["phase"] == 1 and d["serial"] != crit.serial)
    crit.update_ok(w.v2.name)
    w.by(later["serial"]).report("failed", w.v2.name, reason="stale")
    time.sleep(1.5)
    st = w.states(cid)
    assert st[crit.serial] == waiting and st[later["serial"]] == "pending", st
    assert w.show(cid)["state"] == "running"
    # a flood of failures from one offered device: one audit record, bounded history
    first = next(d["serial"] for d in w.show(cid)["devices"] if d["phase"] == 0 and d["serial"] != crit.serial)
    dev = w.by(first)
    before = len([r for r in w.fleet.audit() if r["event"] == "device-update-failed"])
    for i in range(20):
        body = {"reports": [{"seq": dev.seq + 1 + 32 * i + k, "stage": "failed", "target": w.v2.name,
                             "version": "2.0.0", "reason": "x" * 200} for k in range(32)]}
        r = dev.call("POST", "/api/v1/device/report", json.dumps(body).encode(),
                     {"Content-Type": "application/json"})
        assert r.status == 200, r.text
    after = len([r for r in w.fleet.audit() if r["event"] == "device-update-failed"])
    assert after - before == 1, (before, after)
    kept = int(w.fleet.scalar(f"SELECT COUNT(*) FROM device_reports WHERE serial = '{first}'"))
    assert kept == 500, kept
    w.fleet.audit_verify()


def test_tag_filter_is_exact(make_world, backend):
    """Tags may hold '_': the listing's tag filter matches the tag, not a LIKE pattern."""
    if backend != "sqlite":
        pytest.skip("the same SQL on both backends")
    w = make_world(2)
    a, b = w.devices[0].serial, w.devices[1].serial
    for serial, tag in ((a, "lab_1"), (b, "labx1")):
        r = w.api("POST", f"/api/v1/devices/{serial}/labels", {"tags": [tag]}, token="operator")
        assert r.status == 200, r.text
    r = w.api("GET", "/api/v1/devices?tag=lab_1")
    assert r.status == 200, r.text
    assert [d["serial"] for d in json.loads(r.body)["devices"]] == [a]


def test_api_revoke_republishes_the_crl(make_world, backend):
    if backend != "sqlite":
        pytest.skip("the CRL does not depend on the backend")
    import subprocess
    w = make_world(1)
    d = w.devices[0]
    crl = w.fleet.dir / "ca" / "crl.der"
    r = w.api("POST", f"/api/v1/devices/{d.serial}/revoke", {}, token="operator")
    assert r.status == 200, r.text
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(crl), "-noout", "-text"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert d.ident.cert_serial.upper() in p.stdout.replace(":", "").upper()


def test_login_is_throttled_per_name(make_world, backend):
    """Ten failed logins for a name in ten minutes: the next login for it is refused with 429
    and Retry-After, without an audit record, even with the right password; other names log
    in as usual. The count comes from the audit log, so every server agrees."""
    if backend != "sqlite":
        pytest.skip("the same SQL on both backends")
    w = make_world(0)
    for _ in range(10):
        r = w.api("POST", "/api/v1/login", {"name": "operator", "password": "wrong password!!"}, token=None)
        assert r.status == 401, r.text
    fails = len([r for r in w.fleet.audit() if r["event"] == "operator-login-failed"])
    r = w.api("POST", "/api/v1/login", {"name": "operator", "password": PASSWORD}, token=None)
    assert r.status == 429 and r.headers.get("retry-after"), (r.status, r.text)
    assert len([r for r in w.fleet.audit() if r["event"] == "operator-login-failed"]) == fails
    r = w.api("POST", "/api/v1/login", {"name": "auditor", "password": PASSWORD}, token=None)
    assert r.status == 200, r.text


def test_cli_does_not_print_a_servers_escapes(make_world, backend, tmp_path):
    """A hostile server's strings reach the operator's terminal: control characters (e.g. an
    ESC sequence) are printed as '?' by `ward --server` (cli/remote.c)."""
    if backend != "sqlite":
        pytest.skip("no database involved")
    import http.server
    import ssl
    import subprocess
    import threading
    from fleet import WARD
    w = make_world(0)
    doc = {"id": "0123456789abcdef", "name": "evil\u001b[2J\u009b31m", "image": "x\u0007.img",
           "version": "1", "select": "all", "phases": [{"percent": 100, "devices": 1,
                                                       "counts": {"healthy\u001b]0;pwn\u0007": 1}}],
           "max_failure": 0, "require_approval": False, "state": "running", "phase": 0,
           "reason": "r\u001b[31mred", "created": 0, "created_by": "x", "updated": 0}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(w.fleet.dir / "ca" / "server.pem", w.fleet.dir / "ca" / "server.key")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARD_")}
        env.update(XDG_CONFIG_HOME=str(tmp_path / "xdg"), WARD_TOKEN="t" * 43)
        p = subprocess.run([str(WARD), "--server", f"https://127.0.0.1:{srv.server_port}", "--ca",
                            str(w.fleet.root), "campaign", "show", doc["id"]],
                           capture_output=True, text=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr
        assert "\x1b" not in p.stdout and "\x07" not in p.stdout and "\u009b" not in p.stdout, repr(p.stdout)
        assert "evil?[2J" in p.stdout and "r?[31mred" in p.stdout, p.stdout
    finally:
        srv.shutdown()


def test_silent_devices_time_out(make_world, backend):
    """report_timeout: an offered device that stays silent that long counts as failed (an
    offline device must not hold its phase open for ever): its offer is withdrawn, the
    threshold applies (here: 1 of 2 silent is within 50%, so the phase ends and the next
    starts), and the timeout is audited."""
    if backend != "sqlite":
        pytest.skip("the same SQL on both backends")
    w = make_world(4)
    r = w.api("POST", "/api/v1/campaigns", {"image": w.v2.name, "select": f"model={MODEL}",
                                             "phases": [50, 100], "max_failure": 50,
                                             "report_timeout": -1})
    assert r.status == 400 and "report_timeout" in r.text
    c = w.create(phases=[50, 100], max_failure=50, report_timeout=2)
    assert c["report_timeout"] == 2
    cid = w.act(c["id"], "start")["id"]
    first = sorted(d["serial"] for d in w.show(cid)["devices"] if d["phase"] == 0)
    w.by(first[0]).update_ok(w.v2.name)     # the other stays silent
    c = wait_for("phase 2", lambda: (x := w.show(cid))["phase"] == 1 and x, timeout=15)
    st = {d["serial"]: d for d in c["devices"]}
    assert st[first[1]]["state"] == "failed" and st[first[1]]["reason"] == "no report for 2 s", st[first[1]]
    assert w.by(first[1]).offered() is None  # the offer not taken was withdrawn
    ev = [r for r in w.fleet.audit() if r["event"] == "campaign-timeout"]
    assert ev and ev[0]["detail"]["devices"] == 1
    # the CLI shows it and takes it
    p = w.fleet.ward("campaign", "show", cid, "-c", w.fleet.conf)
    assert "silent for 2s counts as failed" in p.stdout, p.stdout
    p = w.fleet.ward("campaign", "create", "-c", w.fleet.conf, "--image", w.v2.name, "--select", "all",
                     "--phases", "100", "--max-failure", "0", "--report-timeout", "90m", "--json")
    assert json.loads(p.stdout)["report_timeout"] == 5400


def test_help_flags_are_documented():
    """Every flag `ward campaign --help` names is documented in docs/campaigns.md."""
    import re
    import subprocess
    from fleet import WARD, REPO_ROOT
    p = subprocess.run([str(WARD), "campaign", "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    doc = (REPO_ROOT / "docs" / "campaigns.md").read_text()
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", p.stdout))
    assert "--report-timeout" in flags and "--max-failure" in flags, flags
    missing = sorted(f for f in flags if f"`{f}" not in doc)
    assert not missing, f"ward campaign --help names {missing}, docs/campaigns.md does not"


def test_assign_and_audit_verify_through_the_api(make_world, backend, tmp_path):
    """`ward device assign` and `ward audit verify` also go through the API (everything an
    operator does): POST /api/v1/devices/SERIAL/assign (admin, release manager; audited with
    the operator, in the assignment's transaction) and GET /api/v1/audit/verify."""
    if backend != "sqlite":
        pytest.skip("the same code on both backends")
    import subprocess
    from fleet import WARD
    w = make_world(1)
    d = w.devices[0]
    r = w.api("POST", f"/api/v1/devices/{d.serial}/assign", {"image": w.v2.name}, token="operator")
    assert r.status == 403
    for bad in ({"image": ""}, {"image": 5}, {"image": "x", "more": 1}, {}):
        r = w.api("POST", f"/api/v1/devices/{d.serial}/assign", bad, token="release-manager")
        assert r.status == 400, (bad, r.status, r.text)
    r = w.api("POST", f"/api/v1/devices/{d.serial}/assign", {"image": "nope.img"}, token="release-manager")
    assert r.status == 404 and "does not list" in r.text, r.text
    r = w.api("POST", "/api/v1/devices/nobody-here/assign", {"image": w.v2.name}, token="release-manager")
    assert r.status == 404
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARD_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    pw = tmp_path / "pw-a"
    pw.write_text(PASSWORD + "\n")

    def ward(*args, ok=True):
        p = subprocess.run([str(WARD), *map(str, args)], capture_output=True, text=True, env=env,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert (p.returncode == 0) == ok, (args, p.returncode, p.stdout, p.stderr)
        return p

    ward("login", "--server", w.server.url, "--ca", w.fleet.root, "--name", "releasemanager",
         "--password-file", pw)
    out = json.loads(ward("device", "assign", d.serial, "--image", w.v2.name, "--json").stdout)
    assert out["director_version"] == 2 and out["target"] == w.v2.name and out["serial"] == d.serial
    assert d.offered() == w.v2.name
    rec = [r for r in w.fleet.audit() if r["event"] == "assign"][-1]
    assert rec["detail"]["by"] == "releasemanager" and rec["detail"]["director_version"] == 2
    p = ward("audit", "verify")
    n = w.fleet.audit_verify()
    assert p.stdout.strip() == f"audit log intact: {n} records", p.stdout
    # a broken chain is reported as such through the API too
    w.fleet.sql("UPDATE audit SET subject = 'edited' WHERE seq = 2")
    p = ward("audit", "verify", ok=False)
    assert "TAMPERED" in p.stderr and "record 2" in p.stderr, p.stderr
