"""
test_attacks — `ward tuf` against every attack the TUF specification names
(section 1.5.2), plus Uptane's slow retrieval.

Each test builds a real TUF repository (tufrepo.py), serves it from a loopback
server that can lie, stall and stream (hostile.py), drives the real `ward tuf`
binary through the tuf-conformance CLIENT-CLI, and proves three things:
  1. the attack is refused: exit status 1 and one line "ward: ..." on stderr
     that says what went wrong and names the file or role involved;
  2. the trusted state is unchanged: every file in the metadata directory is
     byte-identical to before, except a file the specification tells the
     client to persist before the attacked step (a validly signed, newer
     timestamp, say), which may also equal exactly those valid bytes; nothing
     appears in the target directory, not even a temporary file;
  3. the refusal is caused by the attack: the same setup without the attack
     succeeds (a positive control in every test).

The binary is $WARD_BUILD/cli/ward (default /work/main/build). Slow retrieval
runs with WARD_LOW_SPEED_TIME=2 (seconds of the speed-floor window).
"""

import copy
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hostile  # noqa: E402
import tufrepo  # noqa: E402
from hostile import KiB, MiB, Bytes, Endless, HostileServer, NotFound, Stall, Status, Trickle  # noqa: E402
from tufrepo import DAY, Repository, expires_in, fileinfo  # noqa: E402

# ---- what ward promises ------------------------------------------------------

MAX_TIMESTAMP = 16 * KiB
MAX_ROOT = 512 * KiB
MAX_SNAPSHOT = 2 * MiB
MAX_TARGETS = 8 * MiB
MAX_ROOT_ROTATIONS = 256
# Bytes a server can push into socket buffers beyond what a client read before
# it stopped: the receive window autotunes (up to tcp_rmem[2]); observed <= 0.7
# MiB on loopback. An endless stream is capped at 256 MiB, so "stopped near the
# limit" and "never stopped" stay far apart.
OVERSHOOT = 4 * MiB
SLOW_WINDOW = 2           # WARD_LOW_SPEED_TIME used by the slow-retrieval tests
SLOW_BOUND = SLOW_WINDOW + 6.0  # seconds a slow transfer may take before ward gives up

# What a clear message must say (case-insensitive regular expressions).
SIG = r"signature|signed|threshold"
EXPIRED = r"expir|freeze"
ROLLBACK = r"rollback|version|older|lower"
VERSION = r"version"
HASH = r"hash|sha-?256|sha-?512|digest"
LENGTH = r"length|size|too (big|large|long)|exceed|limit|larger|longer|shorter|bytes"
HASH_OR_LENGTH = HASH + "|" + LENGTH
NOTFOUND = r"not found|no such target|unknown target|no target|cannot be found|not listed|not delegated|no role"
SLOW = r"slow|speed|time(d)? ?out|stall|too long|bytes/s|B/s"

TARGET = "files/app.bin"
TARGET_DATA = b"ward application image 1.0\n" * 40
EVIL = "files/evil.bin"
EVIL_DATA = b"malware " * 137
OK_DELEGATED = "files/ok.bin"
OK_DELEGATED_DATA = b"delegated, legitimate " * 11


def local_name(target_path):
    """Where ward stores a downloaded target inside the target directory."""
    return urllib.parse.quote(target_path, safe="")


# ---- running ward ------------------------------------------------------------

def ward_path():
    return os.path.join(os.environ.get("WARD_BUILD", "/work/main/build"), "cli", "ward")


@pytest.fixture(scope="session")
def ward_exe():
    path = ward_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"ward binary not found at {path}: build it, or set WARD_BUILD to the build directory")
    return path


