"""System tests of `ward repo`, the maker's TUF image-repository tool.

Every test drives the real `ward` binary and then checks what it published
with code that ward did not write: canonical JSON and key ids computed here,
ed25519 / ECDSA P-256 signatures verified with the `cryptography` package,
lengths and SHA-256 hashes recomputed from the files. check_repo() walks a
whole repository the way a TUF client would (root chain, every role's
threshold, snapshot and timestamp descriptors, consistent-snapshot copies,
target files) and every happy-path test ends with it.

Run: /usr/bin/python3 -m pytest tests/system/test_repo.py
The binary is $WARD_BUILD/cli/ward (default /work/main/build).
"""

import base64
import datetime
import hashlib
import json
import os
import pty
import select
import shutil
import stat
import subprocess
import threading
import time
import urllib.parse
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

WARD = os.environ.get("WARD_BUILD", "/work/main/build") + "/cli/ward"
TOPLEVEL = ("root", "targets", "snapshot", "timestamp")



@pytest.fixture(autouse=True)
def _ward_built():
    # A missing binary is a failure, not a skip: CI must not pass on a broken build.
    assert os.access(WARD, os.X_OK), f"{WARD} is not built; set WARD_BUILD to the meson build dir"


# ---- running ward --------------------------------------------------------


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "WARD_PASSPHRASE_FILE"}
    env.update(extra)
    return env


def ward(*args, ok=True, env=None, **kw):
    """Run `ward repo ARGS`; with ok=True it must succeed. Never on a terminal."""
    p = subprocess.run(
        [WARD, "repo", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # no controlling terminal: a prompt cannot hang the test
        timeout=60,
        **kw,
    )
    if ok:
        assert p.returncode == 0, f"ward repo {args} failed ({p.returncode}): {p.stderr}"
    return p


def fails(code, *args, want=None, **kw):
    """Run a command that must fail with exit `code` and one `ward: ...` line mentioning `want`."""
    p = ward(*args, ok=False, **kw)
    assert p.returncode == code, f"exit {p.returncode}, wanted {code}: {p.stdout} {p.stderr}"
    errors = [l for l in p.stderr.splitlines() if l.startswith("ward: ") and "warning" not in l]
    assert len(errors) == 1, p.stderr
    if want:
        assert want in errors[0], errors[0]
    return errors[0]


# ---- TUF, computed independently -------------------------------------------


def _canon(obj):
    # OLPC canonical JSON as securesystemslib's encode_canonical writes it: like
    # json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) except
    # that strings escape only '"' and '\\' (an ECDSA key's PEM keeps its raw newlines).
    if isinstance(obj, bool) or obj is None:
        return json.dumps(obj)
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, str):
        return '"' + obj.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(obj, list):
        return "[" + ",".join(_canon(v) for v in obj) + "]"
    if isinstance(obj, dict):
        items = sorted(obj.items(), key=lambda kv: kv[0].encode())
        return "{" + ",".join(_canon(k) + ":" + _canon(v) for k, v in items) + "}"
    raise TypeError(f"canonical JSON cannot encode {type(obj).__name__}")


def canonical(obj):
    return _canon(obj).encode()


def keyid(key):
    return hashlib.sha256(canonical(key)).hexdigest()


def sig_ok(key, sig_hex, msg):
    sig = bytes.fromhex(sig_hex)
    try:
        if key["keytype"] == "ed25519":
            assert key["scheme"] == "ed25519"
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["keyval"]["public"])).verify(sig, msg)
        else:
            assert key["keytype"] in ("ecdsa", "ecdsa-sha2-nistp256")
            assert key["scheme"] == "ecdsa-sha2-nistp256"
            pub = load_pem_public_key(key["keyval"]["public"].encode())
            assert isinstance(pub.curve, ec.SECP256R1)
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def valid_signers(md, keys, rule):
    """Key ids listed in rule whose signatures over md's signed part verify."""
    msg = canonical(md["signed"])
    good = set()
    for s in md["signatures"]:
        kid = s["keyid"]
        if kid in rule["keyids"] and kid in keys and sig_ok(keys[kid], s["sig"], msg):
            good.add(kid)
    return good


def assert_signed(md, keys, rule, what=""):
    good = valid_signers(md, keys, rule)
    assert len(good) >= rule["threshold"], f"{what}: {len(good)} of {rule['threshold']} signatures"
    return good


