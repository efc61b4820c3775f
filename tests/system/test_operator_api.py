"""System tests of the operator API (docs/api.md) and `ward --server` (docs/ward-remote.md).

ward-server is driven with Python's http.client (bearer tokens, no client
certificate); the registry and audit log are read with the sqlite3 CLI; the
CLI runs as a subprocess with its own XDG_CONFIG_HOME.

Every test runs on SQLite and on PostgreSQL (tests/system/pg.py's throwaway
server). Covered: whoami, the device listing (filters, paging, limits), a device's
detail, revoke / decommission / labels, the audit listing, fleet risk, models
(GET, and POST harm stored in the database over risk.ini), images, operators (list, add); the
role matrix of docs/api.md for every endpoint (each 403 audited as
api-denied, each change audited with operator and role); hostile input
(malformed JSON, wrong types, oversized bodies, unknown / duplicate /
oversized query parameters, hostile serials); expired and revoked tokens;
`ward login` (login.json 0600), `ward --server` printing what the local
command prints, and a wrong --ca failing closed.

Run: WARD_BUILD=build /usr/bin/python3 -m pytest tests/system/test_operator_api.py
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import subprocess
import time
from pathlib import Path

import pytest

from fleet import WARD, WARD_SERVER, Fleet
from pg import pg_server  # noqa: F401 (fixture)
from test_operator import add_operator, call

PASSWORD = "correct horse battery staple"
JSON = {"Content-Type": "application/json"}
ROLES = ["admin", "release-manager", "operator", "auditor"]


@pytest.fixture(autouse=True)
def binaries(ward_bin):
    if not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)):
        pytest.fail(f"ward-server not found at {WARD_SERVER}: build it first", pytrace=False)


def checkin(fl: Fleet, srv, dev, facts: dict):
    r = fl.client(srv, dev).request("POST", "/api/v1/device/checkin", json.dumps(facts).encode(), JSON)
    assert r.status == 200, r.text


class World:
    """A deployment, its server, one operator per role with a token, and three devices."""

    def __init__(self, tmp_path: Path, pg=None):
        self.tmp = tmp_path
        self.pg, self.db = pg, None
        if pg is None:
            self.fl = Fleet(tmp_path / "fleet")
        else:
            self.db = "ward_" + secrets.token_hex(6)
            pg.psql(f"CREATE DATABASE {self.db}", dbname="postgres")
            self.fl = Fleet(tmp_path / "fleet", "postgresql", pg.uri_for(self.db), pg, self.db)
        for role in ROLES:
            add_operator(self.fl, tmp_path, role.replace("-", "_"), role)
        self.srv = self.fl.start(workers=2)
        batch = self.fl.batch(count=3)
        self.devs = [self.fl.enroll(self.srv, batch, f"dev-{i}") for i in range(3)]
        checkin(self.fl, self.srv, self.devs[0], {"firmware_version": "1.2.0", "secure_boot": True})
        checkin(self.fl, self.srv, self.devs[1], {"firmware_version": "1.1.0"})
        self.tokens = {}
        for role in ROLES:
            r = call(self.fl, self.srv, "POST", "/api/v1/login",
                     body={"name": role.replace("-", "_"), "password": PASSWORD})
            assert r.status == 200, r.text
            body = json.loads(r.body)
            assert body["role"] == role
            self.tokens[role] = body["token"]

    def get(self, path, role="auditor", **kw):
        return call(self.fl, self.srv, "GET", path, self.tokens[role], **kw)

    def post(self, path, body=None, role="admin", **kw):
        return call(self.fl, self.srv, "POST", path, self.tokens[role], body=body, **kw)

    def stop(self):
        self.fl.stop_all()
        deaths = [line for s in self.fl.servers for line in s.worker_deaths()]
        if self.db:
            self.pg.psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)", dbname="postgres")
        assert not deaths, deaths


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path):
    w = World(tmp_path, request.getfixturevalue("pg_server") if request.param == "postgresql" else None)
    yield w
    w.stop()


def jbody(r):
    assert r.status == 200, (r.status, r.text)
    assert r.headers["content-type"] == "application/json"
    return json.loads(r.body)


# ---- reads ---------------------------------------------------------------------------


def test_whoami_and_listing(world):
    me = jbody(world.get("/api/v1/whoami", "operator"))
    assert me["name"] == "operator" and me["role"] == "operator"
    assert abs(me["expires"] - (time.time() + 12 * 3600)) < 120

    page = jbody(world.get("/api/v1/devices"))
    assert [d["serial"] for d in page["devices"]] == ["dev-0", "dev-1", "dev-2"]
    assert page["next"] is None
    d0 = page["devices"][0]
    assert {"serial", "model", "status", "tags", "critical", "firmware_version", "last_seen",
            "cert_not_after", "update"} <= set(d0)
    assert d0["firmware_version"] == "1.2.0" and d0["tags"] == [] and d0["critical"] is False
    assert d0["update"] is None and d0["last_seen"] > 0

    # paging
    p1 = jbody(world.get("/api/v1/devices?limit=2"))
    assert [d["serial"] for d in p1["devices"]] == ["dev-0", "dev-1"] and p1["next"] == "dev-1"
    p2 = jbody(world.get("/api/v1/devices?limit=2&after=dev-1"))
    assert [d["serial"] for d in p2["devices"]] == ["dev-2"] and p2["next"] is None
    # filters
    assert [d["serial"] for d in jbody(world.get("/api/v1/devices?q=v-1"))["devices"]] == ["dev-1"]
    assert jbody(world.get("/api/v1/devices?model=nosuch"))["devices"] == []
    assert len(jbody(world.get("/api/v1/devices?status=active&model=thermo-2"))["devices"]) == 3
    assert jbody(world.get("/api/v1/devices?status=revoked"))["devices"] == []

    # detail
    d = jbody(world.get("/api/v1/devices/dev-0"))
    for k in ("batch", "enrolled", "cert_serial", "facts", "assignment", "campaigns", "history", "audit"):
        assert k in d, k
    assert d["facts"]["firmware_version"] == "1.2.0"
    assert d["assignment"] is None and d["history"] == [] and d["campaigns"] == []
    assert [a["event"] for a in d["audit"]][-1] == "enroll"
    assert world.get("/api/v1/devices/nosuch").status == 404


def test_audit_risk_models_images(world):
    recs = jbody(world.get("/api/v1/audit?limit=3"))
    assert [r["seq"] for r in recs["records"]] == [1, 2, 3] and recs["next"] == 3
    more = jbody(world.get("/api/v1/audit?after=3&limit=1000"))
    assert more["records"][0]["seq"] == 4 and more["next"] is None
    assert set(more["records"][0]) == {"seq", "time", "event", "subject", "detail"}
    sub = jbody(world.get("/api/v1/audit?subject=dev-1"))
    assert sub["records"] and all(r["subject"] == "dev-1" for r in sub["records"])

    risk = jbody(world.get("/api/v1/fleet/risk"))
    local = json.loads(world.fl.ward("fleet", "risk", "-c", world.fl.conf, "--json").stdout)
    assert [(d["serial"], d["score"]) for d in risk["devices"]] == [(d["serial"], d["score"]) for d in local]
    assert risk["devices"][0]["reasons"][0].keys() == {"points", "text"}
    assert len(jbody(world.get("/api/v1/fleet/risk?limit=1"))["devices"]) == 1

    models = jbody(world.get("/api/v1/models"))["models"]
    assert models["thermo-2"]["safety"] == 1 and models["thermo-2"]["configured"] is False
    assert models["*"]["allowed_ports"] is None

    ini = world.fl.dir / "risk.ini"
    text = "; our models\n[*]\nbrand = 2\n\n[thermo-2]\nallowed_ports = 22\nsafety = 2\n"
    ini.write_text(text)
    r = world.post("/api/v1/models/thermo-2/harm", {"safety": 3, "revenue": 0}, role="release-manager")
    assert jbody(r)["settings"]["safety"] == 3
    # the harm goes to the database (every server of the fleet shares it), over risk.ini,
    # which stays as it was; levels the request left out keep what was in force (brand 2)
    assert ini.read_text() == text
    assert world.fl.sql("SELECT model, safety, revenue, brand, updated_by FROM model_harm") == [
        ["thermo-2", "3", "0", "2", "release_manager"]]
    m = jbody(world.get("/api/v1/models"))["models"]["thermo-2"]
    assert (m["safety"], m["revenue"], m["brand"], m["allowed_ports"]) == (3, 0, 2, [22])
    assert jbody(world.post("/api/v1/models/new-model/harm", {"brand": 0}))["settings"]["brand"] == 0
    assert world.fl.scalar("SELECT brand FROM model_harm WHERE model = 'new-model'") == "0"
    # `ward fleet risk` reads the same settings
    rows = json.loads(world.fl.ward("fleet", "risk", "-c", world.fl.conf, "--json").stdout)
    assert any("safety 3" in x["text"] or "harm" in x["text"] for x in rows[0]["reasons"]), rows[0]
    rec = world.fl.audit(world.fl.audit_head() - 2)
    assert [(x["event"], x["subject"], x["detail"]["operator"]) for x in rec[-2:]] == [
        ("model-harm", "thermo-2", "release_manager"), ("model-harm", "new-model", "admin")]

    # images: an empty repository lists nothing (or is unavailable when not set up)
    r = world.get("/api/v1/images")
    assert r.status in (200, 503), r.text
    if r.status == 200:
        assert isinstance(json.loads(r.body)["images"], list)


def test_operators_and_changes(world):
    ops = jbody(world.get("/api/v1/operators", "admin"))["operators"]
    assert [o["name"] for o in ops] == ["admin", "auditor", "operator", "release_manager"]
    head = world.fl.audit_head()
    r = world.post("/api/v1/operators", {"name": "dave", "password": PASSWORD, "role": "auditor"})
    assert jbody(r) == {"name": "dave", "role": "auditor"}
    assert world.post("/api/v1/operators", {"name": "dave", "password": PASSWORD, "role": "auditor"}).status == 409
    assert world.post("/api/v1/operators", {"name": "eve", "password": "short", "role": "auditor"}).status == 400
    assert world.post("/api/v1/operators", {"name": "eve", "password": PASSWORD, "role": "root"}).status == 400
    rec = world.fl.audit(head)
    assert [(x["event"], x["subject"], x["detail"]["via"]) for x in rec] == [("operator-add", "dave", "api:admin")]
    assert PASSWORD not in json.dumps(rec)

    # labels, revoke, decommission
    r = world.post("/api/v1/devices/dev-2/labels", {"tags": ["north", "lab"], "critical": True}, role="operator")
    d = jbody(r)
    assert d["tags"] == ["lab", "north"] and d["critical"] is True and d["serial"] == "dev-2"
    assert jbody(world.get("/api/v1/devices?tag=lab"))["devices"][0]["serial"] == "dev-2"
    assert jbody(world.post("/api/v1/devices/dev-2/labels", {"critical": False}))["tags"] == ["lab", "north"]
    assert jbody(world.post("/api/v1/devices/dev-1/revoke")) == {"serial": "dev-1", "status": "revoked"}
    assert jbody(world.post("/api/v1/devices/dev-1/decommission", role="operator")) == {
        "serial": "dev-1", "status": "decommissioned"}
    assert world.post("/api/v1/devices/dev-1/revoke").status == 409
    assert world.fl.scalar("SELECT status FROM devices WHERE serial = 'dev-1'") == "decommissioned"
    events = [(x["event"], x["subject"], (x["detail"] or {}).get("operator"), (x["detail"] or {}).get("role"))
              for x in world.fl.audit(head)]
    assert ("api-device-revoke", "dev-1", "admin", "admin") in events
    assert ("api-device-decommission", "dev-1", "operator", "operator") in events
    assert ("device-labels", "dev-2", None, None) in events
    world.fl.audit_verify()


# ---- roles --------------------------------------------------------------------------------


def test_role_matrix(world):
    """Each role x each endpoint of docs/api.md's table: allowed, or 403 audited as api-denied."""
    reads = ["/api/v1/whoami", "/api/v1/devices", "/api/v1/devices/dev-0", "/api/v1/audit",
             "/api/v1/fleet/risk", "/api/v1/models"]
    for role in ROLES:
        for path in reads:
            assert world.get(path, role).status == 200, (role, path)
    writes = [  # (path, body, roles allowed)
        ("/api/v1/devices/dev-2/labels", {"critical": True}, {"admin", "operator"}),
        ("/api/v1/models/thermo-2/harm", {"brand": 1}, {"admin", "release-manager"}),
        ("/api/v1/operators", None, {"admin"}),  # GET below
    ]
    matrix = {}
    for role in ROLES:
        for path, body, allowed in writes:
            head = world.fl.audit_head()
            if body is None:
                r = world.get(path, role)
            else:
                r = world.post(path, body, role=role)
            matrix[(role, path)] = r.status
            want = 200 if role in allowed else 403
            assert r.status == want, (role, path, r.status, r.text)
            if want == 403:
                rec = world.fl.audit(head)
                assert [(x["event"], x["detail"]["operator"], x["detail"]["role"]) for x in rec] == [
                    ("api-denied", role.replace("-", "_"), role)], rec
    # revoke / decommission / add operator: refused roles, then allowed ones
    for role in ["auditor", "release-manager"]:
        assert world.post("/api/v1/devices/dev-2/revoke", role=role).status == 403
        assert world.post("/api/v1/devices/dev-2/decommission", role=role).status == 403
    for role in ["auditor", "release-manager", "operator"]:
        r = world.post("/api/v1/operators", {"name": "x", "password": PASSWORD, "role": "admin"}, role=role)
        assert r.status == 403, role
    assert world.fl.scalar("SELECT status FROM devices WHERE serial = 'dev-2'") == "active"
    assert world.fl.scalar("SELECT count(*) FROM operators WHERE name = 'x'") == "0"