def client_env(extra=None):
    """The environment ward runs in: no proxy (only 127.0.0.1 is ever contacted)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("WARD_LOW_SPEED_TIME", None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1"
    env.update(extra or {})
    return env


class Result:
    def __init__(self, cmd, rc, stdout, stderr, elapsed):
        self.cmd, self.rc, self.stdout, self.stderr, self.elapsed = cmd, rc, stdout, stderr, elapsed

    def __repr__(self):
        return f"<ward rc={self.rc} {self.elapsed:.1f}s stderr={self.stderr!r}>"


def tree(path):
    """Every file under path (hidden and temporary ones too): relative path -> bytes."""
    out = {}
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = fh.read()
    return out


class Env:
    """One client (metadata dir, target dir) against one repository behind one hostile server."""

    def __init__(self, ward, tmp, repo):
        self.ward, self.repo = ward, repo
        self.server = HostileServer(repo.files)
        self.mdir = tmp / "metadata"
        self.tdir = tmp / "targets"
        self.mdir.mkdir()
        self.tdir.mkdir()
        self.root_file = tmp / "initial_root.json"
        self.metadata_url = self.server.url("/metadata/")
        self.targets_url = self.server.url("/targets/")

    def run(self, *args, env=None, timeout=30):
        cmd = [self.ward, "tuf", *args]
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=client_env(env))
        except subprocess.TimeoutExpired:
            pytest.fail(f"`ward tuf {' '.join(args[-1:])}` still running after {timeout}s and was killed: it hangs")
        return Result(cmd, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"),
                      time.monotonic() - t0)

    def init(self, root=None):
        self.root_file.write_bytes(root if root is not None else self.repo.history["root"][1])
        return self.run("--metadata-dir", str(self.mdir), "init", str(self.root_file))

    def refresh(self, **kw):
        return self.run("--metadata-url", self.metadata_url, "--metadata-dir", str(self.mdir), "refresh", **kw)

    def download(self, name, **kw):
        return self.run("--metadata-url", self.metadata_url, "--metadata-dir", str(self.mdir),
                        "--target-name", name, "--target-base-url", self.targets_url,
                        "--target-dir", str(self.tdir), "download", **kw)

    def ready(self):
        """init + refresh, both of which must succeed (the positive control of every test)."""
        assert_ok(self.init(), "init with the repository's root")
        assert_ok(self.refresh(), "first refresh against an honest repository")

    def state(self):
        return tree(self.mdir)

    def downloaded(self):
        return tree(self.tdir)

    def trusted(self, role):
        with open(self.mdir / f"{role}.json", "rb") as f:
            return json.load(f)["signed"]

    def served(self, *urls_and_behaviours):
        for url, b in urls_and_behaviours:
            self.server.route(url, b)


@pytest.fixture
def make_env(ward_exe, tmp_path):
    envs = []

    def make(**repo_kwargs):
        sub = tmp_path / f"env{len(envs)}"
        sub.mkdir()
        env = Env(ward_exe, sub, Repository(**repo_kwargs))
        envs.append(env)
        return env

    yield make
    for env in envs:
        env.server.stop()


# ---- assertions --------------------------------------------------------------

def assert_ok(res, what):
    assert res.rc == 0, f"{what}: expected success, ward exited {res.rc}: {res.stderr.strip()!r}"


def assert_refused(res, pattern, names=(), names_any=()):
    """Exit 1 and exactly one line "ward: ..." that matches pattern and names the input."""
    assert res.rc == 1, f"attack not refused: ward exited {res.rc}, stderr {res.stderr.strip()!r}"
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ward: "), \
        f"want exactly one stderr line 'ward: <reason>', got {res.stderr!r}"
    msg = lines[0]
    print(f"ward said: {msg!r}")  # shown with -rP, to audit why each attack was refused
    assert re.search(pattern, msg, re.I), f"message {msg!r} does not say what failed (/{pattern}/)"
    for n in names:
        assert n.lower() in msg.lower(), f"message {msg!r} does not name {n!r}"
    if names_any:
        assert any(n.lower() in msg.lower() for n in names_any), f"message {msg!r} names none of {names_any}"
    return msg


def assert_kept(before, after, may_advance=None):
    """
    The trusted state is unchanged: same files, same bytes. A file in
    may_advance (name -> bytes) may instead hold exactly those bytes: valid
    metadata that the specification persists before the attacked step.
    """
    may = may_advance or {}
    diffs = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if a == b:
            continue
        if name in may and a == may[name]:
            continue
        what = "appeared" if b is None else "disappeared" if a is None else "changed"
        diffs.append(f"{name} {what}")
    assert not diffs, "trusted state changed: " + ", ".join(diffs)


def advanced(repo, *roles):
    return {f"{r}.json": repo.latest(r) for r in roles}


def standard(env):
    """A repository with one target, at version 2 of timestamp, snapshot and targets."""
    env.repo.add_target(TARGET, TARGET_DATA)
    env.repo.commit("targets")
    return env.repo


def with_delegation(env, threshold=1, nkeys=1):
    """standard() plus delegated role1 for files/*, listing files/ok.bin."""
    repo = standard(env)
    keys = [repo.new_key() for _ in range(nkeys)]
    repo.delegate("targets", "role1", paths=["files/*"], keys=keys, threshold=threshold)
    repo.add_target(OK_DELEGATED, OK_DELEGATED_DATA, role="role1")
    repo.publish("role1")
    repo.commit("targets")
    return repo


def serve_evil_target(repo, path, data):
    """Serve data for path at every URL a client may use; return its file info."""
    info = fileinfo(data, repo.target_hashes)
    for url in repo.target_urls(path, info):
        repo.files[url] = data
    return info


# ==============================================================================
# Harness self-checks (no ward needed): a broken harness must not pass as a
# refusal.
# ==============================================================================

@pytest.mark.parametrize("keytype", ["ed25519", "ecdsa"])
def test_harness_repository_signs_valid_metadata(keytype):
    repo = Repository(keytype=keytype, nkeys=3, threshold=2)
    repo.add_target(TARGET, TARGET_DATA)
    repo.delegate("targets", "role1", paths=["files/*"])
    repo.publish("role1")
    repo.commit("targets")
    for role in ("root", "timestamp", "snapshot", "targets"):
        assert repo.count_valid(role, repo.latest(role)) == 2, role
    assert repo.count_valid("role1", repo.latest("role1")) == 1
    ts = json.loads(repo.latest("timestamp"))["signed"]["meta"]["snapshot.json"]
    assert ts["hashes"]["sha256"] == tufrepo.sha256_hex(repo.latest("snapshot"))
    snap = json.loads(repo.latest("snapshot"))["signed"]["meta"]
    assert snap["targets.json"]["version"] == 2 and snap["role1.json"]["version"] == 1
    for k in repo.keys.values():
        assert k.keyid == tufrepo.sha256_hex(tufrepo.canonical(k.public))
    # a tampered "signed" part no longer verifies
    env = json.loads(repo.latest("targets"))
    env["signed"]["version"] = 99
    assert repo.count_valid("targets", json.dumps(env).encode()) == 0


def test_harness_canonical_json_is_olpc():
    """What securesystemslib and tuf-js sign: only '"' and '\\' escaped, control characters raw."""
    assert tufrepo.canonical({"b": 'q"b\\s\nnl', "a": [1, True, None, "\u00e9"]}) == \
        '{"a":[1,true,null,"\u00e9"],"b":"q\\"b\\\\s\nnl"}'.encode("utf-8")
    with pytest.raises(TypeError):
        tufrepo.canonical({"x": 1.5})


def test_harness_root_rotation_is_cross_signed():
    repo = Repository()
    old = repo.signers["root"][0]
    new = repo.rotate_keys("root")[0]
    env = json.loads(repo.publish_root())
    assert [s["keyid"] for s in env["signatures"]] == [old.keyid, new.keyid]
    assert repo.count_valid("root", repo.latest("root"), json.loads(repo.history["root"][1])["signed"]) == 1
    assert repo.count_valid("root", repo.latest("root")) == 1


def test_harness_server_behaviours():
    import socket
    import urllib.request

    with HostileServer({"/a": b"abc"}) as srv:
        assert urllib.request.urlopen(srv.url("/a")).read() == b"abc"
        srv.route("/s", hostile.Seq(b"one", NotFound()))
        assert urllib.request.urlopen(srv.url("/s")).read() == b"one"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(srv.url("/s"))
        srv.route("/e", Endless(cap=4 * MiB))
        c = socket.create_connection(("127.0.0.1", srv.port))
        c.sendall(b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n")
        got = 0
        while got < 100 * KiB:
            got += len(c.recv(65536))
        c.close()
        srv.route("/stall", Stall())
        c2 = socket.create_connection(("127.0.0.1", srv.port))
        c2.sendall(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
    c2.close()
    r = srv.requests_for("/e")[0]
    assert r.outcome == "client-gone" and r.body_sent <= got + OVERSHOOT
    assert srv.requests_for("/stall")[0].outcome in ("stopped", "client-gone")


# ==============================================================================
# Arbitrary installation: a target replaced, metadata with bad signatures.
# ==============================================================================

@pytest.mark.parametrize("consistent", [True, False], ids=["consistent", "plain"])
@pytest.mark.parametrize("replacement", ["same-length", "other-length"])
def test_arbitrary_installation_target_replaced(make_env, consistent, replacement):
    env = make_env(consistent_snapshot=consistent)
    repo = standard(env)
    env.ready()
    evil = (b"X" * len(TARGET_DATA)) if replacement == "same-length" else EVIL_DATA
    for url in repo.target_urls(TARGET):
        env.server.route(url, Bytes(evil))
    before = env.state()

    res = env.download(TARGET)

    assert_refused(res, HASH_OR_LENGTH, names=[TARGET])
    assert env.downloaded() == {}
    assert_kept(before, env.state())
    env.server.routes.clear()
    assert_ok(env.download(TARGET), "download from the honest server")
    assert env.downloaded() == {local_name(TARGET): TARGET_DATA}


def _corrupt(repo, role, honest, evil, how):
    """Serialized metadata for role: evil content with a signature that must not verify."""
    keys = repo.signers[role]
    if how == "flipped-bit":
        env = tufrepo.envelope(evil, keys)
        sig = bytearray.fromhex(env["signatures"][0]["sig"])
        sig[len(sig) // 2] ^= 0x01
        env["signatures"][0]["sig"] = sig.hex()
    elif how == "wrong-key":
        env = tufrepo.envelope(evil, [repo.new_key()])
    elif how == "tampered-after-signing":
        env = tufrepo.envelope(honest, keys)
        env["signed"] = evil
    elif how == "no-signatures":
        env = {"signatures": [], "signed": evil}
    else:
        raise AssertionError(how)
    return tufrepo.serialize(env)


@pytest.mark.parametrize("how", ["flipped-bit", "wrong-key", "tampered-after-signing", "no-signatures"])
@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "role1"])
def test_arbitrary_installation_bad_signature(make_env, role, how):
    env = make_env()
    repo = with_delegation(env)
    env.ready()
    assert_ok(env.download(OK_DELEGATED), "download of a target delegated to role1")
    before, files_before = env.state(), env.downloaded()

    repo.signed[role]["version"] += 1
    honest = copy.deepcopy(repo.signed[role])
    evil = copy.deepcopy(honest)
    if role in ("timestamp", "snapshot"):
        evil["expires"] = expires_in(3650 * DAY)  # extend a freeze window
    else:
        evil["targets"][EVIL] = serve_evil_target(repo, EVIL, EVIL_DATA)
    repo.publish(role, bump=False, data=_corrupt(repo, role, honest, evil, how))
    if role == "snapshot":
        repo.update_timestamp()
    elif role != "timestamp":
        repo.update_snapshot()
    may = advanced(repo, *{"timestamp": (), "snapshot": ("timestamp",)}.get(role, ("timestamp", "snapshot")))

    if role in ("timestamp", "snapshot", "targets"):
        assert_refused(env.refresh(), SIG, names=[role])
        assert_kept(before, env.state(), may)
    res = env.download(EVIL)
    if role == "role1":
        assert_refused(res, SIG + "|" + NOTFOUND, names_any=["role1", EVIL])
    else:
        assert_refused(res, SIG, names=[role])
    assert env.downloaded() == files_before
    assert_kept(before, env.state(), may)


@pytest.mark.parametrize("how", ["new-keys-only", "old-keys-only", "flipped-bit", "unsigned"])
def test_arbitrary_installation_bad_root(make_env, how):
    """2.root.json must carry a threshold of the old AND of the new root keys (5.3.4)."""
    env = make_env()
    repo = standard(env)
    env.ready()
    before = env.state()
    old = repo.signers["root"]
    attacker = repo.rotate_keys("root")           # root v2 hands every key to the attacker
    for role in ("timestamp", "snapshot", "targets"):
        repo.rotate_keys(role, attacker)
    repo.signed["root"]["version"] += 1
    signed = repo.signed["root"]
    if how == "new-keys-only":
        data = repo.sign("root", signed, attacker)
    elif how == "old-keys-only":
        data = repo.sign("root", signed, old)
    elif how == "flipped-bit":
        e = tufrepo.envelope(signed, old + attacker)
        sig = bytearray.fromhex(e["signatures"][0]["sig"])  # the old root key's signature
        sig[-1] ^= 0x01
        e["signatures"][0]["sig"] = sig.hex()
        data = tufrepo.serialize(e)
    else:
        data = tufrepo.serialize({"signatures": [], "signed": signed})
    env.server.route("/metadata/2.root.json", Bytes(data))
    # and everything else re-signed by the attacker
    repo.commit("targets")

    assert_refused(env.refresh(), SIG, names=["root"])
    assert_kept(before, env.state())
    assert_refused(env.download(TARGET), SIG, names=["root"])
    assert env.downloaded() == {}
    assert_kept(before, env.state())


# ==============================================================================
# Endless data: the client stops at its limit, does not hang, does not fill a disk.
# ==============================================================================

ENDLESS_FILES = ["timestamp", "root", "snapshot-no-length", "targets-no-length", "target", "target-right-prefix"]


@pytest.mark.parametrize("mode", ["close", "chunked", "length"])
@pytest.mark.parametrize("what", ENDLESS_FILES)
def test_endless_data(make_env, what, mode):
    env = make_env(meta_hashes=False)
    repo = standard(env)
    env.ready()
    before = env.state()
    may = {}
    if what == "timestamp":
        url, limit, name = "/metadata/timestamp.json", MAX_TIMESTAMP, "timestamp"
        stream = Endless(mode=mode, prefix=b'{"signatures":[],"signed":')
    elif what == "root":
        url, limit, name = "/metadata/2.root.json", MAX_ROOT, "root"
        stream = Endless(mode=mode, prefix=b'{"signatures":[],"signed":')
    elif what == "snapshot-no-length":
        repo.commit("targets")
        url, limit, name = repo.meta_url("snapshot"), MAX_SNAPSHOT, "snapshot"
        stream = Endless(mode=mode, prefix=b'{"signatures":[],"signed":')
        may = advanced(repo, "timestamp")
    elif what == "targets-no-length":
        repo.commit("targets")
        url, limit, name = repo.meta_url("targets"), MAX_TARGETS, "targets"
        stream = Endless(mode=mode, prefix=b'{"signatures":[],"signed":')
        may = advanced(repo, "timestamp", "snapshot")
    else:
        url, limit, name = repo.target_urls(TARGET)[0], len(TARGET_DATA), TARGET
        prefix = TARGET_DATA if what == "target-right-prefix" else b""
        stream = Endless(mode=mode, prefix=prefix, fill=b"\x90\xeb\xfe")
    assert json.loads(repo.latest("timestamp"))["signed"]["meta"]["snapshot.json"].keys() == {"version"}
    env.server.route(url, stream)

    res = env.download(TARGET) if what.startswith("target") and what != "targets-no-length" else env.refresh()

    assert res.elapsed < 20, f"ward took {res.elapsed:.1f}s against an endless stream"
    assert_refused(res, LENGTH, names=[name])
    reqs = env.server.requests_for(url)
    assert reqs, f"ward never asked for {url}: the test did not test anything"
    r = reqs[-1]
    print(f"{url}: {r.body_sent} body bytes sent before ward stopped (limit {limit}), {res.elapsed:.2f}s")
    assert r.outcome != "cap", f"ward read {r.body_sent} bytes of {url} without stopping"
    assert r.body_sent <= limit + OVERSHOOT, \
        f"ward took {r.body_sent} bytes of {url} (limit {limit}): it did not stop at the limit"
    assert env.downloaded() == {}
    assert_kept(before, env.state(), may)


def test_endless_root_rotations_are_bounded(make_env):
    """An attacker (or a broken repository) offering 300 valid root versions: at most 256 are fetched (5.3.3)."""
    env = make_env()
    standard(env)
    env.ready()
    for _ in range(299):
        env.repo.publish_root()

    res = env.refresh()

    roots = [p for p in env.server.paths() if re.fullmatch(r"/metadata/\d+\.root\.json", p)]
    assert len(roots) <= MAX_ROOT_ROTATIONS + 1, f"ward fetched {len(roots)} root versions"
    assert env.trusted("root")["version"] <= 1 + MAX_ROOT_ROTATIONS + 1
    # 5.3.3: past the bound the client goes on with the last root it verified.
    assert_ok(res, "refresh past the root-rotation bound")
    assert res.elapsed < 20


# ==============================================================================
# Extraneous dependencies: delegated roles reach only their paths, with their keys.
# ==============================================================================

@pytest.mark.parametrize("case", ["other-directory", "star-does-not-cross-slash", "hash-prefix"])
def test_extraneous_dependency_outside_delegated_paths(make_env, case):
    env = make_env()
    repo = standard(env)
    if case == "hash-prefix":
        prefix = tufrepo.sha256_hex(OK_DELEGATED.encode())[:4]
        evil_path = next(p for p in (f"files/evil{i}.bin" for i in range(1000))
                         if not tufrepo.sha256_hex(p.encode()).startswith(prefix))
        repo.delegate("targets", "role1", path_hash_prefixes=[prefix])
    else:
        evil_path = "bin/evil.bin" if case == "other-directory" else "files/sub/evil.bin"
        repo.delegate("targets", "role1", paths=["files/*"])
    repo.add_target(OK_DELEGATED, OK_DELEGATED_DATA, role="role1")
    repo.add_target(evil_path, EVIL_DATA, role="role1")  # signed by role1, outside its delegation
    repo.publish("role1")
    repo.commit("targets")
    env.ready()
    assert_ok(env.download(OK_DELEGATED), "download of a target inside role1's paths")
    before, files_before = env.state(), env.downloaded()

    res = env.download(evil_path)

    assert_refused(res, NOTFOUND, names=[evil_path])
    assert env.downloaded() == files_before
    assert_kept(before, env.state())


@pytest.mark.parametrize("case", ["unlisted-key", "below-threshold", "top-level-targets-key", "mislabeled-keyid"])
def test_extraneous_dependency_untrusted_delegation_keys(make_env, case):
    env = make_env()
    repo = standard(env)
    k1, k2 = repo.new_key(), repo.new_key()
    threshold = 2 if case == "below-threshold" else 1
    repo.delegate("targets", "role1", paths=["files/*"], keys=[k1, k2], threshold=threshold)
    repo.add_target(EVIL, EVIL_DATA, role="role1")
    signed = repo.signed["role1"]
    if case == "unlisted-key":
        data = repo.sign("role1", signed, [repo.new_key()])
    elif case == "below-threshold":
        data = repo.sign("role1", signed, [k1])
    elif case == "top-level-targets-key":
        data = repo.sign("role1", signed, repo.signers["targets"])
    else:  # a stranger's signature under k1's key id
        stranger = repo.new_key()
        e = tufrepo.envelope(signed, [stranger])
        e["signatures"][0]["keyid"] = k1.keyid
        data = tufrepo.serialize(e)
    repo.publish("role1", data=data)
    repo.commit("targets")
    env.ready()
    before = env.state()

    res = env.download(EVIL)

    assert_refused(res, SIG + "|" + NOTFOUND, names_any=["role1", EVIL])
    assert env.downloaded() == {}
    assert_kept(before, env.state())
    assert "role1.json" not in env.state()
    # control: the same role, properly signed, is trusted
    repo.signers["role1"] = [k1, k2][:threshold]
    repo.add_target(OK_DELEGATED, OK_DELEGATED_DATA, role="role1")
    repo.commit("role1")
    assert_ok(env.download(OK_DELEGATED), "download through a properly signed role1")


def test_extraneous_dependency_terminating_delegation(make_env):
    """A terminating delegation ends the search: a later role cannot supply the target (5.6.7.2.1)."""
    env = make_env()
    repo = standard(env)
    repo.delegate("targets", "role-a", paths=["files/*"], terminating=True)
    repo.delegate("targets", "role-b", paths=["files/*"])
    repo.add_target(OK_DELEGATED, OK_DELEGATED_DATA, role="role-a")
    repo.add_target(EVIL, EVIL_DATA, role="role-b")
    repo.publish("role-a")
    repo.publish("role-b")
    repo.commit("targets")
    env.ready()
    before = env.state()

    assert_refused(env.download(EVIL), NOTFOUND, names=[EVIL])
    assert env.downloaded() == {}
    assert_kept(before, env.state(), {"role-a.json": repo.latest("role-a")})
    assert "role-b.json" not in env.state(), "ward fetched a role behind a terminating delegation"
    # control: without the terminating flag, role-b is consulted and its target is valid
    repo.signed["targets"]["delegations"]["roles"][0]["terminating"] = False
    repo.commit("targets")
    assert_ok(env.download(EVIL), "download through a non-terminating delegation")


# ==============================================================================
# Fast-forward: versions inflated with compromised online keys; recovery by
# rotating the keys (5.3.11).
# ==============================================================================

BIG = 1_000_000


@pytest.mark.parametrize("what", ["timestamp", "snapshot", "targets-in-snapshot"])
def test_fast_forward_then_recovery(make_env, what):
    env = make_env()
    repo = standard(env)
    env.ready()

    # The attacker holds the online keys and inflates versions.
    if what == "timestamp":
        ts = repo.variant("timestamp", version=BIG)
        env.server.route("/metadata/timestamp.json", Bytes(repo.sign("timestamp", ts)))
    else:
        snap = repo.variant("snapshot", version=repo.version("snapshot") + 1)
        if what == "snapshot":
            snap["version"] = BIG
        else:
            snap["meta"]["targets.json"] = {"version": BIG}
        sdata = repo.sign("snapshot", snap)
        ts = repo.variant("timestamp", version=BIG if what == "snapshot" else repo.version("timestamp") + 1,
                          meta={"snapshot.json": repo.metafile("snapshot", sdata, snap["version"])})
        env.server.route(repo.meta_url("snapshot", snap["version"]), Bytes(sdata))
        env.server.route("/metadata/timestamp.json", Bytes(repo.sign("timestamp", ts)))
    res = env.refresh()
    if what == "targets-in-snapshot":
        assert_refused(res, NOTFOUND + "|404|targets", names=["targets"])  # BIG.targets.json does not exist
        assert env.trusted("snapshot")["meta"]["targets.json"]["version"] == BIG, \
            "precondition: a validly signed snapshot is persisted (5.5.7)"
    else:
        assert_ok(res, "refresh with validly signed, inflated versions")
        assert env.trusted("timestamp")["version"] == BIG or env.trusted("snapshot")["version"] == BIG
    env.server.routes.clear()

    # The repository goes on honestly: ward must see a rollback.
    if what == "targets-in-snapshot":
        # past the attacker's timestamp and snapshot versions, so that the new
        # snapshot is fetched and checked against the trusted one (5.5.5)
        repo.signed["timestamp"]["version"] += 1
        repo.signed["snapshot"]["version"] += 1
    repo.commit("targets")
    before = env.state()
    res = env.refresh()
    assert_refused(res, ROLLBACK, names_any=["timestamp", "snapshot", "targets"])
    assert_kept(before, env.state(), advanced(repo, "timestamp") if what == "targets-in-snapshot" else None)
    # (targets-in-snapshot: the trusted snapshot still names the inflated targets version)
    assert_refused(env.download(TARGET), ROLLBACK + ("|" + NOTFOUND + "|404" if what == "targets-in-snapshot" else ""))
    assert env.downloaded() == {}

    # Recovery: the root rotates the compromised key; ward forgets the inflated versions.
    repo.rotate_keys("timestamp" if what == "timestamp" else "snapshot")
    repo.publish_root()
    repo.commit("targets")
    assert_ok(env.refresh(), "refresh after the compromised key was rotated (5.3.11)")
    for role in ("root", "timestamp", "snapshot", "targets"):
        assert env.state()[f"{role}.json"] == repo.latest(role), f"trusted {role} is not the repository's latest"
    assert_ok(env.download(TARGET), "download after recovery")
    assert env.downloaded() == {local_name(TARGET): TARGET_DATA}


# ==============================================================================
# Indefinite freeze: expired metadata is never accepted.
# ==============================================================================

@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "root", "role1"])
def test_freeze_expired_new_metadata(make_env, role):
    env = make_env()
    repo = with_delegation(env)
    env.ready()
    assert_ok(env.download(OK_DELEGATED), "download of a target delegated to role1")
    before, files_before = env.state(), env.downloaded()

    repo.signed[role]["expires"] = expires_in(-DAY)
    if role == "root":
        repo.publish_root()
        may = advanced(repo, "root")  # 5.3.8 persists root before the 5.3.10 expiry check
    elif role == "timestamp":
        repo.update_timestamp()
        may = {}
    elif role == "snapshot":
        repo.update_snapshot()
        may = advanced(repo, "timestamp")
    else:
        repo.commit(role)
        may = advanced(repo, "timestamp", "snapshot")

    if role != "role1":
        assert_refused(env.refresh(), EXPIRED, names=[role])
        assert_kept(before, env.state(), may)
        assert_refused(env.download(TARGET), EXPIRED, names=[role])
    else:
        os.unlink(env.tdir / local_name(OK_DELEGATED))
        files_before = {}
        assert_refused(env.download(OK_DELEGATED), EXPIRED + "|" + NOTFOUND, names_any=["role1", OK_DELEGATED])
    assert env.downloaded() == files_before
    assert_kept(before, env.state(), may)


FREEZE_ROLES = ["timestamp", "snapshot", "targets", "root"]


@pytest.fixture(scope="module")
def replayed(ward_exe, tmp_path_factory):
    """
    One client per role whose metadata expires about 2 s after it was trusted;
    the mirror then serves the very same, validly signed files for ever.
    Built once for the module so that the wait is paid once.
    """
    out = {}
    deadline = int(time.time()) + 3
    for role in FREEZE_ROLES:
        tmp = tmp_path_factory.mktemp(f"freeze-{role}")
        env = Env(ward_exe, tmp, Repository())
        repo = standard(env)
        repo.signed[role]["expires"] = tufrepo.tuf_time(deadline)
        if role == "root":
            repo.history["root"].clear()
            repo.signed["root"]["version"] = 1
            repo.publish("root", bump=False)
        else:
            repo.commit("targets")
        env.ready()
        out[role] = env
    assert time.time() < deadline, "setup too slow: metadata expired before it was trusted"
    time.sleep(max(0.0, deadline - time.time()) + 1.1)
    yield out
    for env in out.values():
        env.server.stop()


@pytest.mark.parametrize("role", FREEZE_ROLES)
def test_freeze_replayed_metadata_expires(replayed, role):
    """Stale but validly signed metadata served for ever (a freezing mirror) is refused once expired."""
    env = replayed[role]
    before = env.state()

    assert_refused(env.refresh(), EXPIRED, names=[role])
    assert_kept(before, env.state())
    assert_refused(env.download(TARGET), EXPIRED, names=[role])
    assert env.downloaded() == {}
    assert_kept(before, env.state())


# ==============================================================================
# Malicious mirrors preventing updates: stale metadata, garbage.
# ==============================================================================

def test_mirror_serves_stale_metadata(make_env):
    env = make_env()
    repo = standard(env)
    stale = dict(repo.files)          # the repository as it was at version 2
    repo.commit("targets")            # version 3
    env.ready()
    before = env.state()
    env.server.files = stale          # the mirror stays behind

    assert_refused(env.refresh(), ROLLBACK, names=["timestamp"])
    assert_kept(before, env.state())
    assert_refused(env.download(TARGET), ROLLBACK, names=["timestamp"])
    assert env.downloaded() == {}
    assert_kept(before, env.state())


GARBAGE = ["random", "empty", "truncated", "html-200", "wrong-role", "deep-nesting", "invalid-utf8",
           "http-500", "http-404", "content-length-lie"]


def _garbage(kind, honest, other_role):
    if kind == "random":
        return Bytes(os.urandom(700))
    if kind == "empty":
        return Bytes(b"")
    if kind == "truncated":
        return Bytes(honest[: len(honest) // 2])
    if kind == "html-200":
        return Bytes(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    if kind == "wrong-role":
        return Bytes(other_role)
    if kind == "deep-nesting":
        return Bytes(b"[" * 100_000 + b"]" * 100_000)
    if kind == "invalid-utf8":
        if b'"_type"' in honest:
            return Bytes(honest.replace(b'"_type"', b'"\xff\xfe_type"', 1))
        return Bytes(honest[:10] + b"\xff" + honest[11:])
    if kind == "http-500":
        return Status(500)
    if kind == "http-404":
        return NotFound()
    if kind == "content-length-lie":
        return Bytes(honest, content_length=len(honest) + 1000)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", GARBAGE)
@pytest.mark.parametrize("what", ["timestamp", "snapshot", "targets", "root", "target"])
def test_mirror_serves_garbage(make_env, what, kind):
    if what == "root" and kind == "http-404":
        pytest.skip("404 for N+1.root.json means 'no newer root' (5.3.3), not an attack")
    env = make_env(meta_hashes=False)
    repo = standard(env)
    env.ready()
    may = {}
    if what == "root":
        repo.publish_root()
        url, honest, other, name = "/metadata/2.root.json", repo.latest("root"), repo.latest("timestamp"), "root"
    elif what == "target":
        url, honest, other, name = repo.target_urls(TARGET)[0], TARGET_DATA, repo.latest("targets"), TARGET
    else:
        repo.commit("targets")
        url, honest = repo.meta_url(what), repo.latest(what)
        other = repo.latest("root")
        name = what
        may = advanced(repo, *{"timestamp": (), "snapshot": ("timestamp",),
                               "targets": ("timestamp", "snapshot")}[what])
    before = env.state()
    env.server.route(url, _garbage(kind, honest, other))

    res = env.download(TARGET) if what == "target" else env.refresh()

    assert_refused(res, r".", names=[name])
    assert env.downloaded() == {}
    assert_kept(before, env.state(), may)
    # the client is not bricked: the honest repository is accepted again
    env.server.routes.clear()
    assert_ok(env.download(TARGET), "download once the mirror serves honest files again")


INJECT = "\u001b]0;PWNED\u0007\u001b[31m\nward: refresh complete"


@pytest.mark.parametrize("field", ["_type", "spec_version", "expires", "first-byte"])
def test_mirror_cannot_inject_into_messages(make_env, field):
    """
    Unsigned metadata from a mirror must not reach the operator's terminal or
    log raw: no control characters (terminal escapes), no second line.
    """
    env = make_env()
    standard(env)
    env.ready()
    before = env.state()
    doc = json.loads(env.repo.latest("timestamp"))
    if field == "first-byte":
        body = b"\x1b]0;PWNED\x07"
    else:
        doc["signed"][field] = INJECT
        body = json.dumps(doc).encode()
    env.server.route("/metadata/timestamp.json", Bytes(body))

    res = env.refresh()

    assert res.rc == 1
    bad = sorted({f"0x{ord(ch):02x}" for ch in res.stderr.rstrip("\n") if ord(ch) < 0x20 or ord(ch) == 0x7f})
    assert not bad, f"attacker-controlled control characters {bad} reached stderr: {res.stderr!r}"
    assert_refused(res, r".", names=["timestamp"])
    assert_kept(before, env.state())


# ==============================================================================
# Mix-and-match: metadata from different times combined.
# ==============================================================================

MIX = ["targets-older-than-listed", "targets-older-than-listed-plain", "targets-hash-mismatch",
       "snapshot-hash-mismatch", "snapshot-padded", "snapshot-compacted", "snapshot-older-than-listed",
       "delegated-older-than-listed"]


@pytest.mark.parametrize("case", MIX)
def test_mix_and_match(make_env, case):
    hashes = case in ("targets-hash-mismatch", "snapshot-hash-mismatch", "snapshot-padded", "snapshot-compacted")
    env = make_env(meta_hashes=hashes, consistent_snapshot=not case.endswith("-plain"))
    repo = with_delegation(env)
    env.ready()
    assert_ok(env.download(OK_DELEGATED), "download of a target delegated to role1")
    before, files_before = env.state(), env.downloaded()
    action, pattern, name = env.refresh, VERSION, "targets"

    if case.startswith("targets-older-than-listed"):
        old = repo.latest("targets")
        repo.commit("targets")
        env.server.route(repo.meta_url("targets"), Bytes(old))      # v2 bytes where v3 belongs
        may = advanced(repo, "timestamp", "snapshot")
    elif case == "targets-hash-mismatch":
        repo.commit("targets")
        other = repo.variant("targets")  # same version, same length, validly signed: other hash
        evil = bytes(len(TARGET_DATA))
        other["targets"][TARGET] = serve_evil_target(repo, TARGET, evil)
        served = repo.sign("targets", other)
        assert len(served) == len(repo.latest("targets")) and served != repo.latest("targets")
        env.server.route(repo.meta_url("targets"), Bytes(served))
        pattern = HASH_OR_LENGTH
        may = advanced(repo, "timestamp", "snapshot")
    elif case.startswith("snapshot-") and case != "snapshot-older-than-listed":
        repo.commit("targets")
        honest = repo.latest("snapshot")
        if case == "snapshot-hash-mismatch":  # same version, validly signed, lists the old targets
            other = repo.variant("snapshot")
            other["meta"]["targets.json"] = repo.metafile("targets", version=repo.version("targets") - 1)
            served = repo.sign("snapshot", other)
        elif case == "snapshot-padded":
            served = honest + b" " * 64
        else:
            served = tufrepo.canonical(json.loads(honest))
            assert len(served) < len(honest)
        env.server.route(repo.meta_url("snapshot"), Bytes(served))
        pattern, name = HASH_OR_LENGTH, "snapshot"
        may = advanced(repo, "timestamp")
    elif case == "snapshot-older-than-listed":
        old = repo.latest("snapshot")
        repo.commit("targets")
        env.server.route(repo.meta_url("snapshot"), Bytes(old))
        name = "snapshot"
        may = advanced(repo, "timestamp")
    else:  # delegated-older-than-listed
        old = repo.latest("role1")
        repo.add_target("files/new.bin", b"new", role="role1")
        repo.commit("role1")
        env.server.route(repo.meta_url("role1"), Bytes(old))
        action = lambda: env.download("files/new.bin")  # noqa: E731
        pattern, name = VERSION + "|" + NOTFOUND, "role1"
        may = advanced(repo, "timestamp", "snapshot")

    res = action()

    if name == "role1":
        assert_refused(res, pattern, names_any=["role1", "files/new.bin"])
    else:
        assert_refused(res, pattern, names=[name])
    assert env.downloaded() == files_before
    assert_kept(before, env.state(), may)


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_mix_and_match_trusted_file_is_the_one_listed(make_env, role):
    """
    A trusted file at version N that its parent does not describe (same
    version, other bytes: re-signed by a compromised or glitching signer) must
    not stay trusted once the parent lists version N with other hashes
    (5.5.2 / 5.6.2): the client fetches and checks the listed file, or refuses.
    """
    env = make_env(meta_hashes=True)
    repo = standard(env)
    env.ready()
    parent = "timestamp" if role == "snapshot" else "snapshot"
    if role == "snapshot":  # snapshot v3' lists the previous targets; the honest v3 lists targets v3
        repo.commit("targets")
        alt = repo.variant("snapshot")
        alt["meta"]["targets.json"] = repo.metafile("targets", version=repo.version("targets") - 1)
        adata = repo.sign("snapshot", alt)
        ats = repo.variant("timestamp", version=repo.version("timestamp") + 1,
                           meta={"snapshot.json": repo.metafile("snapshot", adata, alt["version"])})
        env.served((repo.meta_url("snapshot"), Bytes(adata)),
                   ("/metadata/timestamp.json", Bytes(repo.sign("timestamp", ats))))
        assert_ok(env.refresh(), "refresh with a validly signed snapshot v3'")
        env.server.routes.clear()
        repo.signed["timestamp"]["version"] = ats["version"]
        repo.update_timestamp()                    # now lists the honest snapshot v3 by its hashes
    else:                   # targets v3' lists an extra target; the honest v3 does not
        repo.signed["targets"]["targets"][EVIL] = serve_evil_target(repo, EVIL, EVIL_DATA)
        repo.commit("targets")
        adata = repo.latest("targets")
        assert_ok(env.refresh(), "refresh with a validly signed targets v3'")
        del repo.signed["targets"]["targets"][EVIL]
        repo.publish("targets", bump=False)        # targets v3, other bytes
        repo.update_snapshot()                     # snapshot v4 lists it by its hashes
    assert env.state()[f"{role}.json"] == adata

    res = env.refresh()

    listed = env.trusted(parent)["meta"][f"{role}.json"]["hashes"]["sha256"]
    held = tufrepo.sha256_hex(env.state()[f"{role}.json"])
    if res.rc == 0:
        assert held == listed, (f"refresh succeeded while the trusted {role} is not the one the trusted "
                                f"{parent} lists (mix-and-match)")
    else:
        assert_refused(res, HASH_OR_LENGTH + "|" + VERSION, names=[role])
    if role == "targets":
        res = env.download(EVIL)
        assert res.rc == 1, f"{EVIL} installed from a targets file that the trusted snapshot does not describe"
        assert env.downloaded() == {}


# ==============================================================================
# Rollback: older versions than trusted.
# ==============================================================================

@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "role1", "root", "root-not-n-plus-1"])
def test_rollback(make_env, role):
    env = make_env()
    repo = with_delegation(env)
    repo.add_target("files/v3.bin", b"three", role="role1")
    repo.commit("role1")                       # role1 v2, targets v3 ... everything moves on
    repo.publish_root()                        # root v2 (same keys)
    env.ready()
    assert_ok(env.download(OK_DELEGATED), "download of a target delegated to role1")
    before, files_before = env.state(), env.downloaded()
    may = {}
    old_version = {r: repo.version(r) - 1 for r in ("timestamp", "snapshot", "targets", "role1")}

    if role == "timestamp":
        env.server.route("/metadata/timestamp.json", Bytes(repo.history["timestamp"][old_version["timestamp"]]))
    elif role == "snapshot":  # a new timestamp (online key) pointing at the old snapshot
        v = old_version["snapshot"]
        ts = repo.variant("timestamp", version=repo.version("timestamp") + 1,
                          meta={"snapshot.json": repo.metafile("snapshot", version=v)})
        env.server.route("/metadata/timestamp.json", Bytes(repo.sign("timestamp", ts)))
    elif role in ("targets", "role1"):  # new timestamp + snapshot pointing at an old targets role
        snap = repo.variant("snapshot", version=repo.version("snapshot") + 1)
        snap["meta"][f"{role}.json"] = repo.metafile(role, version=old_version[role])
        sdata = repo.sign("snapshot", snap)
        ts = repo.variant("timestamp", version=repo.version("timestamp") + 1,
                          meta={"snapshot.json": repo.metafile("snapshot", sdata, snap["version"])})
        tdata = repo.sign("timestamp", ts)
        env.served((repo.meta_url("snapshot", snap["version"]), Bytes(sdata)),
                   ("/metadata/timestamp.json", Bytes(tdata)))
        may = {"timestamp.json": tdata}
    elif role == "root":  # root v1 (valid: same keys) where v3 is asked for
        env.server.route("/metadata/3.root.json", Bytes(repo.history["root"][1]))
    else:  # a validly signed root v4 offered as 3.root.json
        repo.signed["root"]["version"] = 4
        env.server.route("/metadata/3.root.json", Bytes(repo.sign("root")))
    name = role.split("-")[0]

    if role == "role1":
        res = env.download("files/v3.bin")
    else:
        res = env.refresh()
    assert_refused(res, ROLLBACK, names_any=[name] + (["snapshot"] if name in ("targets", "role1") else []))
    assert env.downloaded() == files_before
    assert_kept(before, env.state(), may)


# ==============================================================================
# Key compromise below threshold: 2 of 3 keys required, the attacker holds one.
# ==============================================================================

THRESHOLD_CASES = ["one-valid", "same-signature-twice", "same-key-two-signatures", "key-of-other-role",
                   "unknown-key", "mislabeled-keyid"]


@pytest.mark.parametrize("case", THRESHOLD_CASES)
@pytest.mark.parametrize("role", ["root", "timestamp", "snapshot", "targets", "role1"])
def test_key_compromise_below_threshold(make_env, role, case):
    env = make_env(keytype="ecdsa", nkeys=3, threshold=2)  # ECDSA: one key can make distinct valid signatures
    repo = with_delegation(env, threshold=2, nkeys=3)
    env.ready()                                            # 2-of-3 signatures everywhere: accepted
    assert_ok(env.download(OK_DELEGATED), "download of a target delegated to role1 (2 of 3 signatures)")
    before, files_before = env.state(), env.downloaded()

    # what the attacker wants signed
    if role == "root":
        attacker = repo.new_key()
        evil = repo.variant("root", version=repo.version("root") + 1)
        evil["keys"][attacker.keyid] = attacker.public
        evil["roles"]["targets"] = {"keyids": [attacker.keyid], "threshold": 1}
    elif role in ("timestamp", "snapshot"):
        evil = repo.variant(role, version=repo.version(role) + 1, expires=expires_in(3650 * DAY))
    else:
        evil = repo.variant(role, version=repo.version(role) + 1)
        evil["targets"][EVIL] = serve_evil_target(repo, EVIL, EVIL_DATA)
    keyids, threshold = repo.role_keyids(role)
    assert threshold == 2 and len(keyids) == 3
    mine = repo.keys[keyids[0]]                           # the one compromised key
    msg = tufrepo.canonical(evil)
    sig = {"keyid": mine.keyid, "sig": mine.sign(msg)}
    if case == "one-valid":
        sigs = [sig]
    elif case == "same-signature-twice":
        sigs = [sig, dict(sig)]
    elif case == "same-key-two-signatures":
        sigs = [sig, {"keyid": mine.keyid, "sig": mine.sign(msg)}]
        assert sigs[0]["sig"] != sigs[1]["sig"]
    elif case == "key-of-other-role":
        other_role = "snapshot" if role == "timestamp" else "timestamp" if role != "role1" else "targets"
        other = repo.signers[other_role][0]
        sigs = [sig, {"keyid": other.keyid, "sig": other.sign(msg)}]
    elif case == "unknown-key":
        stranger = repo.new_key()
        sigs = [sig, {"keyid": stranger.keyid, "sig": stranger.sign(msg)}]
    else:  # mislabeled-keyid: a stranger's signature claiming to be the second key's
        stranger = repo.new_key()
        sigs = [sig, {"keyid": keyids[1], "sig": stranger.sign(msg)}]
    data = tufrepo.serialize({"signatures": sigs, "signed": evil})

    may = {}
    if role == "root":
        env.server.route(f"/metadata/{evil['version']}.root.json", Bytes(data))
    else:
        repo.signed[role] = evil
        repo.publish(role, bump=False, data=data)
        if role == "snapshot":
            repo.update_timestamp()
        elif role != "timestamp":
            repo.update_snapshot()
        may = advanced(repo, *{"timestamp": (), "snapshot": ("timestamp",)}.get(role, ("timestamp", "snapshot")))

    if role == "role1":
        assert_refused(env.download(EVIL), SIG + "|" + NOTFOUND, names_any=["role1", EVIL])
    else:
        assert_refused(env.refresh(), SIG, names=[role])
        assert_kept(before, env.state(), may)
        assert_refused(env.download(EVIL if role == "targets" else TARGET), SIG, names=[role])
    assert env.downloaded() == files_before
    assert_kept(before, env.state(), may)


# ==============================================================================
# Wrong software installation: the bytes must be exactly the signed ones.
# ==============================================================================

BOARD_A, BOARD_B = "fw/board-a.bin", "fw/board-b.bin"
IMAGE_A, IMAGE_B = b"firmware for board A " * 60, b"firmware for board B " * 60

WRONG = ["same-length-other-bytes", "longer", "shorter", "empty", "other-hardware-image",
         "listed-sha512-wrong", "listed-sha256-wrong"]


@pytest.mark.parametrize("case", WRONG)
def test_wrong_software_installation(make_env, case):
    env = make_env(target_hashes=("sha256", "sha512"))
    repo = env.repo
    repo.add_target(BOARD_A, IMAGE_A, custom={"hardwareId": "board-a"})
    repo.add_target(BOARD_B, IMAGE_B, custom={"hardwareId": "board-b"})
    repo.commit("targets")
    env.ready()
    may = {}
    served = {
        "same-length-other-bytes": IMAGE_A[:-1] + b"!",
        "longer": IMAGE_A + b"\x00" * 100,
        "shorter": IMAGE_A[:-1],
        "empty": b"",
        "other-hardware-image": IMAGE_B,
    }.get(case, IMAGE_A)
    if case.startswith("listed-"):  # signed metadata whose second hash is not this file's
        fi = fileinfo(IMAGE_A, ("sha256", "sha512"))
        wrong = "sha512" if case == "listed-sha512-wrong" else "sha256"
        fi["hashes"][wrong] = fileinfo(IMAGE_B, (wrong,))["hashes"][wrong]
        repo.add_target(BOARD_A, IMAGE_A, info=fi, custom={"hardwareId": "board-a"})
        repo.commit("targets")
        may = advanced(repo, "timestamp", "snapshot", "targets")
    for url in repo.target_urls(BOARD_A):
        env.server.route(url, Bytes(served))
    before = env.state()

    res = env.download(BOARD_A)

    assert_refused(res, HASH_OR_LENGTH, names=[BOARD_A])
    assert env.downloaded() == {}
    assert_kept(before, env.state(), may)
    # control: the other board's image, served honestly, installs
    assert_ok(env.download(BOARD_B), "download of an honestly served target")
    assert env.downloaded() == {local_name(BOARD_B): IMAGE_B}


# ==============================================================================
# Slow retrieval (Uptane): a server that trickles or stalls is abandoned in bounded time.
# ==============================================================================

SLOW_CASES = ["timestamp-body-1Bps", "timestamp-headers-1Bps", "timestamp-stall", "target-body-1Bps"]


@pytest.mark.parametrize("case", SLOW_CASES)
def test_slow_retrieval(make_env, case):
    env = make_env()
    repo = env.repo
    big = bytes(range(256)) * 16  # 4 KiB
    repo.add_target(TARGET, big)
    repo.commit("targets")
    env.ready()
    if case.startswith("target"):
        url, name = repo.target_urls(TARGET)[0], TARGET
        behaviour = Trickle(big)
    else:
        repo.commit("targets")        # a newer version waits behind the slow server
        url, name = "/metadata/timestamp.json", "timestamp"
        behaviour = {"timestamp-body-1Bps": Trickle(repo.latest("timestamp")),
                     "timestamp-headers-1Bps": Trickle(repo.latest("timestamp"), headers=False),
                     "timestamp-stall": Stall()}[case]
    before = env.state()
    env.server.route(url, behaviour)

    if case.startswith("target"):
        res = env.download(TARGET, env={"WARD_LOW_SPEED_TIME": str(SLOW_WINDOW)})
    else:
        res = env.refresh(env={"WARD_LOW_SPEED_TIME": str(SLOW_WINDOW)})

    assert env.server.requests_for(url), f"ward never asked for {url}: the test did not test anything"
    assert res.elapsed < SLOW_BOUND, f"ward waited {res.elapsed:.1f}s on a server sending 1 byte/s"
    assert_refused(res, SLOW, names=[name])
    assert env.downloaded() == {}
    assert_kept(before, env.state())