def sha256_file(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def enc(name):
    return urllib.parse.quote(name, safe="")


class Repo:
    def __init__(self, path):
        self.path = Path(path)
        self.meta = self.path / "repo" / "metadata"
        self.targets = self.path / "repo" / "targets"
        self.keys = self.path / "keys"

    # Metadata files carry the raw role name: a client requests the URL-encoded
    # name and the web server decodes it back. Key files use the encoded name.
    def md(self, role, version=None):
        name = f"{role}.json" if version is None else f"{version}.{role}.json"
        return json.loads((self.meta / name).read_bytes())

    def raw(self, role):
        return (self.meta / f"{role}.json").read_bytes()

    def signed(self, role):
        return self.md(role)["signed"]

    def version(self, role):
        return self.signed(role)["version"]

    def versions(self):
        return {r: self.version(r) for r in TOPLEVEL}

    def snapshot_of_metadata(self):
        """All metadata bytes, to prove a failed command changed nothing."""
        return {p.name: p.read_bytes() for p in sorted(self.meta.iterdir())}

    def key_ids_on_disk(self, role):
        ids = set()
        for pub in self.keys.glob(f"{enc(role)}-*.pub"):
            ids.add(keyid(json.loads(pub.read_text())))
        return ids


def check_repo(r):
    """Verify a whole repository as a client would, plus ward's layout promises."""
    root_versions = sorted(int(p.name.split(".")[0]) for p in r.meta.glob("*.root.json"))
    assert root_versions == list(range(1, len(root_versions) + 1)), root_versions
    prev = None
    for v in root_versions:
        md = r.md("root", v)
        s = md["signed"]
        assert s["_type"] == "root" and s["version"] == v and s["spec_version"] == "1.0.31"
        for kid, key in s["keys"].items():
            assert keyid(key) == kid
        if prev:  # signed by a threshold of the previous root's root keys
            assert_signed(md, prev["keys"], prev["roles"]["root"], f"{v}.root.json by {v - 1}")
        assert_signed(md, s["keys"], s["roles"]["root"], f"{v}.root.json")
        prev = s
    root = r.signed("root")
    assert root == prev, "root.json is not the latest versioned root"
    consistent = root["consistent_snapshot"]
    for role in TOPLEVEL:
        md = r.md(role)
        assert md["signed"]["_type"] == role
        parse_time(md["signed"]["expires"])
        assert_signed(md, root["keys"], root["roles"][role], role)

    ts = r.signed("timestamp")
    assert list(ts["meta"]) == ["snapshot.json"]
    snap_raw = r.raw("snapshot")
    d = ts["meta"]["snapshot.json"]
    assert d["version"] == r.version("snapshot")
    assert d["length"] == len(snap_raw)
    assert d["hashes"] == {"sha256": hashlib.sha256(snap_raw).hexdigest()}
    assert not list(r.meta.glob("*.timestamp.json"))

    # Walk the delegation graph from targets, checking each role's signatures.
    snap = r.signed("snapshot")
    seen = {}
    queue = [("targets", root["keys"], root["roles"]["targets"], None)]
    while queue:
        role, keys, rule, entry = queue.pop(0)
        assert role not in seen
        md = r.md(role)
        s = md["signed"]
        assert s["_type"] == "targets" and s["spec_version"] == "1.0.31"
        assert_signed(md, keys, rule, role)
        raw = r.raw(role)
        d = snap["meta"][f"{role}.json"]
        assert d["version"] == s["version"]
        assert d["length"] == len(raw)
        assert d["hashes"] == {"sha256": hashlib.sha256(raw).hexdigest()}
        if consistent:
            assert r.md(role, s["version"]) == md
            assert (r.meta / f"{s['version']}.{role}.json").read_bytes() == raw
        for path, t in s["targets"].items():
            assert set(t) >= {"length", "hashes"} and list(t["hashes"]) == ["sha256"]
            if consistent:
                d_, _, base = path.rpartition("/")
                f = r.targets / d_ / f"{t['hashes']['sha256']}.{base}"
            else:
                f = r.targets / path
            assert f.is_file(), f
            assert f.stat().st_size == t["length"]
            assert sha256_file(f) == t["hashes"]["sha256"]
        seen[role] = s
        dels = s.get("delegations")
        if dels:
            for kid, key in dels["keys"].items():
                assert keyid(key) == kid
            for e in dels["roles"]:
                assert set(e) >= {"name", "keyids", "threshold", "terminating"}
                assert ("paths" in e) != ("path_hash_prefixes" in e)
                assert all(k in dels["keys"] for k in e["keyids"])
                queue.append((e["name"], dels["keys"], e, e))
    assert set(snap["meta"]) == {f"{n}.json" for n in seen}
    if consistent:
        assert r.md("snapshot", r.version("snapshot")) == r.md("snapshot")

    # Private keys: 0600, in a 0700 directory.
    assert stat.S_IMODE(r.keys.stat().st_mode) == 0o700
    for k in r.keys.rglob("*.key"):
        assert stat.S_IMODE(k.stat().st_mode) == 0o600, k
    return seen


def init(tmp_path, *extra, name="r"):
    d = tmp_path / name
    ward("init", d, "--unencrypted-keys", *extra)
    return Repo(d)


@pytest.fixture
def repo(tmp_path):
    return init(tmp_path)


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "fw-1.0.bin"
    p.write_bytes(os.urandom(100_000) + b"firmware")
    return p


def keyfile_kdf(path):
    """The kdf byte of a ward key file (0 = plain, 1 = scrypt), see ward/keyfile.h."""
    lines = Path(path).read_text().splitlines()
    assert lines[0].startswith("untrusted comment: ")
    rec = base64.b64decode(lines[1])
    assert rec[:8] == b"WARDKEY1"
    return rec[8]


# ---- init ------------------------------------------------------------------


def test_init_layout(tmp_path):
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    r = init(tmp_path, "--root-keys", "3", "--root-threshold", "2")
    root = r.signed("root")
    assert root["version"] == 1 and root["consistent_snapshot"] is True
    assert root["roles"]["root"]["threshold"] == 2 and len(root["roles"]["root"]["keyids"]) == 3
    for role in ("targets", "snapshot", "timestamp"):
        assert root["roles"][role]["threshold"] == 1 and len(root["roles"][role]["keyids"]) == 1
    assert set(root["keys"]) == {k for rule in root["roles"].values() for k in rule["keyids"]}
    for role in TOPLEVEL:
        assert r.version(role) == 1
        assert r.key_ids_on_disk(role) == set(root["roles"][role]["keyids"])
    # Default expiries.
    for role, days in (("root", 365), ("targets", 90), ("snapshot", 7), ("timestamp", 1)):
        left = parse_time(r.signed(role)["expires"]) - before
        assert datetime.timedelta(days=days) <= left <= datetime.timedelta(days=days, minutes=5)
    names = {p.name for p in r.meta.iterdir()}
    assert names == {"1.root.json", "root.json", "1.targets.json", "targets.json",
                     "1.snapshot.json", "snapshot.json", "timestamp.json"}
    assert sorted(p.name for p in r.keys.iterdir()) == sorted(
        [f"root-{i}.{x}" for i in (1, 2, 3) for x in ("key", "pub")]
        + [f"{role}-1.{x}" for role in ("targets", "snapshot", "timestamp") for x in ("key", "pub")])
    for k in r.keys.glob("*.key"):
        assert keyfile_kdf(k) == 0
    assert r.signed("targets")["targets"] == {}
    check_repo(r)


def test_init_ecdsa(tmp_path):
    r = init(tmp_path, "--key-type", "ecdsa")
    for key in r.signed("root")["keys"].values():
        assert key["keytype"] == "ecdsa" and key["scheme"] == "ecdsa-sha2-nistp256"
        assert key["keyval"]["public"].startswith("-----BEGIN PUBLIC KEY-----")
    check_repo(r)


def test_init_refuses_nonempty_and_accepts_empty(tmp_path):
    d = tmp_path / "busy"
    d.mkdir()
    (d / "something").write_text("mine")
    fails(1, "init", d, "--unencrypted-keys", want="not empty")
    assert sorted(p.name for p in d.iterdir()) == ["something"]
    e = tmp_path / "empty"
    e.mkdir()
    ward("init", e, "--unencrypted-keys")
    check_repo(Repo(e))
    fails(1, "init", e, "--unencrypted-keys", want="not empty")


def test_init_expires(tmp_path):
    p = ward("init", tmp_path / "r", "--unencrypted-keys", "--expires", "timestamp=2h",
             "--expires", "snapshot=@2020-01-02T03:04:05Z", "--expires", "root=2y")
    assert "warning" in p.stderr and "snapshot" in p.stderr
    r = Repo(tmp_path / "r")
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs(parse_time(r.signed("timestamp")["expires"]) - now - datetime.timedelta(hours=2)) < \
        datetime.timedelta(minutes=5)
    assert r.signed("snapshot")["expires"] == "2020-01-02T03:04:05Z"
    assert parse_time(r.signed("root")["expires"]) - now > datetime.timedelta(days=729)
    check_repo(r)


# ---- add / remove -----------------------------------------------------------


def test_add_target(repo, image):
    p = ward("add", repo.path, image, "--name", "boards/a/fw.bin", "--hardware-id", "board-a",
             "--version", "1.0.3", "--install-type", "full",
             "--custom", '{"min_version": 3, "notes": "släpp", "version": "overridden"}')
    assert "boards/a/fw.bin" in p.stdout
    t = repo.signed("targets")["targets"]["boards/a/fw.bin"]
    assert t["length"] == image.stat().st_size
    assert t["hashes"] == {"sha256": sha256_file(image)}
    assert t["custom"] == {"hardware_id": "board-a", "version": "1.0.3", "install_type": "full",
                           "min_version": 3, "notes": "släpp"}
    stored = repo.targets / "boards" / "a" / f"{sha256_file(image)}.fw.bin"
    assert stored.read_bytes() == image.read_bytes()
    assert repo.versions() == {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}
    assert (repo.meta / "2.targets.json").exists() and (repo.meta / "1.targets.json").exists()
    assert not [p for p in repo.targets.rglob(".ward-staging*")]
    check_repo(repo)


def test_add_default_name_replace_and_remove(repo, image, tmp_path):
    ward("add", repo.path, image)
    assert list(repo.signed("targets")["targets"]) == ["fw-1.0.bin"]
    image.write_bytes(b"second build")
    p = ward("add", repo.path, image)
    assert "replaced" in p.stdout
    t = repo.signed("targets")["targets"]["fw-1.0.bin"]
    assert t["length"] == 12 and t["custom"] == {}
    assert repo.versions()["targets"] == 3
    check_repo(repo)
    ward("remove", repo.path, "fw-1.0.bin")
    assert repo.signed("targets")["targets"] == {}
    assert repo.versions() == {"root": 1, "targets": 4, "snapshot": 4, "timestamp": 4}
    # Old content-addressed files stay for clients that hold older metadata.
    assert len(list(repo.targets.glob("*.fw-1.0.bin"))) == 2
    check_repo(repo)
    fails(1, "remove", repo.path, "fw-1.0.bin", want="no target")


def test_no_consistent_snapshot(tmp_path, image):
    r = init(tmp_path, "--no-consistent-snapshot")
    assert r.signed("root")["consistent_snapshot"] is False
    ward("add", r.path, image, "--name", "dir/fw.bin")
    assert (r.targets / "dir" / "fw.bin").read_bytes() == image.read_bytes()
    names = {p.name for p in r.meta.iterdir()}
    assert names == {"1.root.json", "root.json", "targets.json", "snapshot.json", "timestamp.json"}
    ward("sign", r.path, "--role", "root")
    assert (r.meta / "2.root.json").exists()
    check_repo(r)


# ---- delegations -----------------------------------------------------------


def test_delegate_paths(repo, image):
    p = ward("delegate", repo.path, "--name", "fw team", "--paths", "fw/*,extra/x.bin",
             "--keys", "3", "--threshold", "2")
    assert "fw team" in p.stdout
    dels = repo.signed("targets")["delegations"]
    (e,) = dels["roles"]
    assert e["name"] == "fw team" and e["threshold"] == 2 and len(e["keyids"]) == 3
    assert e["paths"] == ["fw/*", "extra/x.bin"] and e["terminating"] is False
    assert set(dels["keys"]) == set(e["keyids"]) == repo.key_ids_on_disk("fw team")
    assert (repo.keys / "fw%20team-1.key").exists()
    d = repo.md("fw team")
    assert d["signed"]["version"] == 1 and d["signed"]["targets"] == {}
    assert (repo.meta / "1.fw team.json").exists() and (repo.meta / "fw team.json").exists()
    assert repo.versions() == {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}
    assert repo.signed("snapshot")["meta"]["fw team.json"]["version"] == 1
    check_repo(repo)

    ward("add", repo.path, image, "--role", "fw team", "--name", "fw/board.bin")
    assert list(repo.signed("fw team")["targets"]) == ["fw/board.bin"]
    assert repo.version("fw team") == 2 and repo.version("targets") == 2
    assert repo.signed("snapshot")["meta"]["fw team.json"]["version"] == 2
    check_repo(repo)

    # Outside the delegated paths ("*" does not cross "/"): refused, nothing changes.
    before = repo.snapshot_of_metadata()
    fails(1, "add", repo.path, image, "--role", "fw team", "--name", "fw/a/b.bin", want="outside")
    fails(1, "add", repo.path, image, "--role", "fw team", "--name", "other.bin", want="outside")
    assert repo.snapshot_of_metadata() == before
    fails(1, "delegate", repo.path, "--name", "fw team", "--paths", "x", want="exists")
    fails(2, "delegate", repo.path, "--name", "snapshot", "--paths", "x", want="top-level")


def test_delegate_hash_prefixes_terminating_nested(repo, image):
    ward("delegate", repo.path, "--name", "bins", "--hash-prefixes", "0,1,2,3,4,5,6,7,8,9,A,b,c,d,e,f",
         "--terminating", "--key-type", "ecdsa")
    (e,) = repo.signed("targets")["delegations"]["roles"]
    assert e["path_hash_prefixes"][10] == "a" and "paths" not in e and e["terminating"] is True
    fails(2, "delegate", repo.path, "--name", "bins/sub", "--from", "bins", "--hash-prefixes", "0",
          want="role name")
    ward("delegate", repo.path, "--name", "bins sub", "--from", "bins", "--hash-prefixes", "0,1,2,3,4,5,6,7")
    assert repo.signed("bins")["delegations"]["roles"][0]["name"] == "bins sub"
    assert (repo.meta / "bins sub.json").exists() and (repo.keys / "bins%20sub-1.key").exists()
    assert repo.versions()["targets"] == 2 and repo.version("bins") == 2
    # A path whose hash starts with 0-7 can go to "bins sub"; others only to bins.
    names = [f"img-{i}.bin" for i in range(40)]
    low = next(n for n in names if hashlib.sha256(n.encode()).hexdigest()[0] in "01234567")
    high = next(n for n in names if hashlib.sha256(n.encode()).hexdigest()[0] in "89abcdef")
    ward("add", repo.path, image, "--role", "bins sub", "--name", low)
    fails(1, "add", repo.path, image, "--role", "bins sub", "--name", high, want="outside")
    ward("add", repo.path, image, "--role", "bins", "--name", high)
    seen = check_repo(repo)
    assert set(seen) == {"targets", "bins", "bins sub"}


# ---- sign / timestamp / rotate ---------------------------------------------


def test_sign(repo):
    ward("sign", repo.path)
    assert repo.versions() == {"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}
    ward("sign", repo.path, "--role", "root", "--role", "targets", "--expires", "targets=30d",
         "--expires", "root=@2030-01-01T00:00:00Z")
    assert repo.versions() == {"root": 2, "targets": 3, "snapshot": 3, "timestamp": 3}
    assert repo.signed("root")["expires"] == "2030-01-01T00:00:00Z"
    left = parse_time(repo.signed("targets")["expires"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=29) < left <= datetime.timedelta(days=30)
    assert repo.md("root", 1)["signed"]["version"] == 1
    check_repo(repo)
    fails(1, "sign", repo.path, "--expires", "snapshot=1d", "--role", "nope", want="nope")
    fails(1, "sign", repo.path, "--expires", "nope=1d", want="nope")


def test_sign_expired_for_tests(repo):
    p = ward("sign", repo.path, "--expires", "targets=@2001-01-01T00:00:00Z")
    assert "warning" in p.stderr
    assert repo.signed("targets")["expires"] == "2001-01-01T00:00:00Z"
    st = json.loads(ward("status", repo.path, "--json").stdout)
    assert st["roles"]["targets"]["expired"] is True
    assert "EXPIRED" in ward("status", repo.path).stdout
    check_repo(repo)


def test_timestamp(repo):
    snap = repo.raw("snapshot")
    ward("timestamp", repo.path)
    assert repo.versions() == {"root": 1, "targets": 1, "snapshot": 1, "timestamp": 2}
    assert repo.raw("snapshot") == snap
    ward("timestamp", repo.path, "--snapshot", "--expires", "2h")
    assert repo.versions() == {"root": 1, "targets": 1, "snapshot": 2, "timestamp": 3}
    left = parse_time(repo.signed("timestamp")["expires"]) - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=115) < left <= datetime.timedelta(hours=2)
    check_repo(repo)
    # The online job needs only the online keys.
    for role in ("root", "targets"):
        for f in repo.keys.glob(f"{role}-*.key"):
            f.unlink()
    ward("timestamp", repo.path, "--snapshot", "--expires", "snapshot=3d")
    assert repo.versions()["timestamp"] == 4
    check_repo(repo)


def test_rotate_root(tmp_path):
    r = init(tmp_path, "--root-keys", "2", "--root-threshold", "2")
    old = r.signed("root")
    ward("rotate", r.path, "--role", "root", "--keys", "3", "--threshold", "2")
    new = r.signed("root")
    assert new["version"] == 2
    assert new["roles"]["root"]["threshold"] == 2 and len(new["roles"]["root"]["keyids"]) == 3
    assert not set(new["roles"]["root"]["keyids"]) & set(old["roles"]["root"]["keyids"])
    assert set(new["keys"]) == {k for rule in new["roles"].values() for k in rule["keyids"]}
    md = r.md("root", 2)
    assert_signed(md, old["keys"], old["roles"]["root"], "by the old root")
    assert_signed(md, new["keys"], new["roles"]["root"], "by the new root")
    assert r.key_ids_on_disk("root") == set(new["roles"]["root"]["keyids"])
    retired = r.keys / "retired"
    assert sorted(p.name for p in retired.iterdir()) == ["root-1.key", "root-1.pub", "root-2.key", "root-2.pub"]
    assert stat.S_IMODE(retired.stat().st_mode) == 0o700
    assert r.versions() == {"root": 2, "targets": 1, "snapshot": 1, "timestamp": 1}
    check_repo(r)
    # The new root keys work: rotate again with defaults (3 keys, threshold 2).
    ward("rotate", r.path, "--role", "root")
    assert r.version("root") == 3 and len(r.signed("root")["roles"]["root"]["keyids"]) == 3
    assert len(list(retired.glob("root-*.key"))) == 5
    check_repo(r)


def test_rotate_targets_and_online_roles(repo, image, tmp_path):
    # A decoy in retired/ must not be overwritten by the rotation.
    (repo.keys / "retired").mkdir(mode=0o700)
    (repo.keys / "retired" / "targets-1.key").write_text("decoy")
    (repo.keys / "retired" / "targets-1.key").chmod(0o600)
    old = repo.signed("root")
    ward("rotate", repo.path, "--role", "targets", "--key-type", "ecdsa")
    root = repo.signed("root")
    assert repo.versions() == {"root": 2, "targets": 2, "snapshot": 2, "timestamp": 2}
    (kid,) = root["roles"]["targets"]["keyids"]
    assert root["keys"][kid]["keytype"] == "ecdsa"
    assert old["roles"]["targets"]["keyids"][0] not in root["keys"]
    assert_signed(repo.md("root", 2), old["keys"], old["roles"]["root"])
    assert (repo.keys / "retired" / "targets-1.key").read_text() == "decoy"
    assert len(list((repo.keys / "retired").glob("targets-1*"))) == 3
    assert repo.key_ids_on_disk("targets") == {kid}
    check_repo(repo)
    ward("add", repo.path, image)
    check_repo(repo)
    for role in ("snapshot", "timestamp"):
        ward("rotate", repo.path, "--role", role)
        check_repo(repo)
    assert repo.versions() == {"root": 4, "targets": 3, "snapshot": 5, "timestamp": 5}


def test_rotate_delegated(repo):
    ward("delegate", repo.path, "--name", "team", "--paths", "t/*", "--keys", "2", "--threshold", "1")
    before = set(repo.signed("targets")["delegations"]["keys"])
    ward("rotate", repo.path, "--role", "team", "--keys", "2", "--threshold", "2")
    dels = repo.signed("targets")["delegations"]
    (e,) = dels["roles"]
    assert e["threshold"] == 2 and len(e["keyids"]) == 2 and set(dels["keys"]) == set(e["keyids"])
    assert not before & set(dels["keys"])
    assert repo.version("team") == 2 and repo.version("targets") == 3 and repo.version("root") == 1
    check_repo(repo)


# ---- status and help --------------------------------------------------------


def test_status(repo, image):
    ward("add", repo.path, image)
    ward("delegate", repo.path, "--name", "team", "--paths", "t/*")
    st = json.loads(ward("status", repo.path, "--json").stdout)
    assert st["consistent_snapshot"] is True and st["target_count"] == 1
    assert st["roles"]["targets"]["version"] == 3 and st["roles"]["targets"]["targets"] == 1
    assert st["roles"]["team"]["delegated_by"] == "targets" and st["roles"]["team"]["paths"] == ["t/*"]
    for role in TOPLEVEL:
        assert st["roles"][role]["keyids"] == repo.signed("root")["roles"][role]["keyids"]
        assert st["roles"][role]["threshold"] == 1 and st["roles"][role]["expired"] is False
    text = ward("status", repo.path).stdout
    for role in (*TOPLEVEL, "team"):
        assert role in text
    fails(1, "status", repo.path / "nothing", want="not a ward repository")
    # A copy without keys/ (a mirror, the web server) can still be inspected.
    mirror = repo.path.parent / "mirror"
    shutil.copytree(repo.path / "repo", mirror / "repo")
    st = json.loads(ward("status", mirror, "--json").stdout)
    assert st["encrypted_keys"] is None and st["roles"]["team"]["version"] == 1
    assert "no keys" in ward("status", mirror).stdout


def test_help():
    p = ward("--help")
    for cmd in ("init", "add", "remove", "delegate", "sign", "rotate", "timestamp", "status"):
        assert cmd in p.stdout
        h = ward(cmd, "--help").stdout
        assert h.startswith(f"usage: ward repo {cmd}")
    assert "--hardware-id" in ward("add", "--help").stdout
    fails(2, "frobnicate", want="unknown command")
    fails(2, "add", "x", "y", "--bogus", want="unknown option")
    fails(2, "add", "x", want="missing")
    fails(2, "init", "x", "--root-keys", want="needs a value")
    assert ward(ok=False).returncode == 2


# ---- passphrases --------------------------------------------------------------


def test_passphrase(tmp_path, image):
    good = tmp_path / "pass"
    good.write_text("correct horse battery staple\n")
    bad = tmp_path / "bad"
    bad.write_text("Correct horse battery staple\n")
    d = tmp_path / "r"
    fails(1, "init", d, want="no terminal")  # nobody to ask: nothing is created
    assert not d.exists()
    empty = tmp_path / "empty"
    empty.write_text("")
    fails(1, "init", d, "--passphrase-file", empty, want="empty")
    assert not d.exists()
    p = ward("init", d, "--passphrase-file", good)
    assert "correct horse" not in p.stdout + p.stderr
    r = Repo(d)
    for k in r.keys.glob("*.key"):
        assert keyfile_kdf(k) == 1
        assert stat.S_IMODE(k.stat().st_mode) == 0o600
    before = r.snapshot_of_metadata()
    err = fails(1, "add", d, image, "--passphrase-file", bad, want="wrong passphrase")
    assert "horse" not in err
    fails(1, "add", d, image, env=clean_env(WARD_PASSPHRASE_FILE=str(bad)), want="wrong passphrase")
    fails(1, "add", d, image, want="no terminal")  # no file, no terminal: asks nobody, changes nothing
    assert r.snapshot_of_metadata() == before
    assert not list(r.targets.rglob("*"))
    ward("add", d, image, env=clean_env(WARD_PASSPHRASE_FILE=str(good)))
    ward("delegate", d, "--name", "team", "--paths", "t/*", "--passphrase-file", good)
    assert keyfile_kdf(r.keys / "team-1.key") == 1
    assert r.versions() == {"root": 1, "targets": 3, "snapshot": 3, "timestamp": 3}
    check_repo(r)


def run_on_tty(args, answers, timeout=30):
    """Run `ward repo ARGS` on a pseudo-terminal, typing each answer at a prompt ending in ':'."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the pty is its controlling terminal
        os.environ.pop("WARD_PASSPHRASE_FILE", None)
        os.execv(WARD, [WARD, "repo", *map(str, args)])
    out, todo, deadline = b"", list(answers), time.time() + timeout
    try:
        while time.time() < deadline:
            if fd not in select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
            if todo and out.rstrip().endswith(b":"):
                os.write(fd, todo.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_passphrase_on_terminal(tmp_path, image):
    d = tmp_path / "r"
    rc, out = run_on_tty(["init", d], ["first try", "first tyr"])
    assert rc == 1 and "do not match" in out and not d.exists()
    rc, out = run_on_tty(["init", d], ["tty secret", "tty secret"])
    assert rc == 0 and "Repeat the passphrase" in out
    assert "tty secret" not in out  # echo was off
    rc, out = run_on_tty(["add", d, image], ["tty secret"])
    assert rc == 0 and "tty secret" not in out
    rc, out = run_on_tty(["add", d, image], ["wrong"])
    assert rc == 1 and "wrong passphrase" in out
    assert Repo(d).versions()["targets"] == 2


# ---- hostile input --------------------------------------------------------------


@pytest.mark.parametrize("name", ["/etc/passwd", "../up", "a/../b", "a//b", "a/", ".", "a/./b",
                                  "win\\path", "", "line\nbreak", "x" * 1025])
def test_bad_target_paths(repo, image, name):
    before = repo.snapshot_of_metadata()
    fails(2, "add", repo.path, image, "--name", name, want="target path")
    assert repo.snapshot_of_metadata() == before


def test_missing_and_odd_files(repo, tmp_path):
    before = repo.snapshot_of_metadata()
    fails(1, "add", repo.path, tmp_path / "absent.bin", want="No such file")
    fails(1, "add", repo.path, tmp_path, "--name", "dir.bin", want="not a regular file")
    assert repo.snapshot_of_metadata() == before
    assert not list(repo.targets.rglob("*"))
    fails(1, "add", tmp_path / "norepo", tmp_path, want="not a ward repository")


@pytest.mark.parametrize("custom", ["{", "[1]", '"s"', '{"a": 1.5}', '{"a": 1, "a": 2}', "{} {}"])
def test_malformed_custom(repo, image, custom):
    fails(2, "add", repo.path, image, "--custom", custom, want="--custom")


def test_bad_option_values(repo, image):
    for bad in ("targets=-1d", "targets=0d", "targets=7", "targets=7x", "targets=", "targets=d",
                "nonsense", "targets=@2020-13-01T00:00:00Z", "targets=99999999999y"):
        fails(2, "sign", repo.path, "--expires", bad, want="--expires")
    fails(2, "timestamp", repo.path, "--expires", "soon", want="--expires")
    fails(2, "add", repo.path, image, "--install-type", "partial", want="install-type")
    fails(2, "init", repo.path / "x", "--key-type", "rsa", want="key-type")
    fails(2, "init", repo.path / "x", "--expires", "team=1d", want="team")
    fails(2, "init", repo.path / "x", "--root-keys", "0", want="root-keys")
    fails(2, "delegate", repo.path, "--name", "t", want="--paths")
    fails(2, "delegate", repo.path, "--name", "t", "--paths", "a,,b", want="--paths")
    fails(2, "delegate", repo.path, "--name", "t", "--hash-prefixes", "xyz", want="hexadecimal")
    fails(2, "delegate", repo.path, "--name", "t", "--paths", "a", "--hash-prefixes", "ab")
    fails(2, "rotate", repo.path, want="--role")
    fails(2, "add", repo.path, image, "--name", "a", "--name", "b", want="twice")


def test_unknown_roles(repo, image):
    before = repo.snapshot_of_metadata()
    fails(1, "add", repo.path, image, "--role", "nope", want="nope")
    fails(1, "add", repo.path, image, "--role", "snapshot", want="not a targets role")
    fails(1, "remove", repo.path, "x", "--role", "nope", want="nope")
    fails(1, "sign", repo.path, "--role", "nope", want="nope")
    fails(1, "rotate", repo.path, "--role", "nope", want="nope")
    fails(1, "delegate", repo.path, "--name", "d", "--from", "nope", "--paths", "x", want="nope")
    fails(1, "add", repo.path, image, "--expires", "nope=1d", want="nope")
    fails(1, "add", repo.path, image, "--expires", "root=1d", want="does not re-sign root")
    assert repo.snapshot_of_metadata() == before


def test_threshold_above_keys(repo, tmp_path):
    fails(2, "init", tmp_path / "x", "--unencrypted-keys", "--root-keys", "2", "--root-threshold", "3",
          want="root-threshold")
    assert not (tmp_path / "x").exists()
    fails(2, "delegate", repo.path, "--name", "d", "--paths", "x", "--keys", "2", "--threshold", "3",
          want="threshold")
    fails(2, "rotate", repo.path, "--role", "targets", "--keys", "1", "--threshold", "2",
          want="threshold")
    fails(2, "delegate", repo.path, "--name", "d", "--paths", "x", "--keys", "17", want="keys")


# ---- robustness ------------------------------------------------------------------


def test_missing_key_leaves_repository_unchanged(repo, image):
    (repo.keys / "snapshot-1.key").unlink()
    before = repo.snapshot_of_metadata()
    fails(1, "add", repo.path, image, want="cannot sign snapshot")
    assert repo.snapshot_of_metadata() == before
    assert not list(repo.targets.rglob("*"))  # the staged copy is gone too
    fails(1, "rotate", repo.path, "--role", "targets", want="cannot sign snapshot")
    assert repo.snapshot_of_metadata() == before
    assert sorted(p.name for p in repo.keys.glob("targets-*")) == ["targets-1.key", "targets-1.pub"]


def test_concurrent_adds(repo, tmp_path):
    n = 6
    files = []
    for i in range(n):
        f = tmp_path / f"img{i}.bin"
        f.write_bytes(os.urandom(5000))
        files.append(f)
    procs = [subprocess.Popen([WARD, "repo", "add", str(repo.path), str(f)], env=clean_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True) for f in files]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    assert set(repo.signed("targets")["targets"]) == {f.name for f in files}
    assert repo.versions() == {"root": 1, "targets": 1 + n, "snapshot": 1 + n, "timestamp": 1 + n}
    check_repo(repo)


# ---- a real client ------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_client_refresh_and_download(tmp_path, image):
    """ward's own TUF client follows root rotation and delegations of a ward repository."""
    r = init(tmp_path, "--root-keys", "2", "--root-threshold", "1")
    ward("add", r.path, image, "--name", "top/fw.bin")
    ward("delegate", r.path, "--name", "team", "--paths", "team/*", "--key-type", "ecdsa")
    ward("add", r.path, image, "--role", "team", "--name", "team/fw.bin")
    client = tmp_path / "client"
    subprocess.run([WARD, "tuf", "--metadata-dir", client, "init", r.meta / "1.root.json"],
                   check=True, capture_output=True)
    ward("rotate", r.path, "--role", "root")
    ward("rotate", r.path, "--role", "timestamp")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(QuietHandler, directory=str(r.path / "repo")))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        out = tmp_path / "dl"
        out.mkdir()
        p = subprocess.run([WARD, "tuf", "--metadata-dir", client, "--metadata-url", f"{base}/metadata",
                            "--target-name", "top/fw.bin", "--target-name", "team/fw.bin",
                            "--target-base-url", f"{base}/targets", "--target-dir", out, "download"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert (out / "top%2Ffw.bin").read_bytes() == image.read_bytes()
        assert (out / "team%2Ffw.bin").read_bytes() == image.read_bytes()
        assert json.loads((client / "root.json").read_bytes())["signed"]["version"] == 3
    finally:
        srv.shutdown()
