"""System tests of ward-server's privilege drop ([server] user, docs/ward-server.md "Privileges").

Started as root with `[server] user = nobody` (made by `ward init --user nobody`),
every worker must run as nobody (all uids and gids, no supplementary groups, no
capabilities, NoNewPrivs 1) while the supervisor may stay root; enrolment over
EST, a check-in, a revocation through the operator API (the worker re-signs
and renames the CRL as nobody) and a model's harm through the API (in the database)
must all work; the keys stay root's 0600 and nobody cannot read them (tried
with util-linux's setpriv). Refusals: a user that does not exist, a user that
is root, a user that cannot write what the workers write, a non-root start
naming another user, and (as root) a ward.conf that is not root's alone.
Started as root without `user`, ward-server works and warns once.

Needs root (the suite runs as root in CI) and the system user `nobody`; adds
no users to the machine. Deployments live under a 0711 directory in /tmp,
since pytest's own tmp_path is 0700 and nobody could not reach it.

Run: WARD_BUILD=build /usr/bin/python3 -m pytest tests/system/test_privileges.py
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509

from fleet import WARD, WARD_SERVER, Fleet, _run, request, tls_context
from test_operator import add_operator, call

PASSWORD = "correct horse battery staple"
JSON = {"Content-Type": "application/json"}


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


NOBODY = _nobody()
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs ward-server started as root"),
    pytest.mark.skipif(NOBODY is None, reason="no system user 'nobody' on this machine"),
]


@pytest.fixture(autouse=True)
def binaries(ward_bin):
    if not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)):
        pytest.fail(f"ward-server not found at {WARD_SERVER}: build it first", pytrace=False)


@pytest.fixture
def base():
    """A directory nobody can traverse (not pytest's 0700 tmp_path), removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="ward-priv-", dir="/tmp"))
    d.chmod(0o711)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class UserFleet(Fleet):
    """A Fleet made by `ward init DIR --unencrypted-keys --user USER`."""

    def __init__(self, directory: Path, user: str):
        self.dir = Path(directory)
        self.backend = "sqlite"
        self.pg, self.pg_db = None, None
        self.servers = []
        p = _run([WARD, "init", self.dir, "--unencrypted-keys", "--user", user])
        assert p.returncode == 0, f"ward init --user {user}: {p.stdout}{p.stderr}"


def status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def as_nobody(*args) -> subprocess.CompletedProcess:
    """Run args as nobody:nogroup without supplementary groups (util-linux setpriv)."""
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("setpriv (util-linux) not installed")
    return subprocess.run([setpriv, f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                           "--clear-groups", *[str(a) for a in args]],
                          capture_output=True, text=True, errors="replace", timeout=30,
                          stdin=subprocess.DEVNULL)


def refused(conf: Path, run_as_nobody: bool = False) -> subprocess.CompletedProcess:
    """ward-server must exit at once with status 1 (never reach "listening")."""
    args = [WARD_SERVER, "-c", conf, "--listen", "127.0.0.1:0", "--workers", "1"]
    p = as_nobody(*args) if run_as_nobody else subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and "listening" not in p.stdout, (p.returncode, p.stdout, p.stderr)
    return p


def set_up_workers(srv, n: int, uid: int = 0, timeout: float = 15) -> list[int]:
    """The worker pids once all n are past their set-up: NoNewPrivs set, then the real uid is uid."""
    deadline = time.monotonic() + timeout
    while True:
        pids = srv.worker_pids()
        try:
            if len(pids) == n and all(status(p)["NoNewPrivs"] == "1" and
                                      status(p)["Uid"].split()[0] == str(uid) for p in pids):
                return pids
        except OSError:
            pass
        assert time.monotonic() < deadline, (pids, srv.log())
        time.sleep(0.05)


def owner(path: Path) -> tuple[int, int, int]:
    st = path.lstat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_init_user_layout(base):
    fl = UserFleet(base / "fleet", "nobody")
    nb = (NOBODY.pw_uid, NOBODY.pw_gid)
    assert re.search(r"(?m)^user = nobody$", fl.conf.read_text())
    for rel in (".", "ca", "director", "director/image-tuf", "ward.db", "ca/crl.der", "ca/crl.der.lock"):
        assert owner(fl.dir / rel)[:2] == nb, rel
    assert owner(fl.dir / "keys") == (0, 0, 0o700)
    for rel in ("keys/ca-root.key", "keys/director.key", "keys/director-root.key", "ca/issuing.key",
                "ca/server.key"):
        assert owner(fl.dir / rel) == (0, 0, 0o600), rel
    assert owner(fl.conf) == (0, 0, 0o640)
    # bad --user values fail before anything is written
    for bad, why in (("ward-no-such-user-q7", "no such user"), ("root", "uid or gid 0"),
                     ("no\nbody", "not a user name")):
        p = _run([WARD, "init", base / "other", "--unencrypted-keys", "--user", bad])
        assert p.returncode == 2 and why in p.stderr, (bad, p.stderr)
        assert not (base / "other").exists()


def test_workers_drop_to_user(base):
    fl = UserFleet(base / "fleet", "nobody")
    add_operator(fl, base, "admin1", "admin")
    batch = fl.batch(count=2)
    srv = fl.start(workers=2)
    try:
        # who runs what
        sup = status(srv.proc.pid)
        assert sup["Uid"].split()[1] == "0"  # the supervisor may stay root (it only forks)
        pids = set_up_workers(srv, 2, NOBODY.pw_uid)
        for pid in pids:
            st = status(pid)
            assert st["Uid"].split() == [str(NOBODY.pw_uid)] * 4, st["Uid"]
            assert st["Gid"].split() == [str(NOBODY.pw_gid)] * 4, st["Gid"]
            assert st["Groups"] == "", st["Groups"]
            assert st["NoNewPrivs"] == "1"
            assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0, st
        assert "warning" not in srv.log(), srv.log()

        # enrol over EST and check in, as nobody
        dev = fl.enroll(srv, batch, "priv-1")
        r = fl.client(srv, dev).request("POST", "/api/v1/device/checkin",
                                        json.dumps({"firmware_version": "1.0.0"}).encode(), JSON)
        assert r.status == 200, r.text

        # revoke through the API: the worker re-signs the CRL and renames it into ca/
        r = call(fl, srv, "POST", "/api/v1/login", body={"name": "admin1", "password": PASSWORD})
        assert r.status == 200, r.text
        token = json.loads(r.body)["token"]
        r = call(fl, srv, "POST", "/api/v1/devices/priv-1/revoke", token)
        assert r.status == 200, r.text
        crl = x509.load_der_x509_crl((fl.dir / "ca" / "crl.der").read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(dev.cert.serial_number) is not None
        assert owner(fl.dir / "ca" / "crl.der")[0] == NOBODY.pw_uid  # written by a worker
        assert "re-publishing the CRL" not in srv.log(), srv.log()
        r = request(srv.port, tls_context(fl.root), "GET", "/crl")
        assert r.status == 200 and r.body == (fl.dir / "ca" / "crl.der").read_bytes()

        # a model's harm through the API: stored by a worker in the database
        r = call(fl, srv, "POST", "/api/v1/models/thermo-2/harm", token, body={"safety": 3})
        assert r.status == 200, r.text
        assert fl.scalar("SELECT safety FROM model_harm WHERE model = 'thermo-2'") == "3"

        assert srv.running() and not srv.worker_deaths(), srv.log()
    finally:
        fl.stop_all()

    # the keys stayed root's 0600, and nobody cannot read them
    for rel in ("keys/ca-root.key", "keys/director.key", "keys/director-root.key", "ca/issuing.key",
                "ca/server.key"):
        assert owner(fl.dir / rel) == (0, 0, 0o600), rel
        p = as_nobody("cat", fl.dir / rel)
        assert p.returncode != 0 and "Permission denied" in p.stderr, (rel, p.returncode, p.stderr)
    p = as_nobody("cat", fl.dir / "ca" / "crl.der")  # control: setpriv works and DIR is reachable
    assert p.returncode == 0, p.stderr
    fl.audit_verify()


def test_root_without_user_warns_once(base):
    fl = Fleet(base / "fleet")
    srv = fl.start(workers=2)
    try:
        warnings = [l for l in srv.log().splitlines() if "warning" in l]
        assert len(warnings) == 1 and "[server] user" in warnings[0], srv.log()
        for pid in set_up_workers(srv, 2):
            assert status(pid)["Uid"].split()[0] == "0"
    finally:
        fl.stop_all()


def test_refusals(base):
    fl = Fleet(base / "fleet")
    # a user that does not exist
    fl.set_conf("server", "user", "ward-no-such-user-q7")
    p = refused(fl.conf)
    assert '[server] user "ward-no-such-user-q7": no such user' in p.stderr, p.stderr
    # root itself
    fl.set_conf("server", "user", "root")
    assert "uid or gid 0" in refused(fl.conf).stderr
    # a user that cannot write what the workers write (this deployment is root's)
    fl.set_conf("server", "user", "nobody")
    p = refused(fl.conf)
    assert f'run as "nobody" but it cannot write {fl.dir}' in p.stderr, p.stderr
    # an invalid name is a configuration error
    fl.set_conf("server", "user", "-x")
    assert "invalid value for [server] user" in refused(fl.conf).stderr


def test_conf_must_be_roots(base):
    fl = UserFleet(base / "fleet", "nobody")
    os.chown(fl.conf, NOBODY.pw_uid, NOBODY.pw_gid)  # as a taken-over worker could swap it in
    assert "must be owned by root" in refused(fl.conf).stderr
    os.chown(fl.conf, 0, 0)
    fl.conf.chmod(0o662)
    assert "must be owned by root" in refused(fl.conf).stderr


def test_non_root_naming_another_user(base):
    fl = UserFleet(base / "fleet", "nobody")
    other = next((u for u in pwd.getpwall() if u.pw_uid not in (0, NOBODY.pw_uid) and u.pw_gid != 0),
                 None)
    if other is None:
        pytest.skip("no system user other than root and nobody")
    fl.set_conf("server", "user", other.pw_name)
    fl.conf.chmod(0o644)  # nobody must read it to get as far as the user check
    p = refused(fl.conf, run_as_nobody=True)
    assert f"runs as uid {NOBODY.pw_uid}, not root, so it cannot become that user" in p.stderr, p.stderr