def test_tokens_expired_revoked(world):
    expired = world.fl.ward("operator", "token", "admin", "--expires", "1s", "-c", world.fl.conf).stdout.strip()
    revoked = world.fl.ward("operator", "token", "admin", "--expires", "1d", "-c", world.fl.conf).stdout.strip()
    world.fl.sql(f"UPDATE api_tokens SET revoked = 1 WHERE token_hash = "
                 f"'{hashlib.sha256(revoked.encode()).hexdigest()}'")
    time.sleep(2.1)
    for tok in [None, expired, revoked, "x" * 43]:
        for method, path in [("GET", "/api/v1/whoami"), ("GET", "/api/v1/audit"), ("GET", "/api/v1/fleet/risk"),
                             ("GET", "/api/v1/models"), ("GET", "/api/v1/images"), ("GET", "/api/v1/operators"),
                             ("GET", "/api/v1/devices/dev-0"), ("POST", "/api/v1/models/x/harm"),
                             ("POST", "/api/v1/operators"), ("GET", "/api/v1/devices/../audit")]:
            r = call(world.fl, world.srv, method, path, tok)
            assert r.status == 401, (tok, path, r.status)


# ---- hostile input ----------------------------------------------------------------------------


def test_bad_input(world):
    bad_queries = ["/api/v1/devices?limit=0", "/api/v1/devices?limit=1001", "/api/v1/devices?limit=x",
                   "/api/v1/devices?colour=red", "/api/v1/devices?model=a&model=b", "/api/v1/devices?model=",
                   "/api/v1/devices?status=sleeping", "/api/v1/devices?q=%25", "/api/v1/devices?q=a%00b",
                   "/api/v1/devices?after=" + "a" * 65, "/api/v1/devices?tag=UPPER",
                   "/api/v1/audit?limit=1001", "/api/v1/audit?after=-1", "/api/v1/audit?subject=" + "s" * 300,
                   "/api/v1/audit?x=1", "/api/v1/fleet/risk?limit=0", "/api/v1/whoami?x=1",
                   "/api/v1/devices?" + "&".join(f"q{i}=1" for i in range(500))]
    for path in bad_queries:
        r = world.get(path)
        assert r.status == 400, (path, r.status, r.text)
        assert r.text.strip()
    for serial in ["..%2fx", "../x", "a%00b", "%00", "x" * 200, "dev-0%20", "dev-0%2f"]:
        r = world.get(f"/api/v1/devices/{serial}")
        assert r.status in (400, 404), (serial, r.status)
        r = world.post(f"/api/v1/devices/{serial}/revoke")
        assert r.status in (400, 404), (serial, r.status)
    for path, body in [("/api/v1/devices/dev-0/labels", b'{"tags": '),
                       ("/api/v1/devices/dev-0/labels", b'{"tags": "lab"}'),
                       ("/api/v1/devices/dev-0/labels", b'{"tags": [1]}'),
                       ("/api/v1/devices/dev-0/labels", b'{"tags": ["UP"]}'),
                       ("/api/v1/devices/dev-0/labels", json.dumps({"tags": [f"t{i}" for i in range(17)]}).encode()),
                       ("/api/v1/devices/dev-0/labels", b'{"critical": "yes"}'),
                       ("/api/v1/devices/dev-0/labels", b'{"colour": "red"}'),
                       ("/api/v1/devices/dev-0/labels", b'{}'),
                       ("/api/v1/models/thermo-2/harm", b'{"safety": 4}'),
                       ("/api/v1/models/thermo-2/harm", b'{"safety": "2"}'),
                       ("/api/v1/models/thermo-2/harm", b'{"exposure": 2}'),
                       ("/api/v1/models/thermo-2/harm", b'[1]'),
                       ("/api/v1/operators", b'{"name": "z", "password": 5, "role": "admin"}')]:
        r = world.post(path, body, headers=JSON)
        assert r.status == 400, (path, body, r.status, r.text)
    big = json.dumps({"tags": ["a" * 10000]}).encode()
    assert world.post("/api/v1/devices/dev-0/labels", big, headers=JSON).status == 413
    assert world.post("/api/v1/devices/dev-0/revoke", b"x" * 10000, headers=JSON).status == 413
    assert world.post("/api/v1/models/thermo-2/harm", b'{"safety": 1}',
                      headers={"Content-Type": "text/plain"}).status == 415
    for method, path, allow in [("POST", "/api/v1/devices", "GET"), ("POST", "/api/v1/devices/dev-0", "GET"),
                                ("GET", "/api/v1/devices/dev-0/labels", "POST"),
                                ("DELETE", "/api/v1/audit", "GET"), ("POST", "/api/v1/fleet/risk", "GET"),
                                ("GET", "/api/v1/models/thermo-2/harm", "POST"),
                                ("PUT", "/api/v1/operators", "POST"), ("POST", "/api/v1/whoami", "GET")]:
        r = call(world.fl, world.srv, method, path, world.tokens["admin"])
        assert r.status == 405 and allow in r.headers.get("allow", ""), (method, path, r.status)
    for path in ["/api/v1/fleet", "/api/v1/fleet/other", "/api/v1/models/a/b", "/api/v1/devices/dev-0/x",
                 "/api/v1/models/a%2fb/harm"]:
        assert world.get(path).status == 404, path
    assert world.srv.running() and not world.srv.worker_deaths()


