"""System tests of operator accounts and the operator API (SQLite).

`ward operator add|list|token` against a real deployment, then ward-server's
/api/v1/login, /api/v1/devices and /api/v1/devices/SERIAL/revoke driven by
Python's http.client (bearer tokens, no client certificate); the registry and
the audit log are read with the sqlite3 CLI.

Covered: passwords stored only as Argon2id hashes and tokens only as SHA-256;
weak, duplicate and malformed accounts refused; good and bad logins (an
unknown name costs the same Argon2 work as a wrong password), each audited;
the device listing for every role; the role matrix for revoke (admin and
operator 200, auditor and release-manager 403, no / garbage / expired /
revoked token 401); a device revoked through the API is then refused on the
device API; malformed JSON, oversized bodies, wrong content types and wrong
methods get a clear 4xx and no worker dies.

Run: WARD_BUILD=build /usr/bin/python3 -m pytest tests/system/test_operator.py
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path

import pytest

from fleet import WARD_SERVER, Fleet, request, tls_context

PASSWORD = "correct horse battery staple"
JSON = {"Content-Type": "application/json"}
ROLES = ["admin", "release-manager", "operator", "auditor"]


@pytest.fixture(autouse=True)
def binaries(ward_bin):
    if not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)):
        pytest.fail(f"ward-server not found at {WARD_SERVER}: build it first", pytrace=False)


@pytest.fixture
def fleet(tmp_path):
    fl = Fleet(tmp_path / "fleet")
    yield fl
    fl.stop_all()


def add_operator(fl: Fleet, tmp_path: Path, name: str, role: str, password: str = PASSWORD,
                 ok: bool | None = True):
    pw = tmp_path / f"pw-{name}-{role}"
    pw.write_text(password + "\n")
    pw.chmod(0o600)
    return fl.ward("operator", "add", name, "--role", role, "--password-file", pw, "-c", fl.conf,
                   ok=ok)


def call(fl: Fleet, srv, method: str, path: str, token: str | None = None, body=None,
         headers: dict | None = None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    return request(srv.port, tls_context(fl.root), method, path, body, h)


def login(fl: Fleet, srv, name: str, password: str = PASSWORD):
    return call(fl, srv, "POST", "/api/v1/login", body={"name": name, "password": password})


def assert_alive(srv) -> None:
    assert srv.running(), srv.log()
    assert not srv.worker_deaths(), srv.worker_deaths()


# ---- the CLI ----------------------------------------------------------------------


def test_operator_cli(fleet, tmp_path):
    head = fleet.audit_head()
    add_operator(fleet, tmp_path, "alice", "admin")
    # weak password, duplicate, bad role, bad name: refused, nothing stored
    p = add_operator(fleet, tmp_path, "bob", "operator", password="short pass", ok=False)
    assert p.returncode == 2 and "12 characters" in p.stderr, p.stderr
    p = add_operator(fleet, tmp_path, "alice", "auditor", ok=False)
    assert "already exists" in p.stderr, p.stderr
    p = add_operator(fleet, tmp_path, "carol", "root", ok=False)
    assert p.returncode == 2 and "--role" in p.stderr
    p = add_operator(fleet, tmp_path, "bad name", "admin", ok=False)
    assert p.returncode == 2
    assert fleet.sql("SELECT name, role FROM operators") == [["alice", "admin"]]
    stored = fleet.scalar("SELECT pass_hash FROM operators WHERE name = 'alice'")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), stored
    assert PASSWORD not in stored

    out = fleet.ward("operator", "list", "-c", fleet.conf).stdout
    assert re.search(r"^alice\s+admin\s+\d{4}-", out, re.M), out

    p = fleet.ward("operator", "token", "alice", "--expires", "30d", "-c", fleet.conf)
    token = p.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token), p.stdout
    assert "shown only this once" in p.stderr
    stored = fleet.scalar("SELECT token_hash FROM api_tokens")
    import hashlib
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    exp = int(fleet.scalar("SELECT expires - created FROM api_tokens"))
    assert exp == 30 * 86400
    fleet.ward("operator", "token", "nobody", "--expires", "1d", "-c", fleet.conf, ok=False)
    fleet.ward("operator", "token", "alice", "--expires", "forever", "-c", fleet.conf, ok=False)

    events = [(r["event"], r["subject"]) for r in fleet.audit(head)]
    assert events == [("operator-add", "alice"), ("operator-token", "alice")], events
    for r in fleet.audit(head):
        assert PASSWORD not in json.dumps(r) and token not in json.dumps(r)
    fleet.audit_verify()


# ---- login ------------------------------------------------------------------------


def test_login_good_and_bad_audited(fleet, tmp_path):
    add_operator(fleet, tmp_path, "alice", "operator")
    srv = fleet.start(workers=1)
    head = fleet.audit_head()

    r = login(fleet, srv, "alice")
    assert r.status == 200, r.text
    body = json.loads(r.body)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", body["token"])
    assert abs(body["expires"] - (time.time() + 12 * 3600)) < 120
    assert r.headers["content-type"] == "application/json"
    assert call(fleet, srv, "GET", "/api/v1/devices", body["token"]).status == 200

    for name, pw in [("alice", "wrong password here"), ("nobody", PASSWORD), ("bad name!", PASSWORD),
                     ("alice", "")]:
        r = login(fleet, srv, name, pw)
        assert r.status == 401, (name, r.status, r.text)
        assert "bearer" in r.headers.get("www-authenticate", "").lower()

    recs = fleet.audit(head)
    assert [(x["event"], x["subject"]) for x in recs] == [
        ("operator-login", "alice"),
        ("operator-login-failed", "alice"),
        ("operator-login-failed", "nobody"),
        ("operator-login-failed", ""),
        ("operator-login-failed", "alice"),
    ], recs
    assert all(PASSWORD not in json.dumps(x) for x in recs)

    # an unknown name does the same Argon2id work as a wrong password
    def timed(name):
        t = time.monotonic()
        assert login(fleet, srv, name, "wrong password here").status == 401
        return time.monotonic() - t

    known = statistics.median(timed("alice") for _ in range(5))
    unknown = statistics.median(timed("nobody") for _ in range(5))
    assert unknown > 0.5 * known and known > 0.5 * unknown, (known, unknown)
    fleet.audit_verify()
    assert_alive(srv)


# ---- tokens and roles -----------------------------------------------------------------


def test_devices_and_revoke_role_matrix(fleet, tmp_path):
    for role in ROLES:
        add_operator(fleet, tmp_path, role.replace("-", "_"), role)
    srv = fleet.start(workers=2)
    batch = fleet.batch(count=3)
    devs = [fleet.enroll(srv, batch, f"dev-{i}") for i in range(3)]
    tokens = {}
    for role in ROLES:
        r = login(fleet, srv, role.replace("-", "_"))
        assert r.status == 200, r.text
        tokens[role] = json.loads(r.body)["token"]

    # every role may read the registry
    for role in ROLES:
        r = call(fleet, srv, "GET", "/api/v1/devices", tokens[role])
        assert r.status == 200, (role, r.text)
        listing = json.loads(r.body)
        assert [d["serial"] for d in listing["devices"]] == ["dev-0", "dev-1", "dev-2"]
        assert listing["next"] is None  # docs/api.md: paging replaced "truncated"
        d0 = listing["devices"][0]
        assert {"serial", "model", "status", "cert_not_after", "last_seen"} <= set(d0)
        assert d0["status"] == "active" and d0["model"] == "thermo-2"
        assert d0["cert_not_after"] > time.time()

    # tokens that are missing, garbage, expired or revoked: 401
    expired = fleet.ward("operator", "token", "admin", "--expires", "1s", "-c", fleet.conf).stdout.strip()
    revoked = fleet.ward("operator", "token", "admin", "--expires", "1d", "-c", fleet.conf).stdout.strip()
    import hashlib
    fleet.sql(f"UPDATE api_tokens SET revoked = 1 WHERE token_hash = "
              f"'{hashlib.sha256(revoked.encode()).hexdigest()}'")
    time.sleep(2.1)
    bad = {"none": None, "garbage": "x" * 43, "short": "abc", "expired": expired, "revoked": revoked,
           "password-as-token": PASSWORD}
    matrix = {}
    for what, tok in bad.items():
        for method, path in [("GET", "/api/v1/devices"), ("POST", "/api/v1/devices/dev-2/revoke")]:
            r = call(fleet, srv, method, path, tok)
            matrix[(what, path)] = r.status
            assert r.status == 401, (what, path, r.status, r.text)
    r = call(fleet, srv, "GET", "/api/v1/devices", headers={"Authorization": "Basic YWRtaW46eA=="})
    assert r.status == 401

    # revoke: the role matrix
    head = fleet.audit_head()
    assert call(fleet, srv, "POST", "/api/v1/devices/dev-0/revoke", tokens["auditor"]).status == 403
    assert call(fleet, srv, "POST", "/api/v1/devices/dev-0/revoke", tokens["release-manager"]).status == 403
    assert fleet.scalar("SELECT status FROM devices WHERE serial = 'dev-0'") == "active"
    r = call(fleet, srv, "POST", "/api/v1/devices/dev-0/revoke", tokens["admin"])
    assert r.status == 200, r.text
    assert json.loads(r.body) == {"serial": "dev-0", "status": "revoked"}
    r = call(fleet, srv, "POST", "/api/v1/devices/dev-1/revoke", tokens["operator"])
    assert r.status == 200, r.text
    assert call(fleet, srv, "POST", "/api/v1/devices/nosuch/revoke", tokens["admin"]).status == 404
    assert call(fleet, srv, "POST", "/api/v1/devices/dev-2/explode", tokens["admin"]).status == 404
    assert call(fleet, srv, "POST", "/api/v1/devices/dev-2/revoke/x", tokens["admin"]).status == 404
    assert call(fleet, srv, "POST", "/api/v1/devices/%2e%2e/revoke", tokens["admin"]).status == 404
    assert fleet.sql("SELECT serial, status FROM devices ORDER BY serial") == [
        ["dev-0", "revoked"], ["dev-1", "revoked"], ["dev-2", "active"]]

    recs = [(x["event"], x["subject"], (x["detail"] or {}).get("operator")) for x in fleet.audit(head)]
    assert recs == [
        ("api-denied", "dev-0", "auditor"),
        ("api-denied", "dev-0", "release_manager"),
        ("device-revoke", "dev-0", None),
        ("api-device-revoke", "dev-0", "admin"),
        ("device-revoke", "dev-1", None),
        ("api-device-revoke", "dev-1", "operator"),
    ], recs

    # the revoked devices are refused on the device API; the other is not
    for dev, want in [(devs[0], 403), (devs[1], 403), (devs[2], 200)]:
        r = fleet.client(srv, dev).request("GET", "/api/v1/device/self")
        assert r.status == want, (dev.serial, r.status, r.text)
    fleet.audit_verify()
    assert_alive(srv)


# ---- hostile input ------------------------------------------------------------------------


def test_hostile_bodies_and_methods(fleet, tmp_path):
    add_operator(fleet, tmp_path, "alice", "admin")
    srv = fleet.start(workers=1)
    tok = json.loads(login(fleet, srv, "alice").body)["token"]
    cases = [
        ("malformed JSON", b'{"name": "alice", "password": ', JSON, 400),
        ("not an object", b'["alice", "pw"]', JSON, 400),
        ("missing password", b'{"name": "alice"}', JSON, 400),
        ("number for a name", b'{"name": 7, "password": "x"}', JSON, 400),
        ("empty body", b"", JSON, 400),
        ("NUL in JSON", b'{"name": "al\\u0000ice", "password": "x"}', JSON, 400),
        ("oversized", json.dumps({"name": "alice", "password": "p" * 10000}).encode(), JSON, 413),
        ("wrong content type", json.dumps({"name": "alice", "password": PASSWORD}).encode(),
         {"Content-Type": "text/plain"}, 415),
        ("no content type", json.dumps({"name": "alice", "password": PASSWORD}).encode(), {}, 415),
        ("form", b"name=alice&password=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("json-ish type", b"{}", {"Content-Type": "application/jsonx"}, 415),
    ]
    for what, body, headers, want in cases:
        r = call(fleet, srv, "POST", "/api/v1/login", body=body, headers=headers)
        assert r.status == want, (what, r.status, r.text)
        assert r.text.strip(), what  # a one-line explanation
        assert PASSWORD not in r.text
    # an oversized body on a revoke too (after authentication)
    r = call(fleet, srv, "POST", "/api/v1/devices/dev-0/revoke", tok, body=b"x" * 10000,
             headers=JSON)
    assert r.status == 413, r.text
    # methods
    for method, path, allow in [("GET", "/api/v1/login", "POST"), ("POST", "/api/v1/devices", "GET"),
                                ("GET", "/api/v1/devices/dev-0/revoke", "POST"),
                                ("DELETE", "/api/v1/devices", "GET")]:
        r = call(fleet, srv, method, path, tok)
        assert r.status == 405, (method, path, r.status)
        assert allow in r.headers.get("allow", ""), (method, path, r.headers)
    # a login with the right charset parameter works
    r = call(fleet, srv, "POST", "/api/v1/login",
             body=json.dumps({"name": "alice", "password": PASSWORD}).encode(),
             headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 200, r.text
    assert_alive(srv)