# ---- the CLI -------------------------------------------------------------------------------------


def cli(world, *args, env_extra=None, ok=True, input=None):
    env = {k: v for k, v in os.environ.items() if k not in ("WARD_PASSPHRASE_FILE", "WARD_SERVER", "WARD_TOKEN",
                                                             "WARD_CA")}
    env["XDG_CONFIG_HOME"] = str(world.tmp / "xdg")
    env.update(env_extra or {})
    p = subprocess.run([str(WARD), *[str(a) for a in args]], capture_output=True, text=True, env=env,
                       input=input, stdin=None if input is not None else subprocess.DEVNULL, timeout=60)
    if ok:
        assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    elif ok is False:
        assert p.returncode != 0, (args, p.stdout, p.stderr)
    return p


def test_cli_login_and_remote_commands(world):
    fl, url = world.fl, world.srv.url
    pw = world.tmp / "pw-cli"
    pw.write_text(PASSWORD + "\n")
    p = cli(world, "login", "--server", url, "--ca", fl.root, "--name", "admin", "--password-file", pw)
    assert "logged in" in p.stdout and "(admin)" in p.stdout
    lj = world.tmp / "xdg" / "ward" / "login.json"
    assert stat.S_IMODE(lj.stat().st_mode) == 0o600
    saved = json.loads(lj.read_text())
    assert set(saved) >= {"server", "ca", "token", "expires", "name"} and saved["name"] == "admin"

    # the same output, local and remote
    for args in [("device", "list"), ("device", "list", "--json"), ("device", "list", "--model", "thermo-2"),
                 ("device", "show", "dev-0"), ("fleet", "risk"), ("fleet", "risk", "--json"),
                 ("fleet", "risk", "--csv"), ("audit", "list", "--limit", "5"), ("audit", "list", "--json"),
                 ("operator", "list")]:
        local = cli(world, *args, "-c", fl.conf).stdout
        remote = cli(world, *args).stdout  # the saved login
        assert remote == local, args
        remote2 = cli(world, "--server", url, "--ca", fl.root, *args).stdout
        assert remote2 == local, args

    p = cli(world, "device", "label", "dev-2", "--tag", "lab", "--critical")
    assert p.stdout == "device dev-2: tags lab; critical yes\n"
    assert cli(world, "device", "label", "dev-2", "--no-tags", "-c", fl.conf).stdout == \
        "device dev-2: tags (none); critical yes\n"
    p = cli(world, "device", "revoke", "dev-1")
    assert "dev-1 revoked" in p.stdout
    assert fl.scalar("SELECT status FROM devices WHERE serial = 'dev-1'") == "revoked"
    newpw = world.tmp / "pw-new"
    newpw.write_text(PASSWORD + "\n")
    assert "operator frank added with role auditor" in cli(world, "operator", "add", "frank", "--role", "auditor",
                                                              "--password-file", newpw).stdout
    # a role that may not: the server's reason
    p = cli(world, "device", "revoke", "dev-0", env_extra={"WARD_TOKEN": world.tokens["auditor"],
                                                           "WARD_SERVER": url, "WARD_CA": str(fl.root)}, ok=False)
    assert "may not revoke" in p.stderr and p.returncode == 1
    # both -c and --server: refused
    assert cli(world, "--server", url, "device", "list", "-c", fl.conf, ok=False).returncode == 2

    # a wrong --ca fails closed; so does a token for another server
    other = Fleet(world.tmp / "other")
    p = cli(world, "--server", url, "--ca", other.root, "device", "list", ok=False)
    assert p.returncode == 1 and p.stdout == ""
    p = cli(world, "login", "--server", url, "--ca", other.root, "--name", "admin", "--password-file", pw, ok=False)
    assert json.loads(lj.read_text())["token"] == saved["token"]  # untouched
    p = cli(world, "--server", "https://127.0.0.2:1", "device", "list", ok=False)
    assert "no API token" in p.stderr

    # login.json readable by others: refused
    lj.chmod(0o644)
    p = cli(world, "device", "list", ok=False)
    assert "chmod 600" in p.stderr
    lj.chmod(0o600)
    # password on stdin; wrong password
    p = cli(world, "login", "--server", url, "--ca", fl.root, "--name", "admin", input="wrong password!!\n", ok=False)
    assert "wrong operator name or password" in p.stderr
    cli(world, "login", "--server", url, "--ca", fl.root, "--name", "operator", input=PASSWORD + "\n")
    assert json.loads(lj.read_text())["name"] == "operator"
    assert "logged out" in cli(world, "logout").stdout
    assert not lj.exists()
    p = cli(world, "device", "list", ok=False)
    assert p.returncode == 2 and "-c DIR/ward.conf is required" in p.stderr
    assert PASSWORD not in json.dumps([x for x in fl.audit()])
