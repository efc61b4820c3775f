"""Interoperability of ward's TUF repository and client with tuf-js.

tuf-js is the reference TUF implementation in JavaScript; ward did not write
it, so agreement with it is evidence that ward speaks TUF 1.0 and not a
private dialect. Both directions, both key types ward supports:

(a) ward repo -> tuf-js: ``ward repo`` builds and signs a repository (nested
    target path, a path with a space, a delegated role with its own target,
    consistent snapshots on and off); tuf-js's Updater (js/tufjs_client.mjs)
    refreshes and downloads from it over loopback HTTP, also after ward
    rotates the root key (1-of-1 and 2-of-3) and the timestamp key, and
    refuses a target file that was tampered with.
(b) tuf-js -> ward: js/make_repo.mjs builds a repository with @tufjs/models
    (consistent snapshots on and off, with and without hashes in
    timestamp/snapshot, a delegated role, a rotated root); ``ward tuf
    init/refresh/download`` must accept it, store the trusted metadata under
    the names the tuf-conformance CLI prescribes, fetch the right files, save
    the target bytes, and refuse a tampered target.
Both directions also use a delegated role whose name needs URL-encoding.

Acceptance is paired with refusal (tampered bytes, a hidden root rotation, a
root below its signature threshold), so a client that accepts everything
cannot pass. Metadata is served by tests/system/httpserver.py, which, like
any static web server, percent-decodes the request path to find the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import pytest

KEY_TYPES = ["ed25519", "ecdsa"]


# ---------------------------------------------------------------- helpers


def _node(npm_js: Path, script: str, *args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["node", str(npm_js / script), *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def tufjs_client(npm_js, metadata_dir, metadata_url, root=None, target_base_url=None,
                 target_dir=None, targets=()):
    args = ["--metadata-dir", metadata_dir, "--metadata-url", metadata_url]
    if root is not None:
        args += ["--root", root]
    if targets:
        args += ["--target-base-url", target_base_url, "--target-dir", target_dir]
        for t in targets:
            args += ["--target-name", t]
    return _node(npm_js, "tufjs_client.mjs", *args)


def make_repo(npm_js, out, key_type, *extra) -> dict:
    p = _node(npm_js, "make_repo.mjs", "--out", out, "--key-type", key_type, *extra)
    assert p.returncode == 0, f"make_repo.mjs failed:\n{p.stderr}"
    return json.loads(p.stdout)


def ok(p: subprocess.CompletedProcess, what: str):
    assert p.returncode == 0, (
        f"{what}: exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    )


def refused(p: subprocess.CompletedProcess, what: str) -> str:
    """Assert exit 1 with a one-line reason on stderr; return that line."""
    assert p.returncode == 1, (
        f"{what}: expected exit 1, got {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    )
    reason = p.stderr.strip()
    assert reason, f"{what}: exit 1 but nothing on stderr"
    assert "\n" not in reason, f"{what}: reason is not one line:\n{p.stderr}"
    return reason


def encoded(target_path: str) -> str:
    """The file name a conformance client stores a target under."""
    return urllib.parse.quote(target_path, safe="")


def fetched(srv, path: str) -> int:
    """How many times srv served `path`, however the client percent-encoded it."""
    return sum(1 for p in srv.paths() if urllib.parse.unquote(p) == path)


def signed(path: Path) -> dict:
    return json.loads(path.read_bytes())["signed"]


def flip_byte(path: Path, offset: int = 0):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def tamper(path: Path, how: str):
    if how == "flip":
        flip_byte(path, len(path.read_bytes()) // 2)
    elif how == "append":
        with open(path, "ab") as f:
            f.write(b"\0")
    else:
        raise ValueError(how)


def files_with_content(root: Path, content: bytes) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.read_bytes() == content)


def payloads(src: Path) -> dict[str, Path]:
    """Target files: a nested path, a top-level file, a path that needs
    URL-encoding (a space), and a delegated one."""
    src.mkdir(parents=True, exist_ok=True)
    files = {
        "fw/app.bin": os.urandom(64 * 1024 + 17),
        "notes.txt": b"release notes\n",
        "docs/read me.txt": b"a target path with a space\n",
        "delegated/module.bin": os.urandom(4099),
    }
    out = {}
    for name, data in files.items():
        p = src / name.replace("/", "_")
        p.write_bytes(data)
        out[name] = p
    return out


def canonical_json(obj) -> bytes:
    """OLPC canonical JSON as TUF uses it (strings and dicts suffice for key
    objects): sorted keys, no whitespace, only '"' and '\\' escaped."""
    if isinstance(obj, str):
        return b'"' + obj.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'
    if isinstance(obj, dict):
        return b"{" + b",".join(canonical_json(k) + b":" + canonical_json(obj[k])
                                for k in sorted(obj)) + b"}"
    raise TypeError(type(obj))


def assert_key_type(root_json: Path, key_type: str):
    """Every key of this root is of the parametrized type (so the test
    exercises what its name says)."""
    keys = signed(root_json)["keys"]
    assert keys, f"{root_json} lists no keys"
    for keyid, k in keys.items():
        if key_type == "ed25519":
            assert (k["keytype"], k["scheme"]) == ("ed25519", "ed25519"), (keyid, k)
            assert len(k["keyval"]["public"]) == 64, (keyid, k)
        else:
            assert k["keytype"] in ("ecdsa", "ecdsa-sha2-nistp256"), (keyid, k)
            assert k["scheme"] == "ecdsa-sha2-nistp256", (keyid, k)
            assert k["keyval"]["public"].startswith("-----BEGIN PUBLIC KEY-----"), (keyid, k)
        # The key id is SHA-256 of the key object's canonical JSON.
        canon = canonical_json({"keytype": k["keytype"], "scheme": k["scheme"],
                                "keyval": {"public": k["keyval"]["public"]}})
        assert hashlib.sha256(canon).hexdigest() == keyid, (
            f"key id {keyid} is not sha256 of the canonical key object"
        )


def newest_root(metadata: Path) -> tuple[int, Path]:
    versions = sorted(
        int(p.name.split(".")[0]) for p in metadata.glob("*.root.json")
        if p.name.split(".")[0].isdigit()
    )
    assert versions, f"no N.root.json in {metadata}"
    return versions[-1], metadata / f"{versions[-1]}.root.json"


def role_keyids(root_json: Path, role: str) -> set[str]:
    return set(signed(root_json)["roles"][role]["keyids"])


# ------------------------------------------------- (a) ward repo -> tuf-js


HWID, IMAGE_VERSION = "board-rev-b", "1.4.2"


def ward_repo_with_targets(ward, base: Path, key_type: str, *init_args) -> tuple[Path, dict[str, Path]]:
    """`ward repo init` + three targets, one of them through a delegation."""
    d = base / "wrepo"
    ok(ward("repo", "init", d, "--key-type", key_type, "--unencrypted-keys", *init_args),
       "ward repo init")
    files = payloads(base / "src")
    ok(ward("repo", "add", d, files["fw/app.bin"], "--name", "fw/app.bin",
            "--hardware-id", HWID, "--version", IMAGE_VERSION), "ward repo add fw/app.bin")
    ok(ward("repo", "add", d, files["notes.txt"], "--name", "notes.txt"), "ward repo add notes.txt")
    ok(ward("repo", "add", d, files["docs/read me.txt"], "--name", "docs/read me.txt"),
       "ward repo add 'docs/read me.txt'")
    ok(ward("repo", "delegate", d, "--name", "module-team", "--paths", "delegated/*"),
       "ward repo delegate")
    ok(ward("repo", "add", d, files["delegated/module.bin"], "--name", "delegated/module.bin",
            "--role", "module-team"), "ward repo add --role module-team")
    assert (d / "repo" / "metadata" / "1.root.json").is_file()
    assert (d / "repo" / "targets").is_dir()
    return d, files


@pytest.mark.parametrize("consistent", [True, False], ids=["consistent", "plain"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ward_repo_to_tufjs(ward, npm_js, http_server, tmp_path, key_type, consistent):
    d, files = ward_repo_with_targets(ward, tmp_path, key_type,
                                      *([] if consistent else ["--no-consistent-snapshot"]))
    meta = d / "repo" / "metadata"
    assert_key_type(meta / "1.root.json", key_type)
    assert signed(meta / "1.root.json")["consistent_snapshot"] is consistent

    srv = http_server(d / "repo")
    md, out = tmp_path / "tufjs-md", tmp_path / "tufjs-out"
    p = tufjs_client(npm_js, md, srv.url + "/metadata", root=meta / "1.root.json",
                     target_base_url=srv.url + "/targets", target_dir=out,
                     targets=list(files))
    ok(p, "tuf-js refresh+download from a ward repository")

    for name, src in files.items():
        got = out / encoded(name)
        assert got.is_file(), f"tuf-js did not save {name}: {sorted(os.listdir(out))}"
        assert got.read_bytes() == src.read_bytes(), f"{name}: bytes differ"
    for f in ("root.json", "timestamp.json", "snapshot.json", "targets.json", "module-team.json"):
        assert (md / f).is_file(), f"tuf-js did not trust {f}: {sorted(os.listdir(md))}"
    # tuf-js reached the delegated target through ward's delegation metadata.
    assert any(p.endswith("module-team.json") for p in srv.paths()), srv.paths()
    assert signed(md / "targets.json")["delegations"]["roles"][0]["name"] == "module-team"
    # ward's image information travels in the target's "custom" object.
    custom = signed(md / "targets.json")["targets"]["fw/app.bin"]["custom"]
    assert custom["hardware_id"] == HWID and custom["version"] == IMAGE_VERSION, custom
    # With consistent snapshots tuf-js asked for versioned metadata and
    # hash-prefixed targets; without, for the plain names.
    paths = srv.paths()
    sha = hashlib.sha256(files["fw/app.bin"].read_bytes()).hexdigest()
    if consistent:
        assert f"/targets/fw/{sha}.app.bin" in paths, paths
        assert any(p.startswith("/metadata/") and p.endswith(".snapshot.json")
                   and p.split("/")[-1].split(".")[0].isdigit() for p in paths), paths
    else:
        assert "/targets/fw/app.bin" in paths and "/metadata/snapshot.json" in paths, paths


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tufjs_follows_ward_key_rotations(ward, npm_js, http_server, tmp_path, key_type):
    d, files = ward_repo_with_targets(ward, tmp_path, key_type)
    meta = d / "repo" / "metadata"
    srv = http_server(d / "repo")
    md = tmp_path / "tufjs-md"
    url = srv.url + "/metadata"
    ok(tufjs_client(npm_js, md, url, root=meta / "1.root.json"), "tuf-js first refresh")
    assert signed(md / "root.json")["version"] == 1

    # Root key rotation: a new root version, signed so that a client trusting
    # the old root accepts it.
    v_before, root_before = newest_root(meta)
    ok(ward("repo", "rotate", d, "--role", "root"), "ward repo rotate --role root")
    v_root, root_after = newest_root(meta)
    assert v_root == v_before + 1, f"rotate --role root made no new root ({v_before} -> {v_root})"
    assert role_keyids(root_after, "root").isdisjoint(role_keyids(root_before, "root")), (
        "rotate --role root kept the old root key")
    assert_key_type(root_after, key_type)
    srv.clear()
    ok(tufjs_client(npm_js, md, url), "tuf-js refresh after ward root rotation")
    assert f"/metadata/{v_root}.root.json" in srv.paths()
    assert signed(md / "root.json")["version"] == v_root

    # Timestamp key rotation: root lists the new key, timestamp is re-signed.
    ok(ward("repo", "rotate", d, "--role", "timestamp"), "ward repo rotate --role timestamp")
    v_ts, root_ts = newest_root(meta)
    assert v_ts == v_root + 1, "rotate --role timestamp made no new root version"
    new_ts_keys = role_keyids(root_ts, "timestamp")
    assert new_ts_keys.isdisjoint(role_keyids(root_after, "timestamp")), (
        "rotate --role timestamp kept the old timestamp key")
    ts_version_before = signed(md / "timestamp.json")["version"]
    ok(tufjs_client(npm_js, md, url), "tuf-js refresh after ward timestamp rotation")
    assert signed(md / "root.json")["version"] == v_ts
    trusted_ts = json.loads((md / "timestamp.json").read_bytes())
    assert {s["keyid"] for s in trusted_ts["signatures"]} & new_ts_keys, (
        "tuf-js still trusts a timestamp not signed by the rotated timestamp key")
    # Re-signing alone need not bump the version, but it must never go back.
    assert trusted_ts["signed"]["version"] >= ts_version_before

    # A routine `ward repo timestamp` is accepted as a newer timestamp.
    ok(ward("repo", "timestamp", d), "ward repo timestamp")
    ok(tufjs_client(npm_js, md, url), "tuf-js refresh after ward repo timestamp")
    assert signed(md / "timestamp.json")["version"] > trusted_ts["signed"]["version"]

    # A new client that starts from 1.root.json walks every rotation and
    # still downloads the targets.
    md2, out2 = tmp_path / "tufjs-md2", tmp_path / "tufjs-out2"
    srv.clear()
    ok(tufjs_client(npm_js, md2, url, root=meta / "1.root.json",
                    target_base_url=srv.url + "/targets", target_dir=out2,
                    targets=["fw/app.bin", "delegated/module.bin"]),
       "fresh tuf-js client after rotations")
    for v in range(2, v_ts + 1):
        assert f"/metadata/{v}.root.json" in srv.paths()
    assert (out2 / encoded("fw/app.bin")).read_bytes() == files["fw/app.bin"].read_bytes()
    assert (out2 / encoded("delegated/module.bin")).read_bytes() == \
        files["delegated/module.bin"].read_bytes()


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tufjs_follows_ward_threshold_root_rotation(ward, npm_js, http_server, tmp_path, key_type):
    """A 2-of-3 root, rotated to three new keys: ward must sign the new root
    with a threshold of the old keys and of the new ones."""
    d = tmp_path / "wrepo"
    ok(ward("repo", "init", d, "--key-type", key_type, "--root-keys", "3", "--root-threshold", "2",
            "--unencrypted-keys"), "ward repo init --root-keys 3 --root-threshold 2")
    src = tmp_path / "app.bin"
    src.write_bytes(os.urandom(1000))
    ok(ward("repo", "add", d, src, "--name", "fw/app.bin"), "ward repo add")
    ok(ward("repo", "rotate", d, "--role", "root"), "ward repo rotate --role root")
    meta = d / "repo" / "metadata"
    r1, r2 = signed(meta / "1.root.json"), signed(meta / "2.root.json")
    assert r1["roles"]["root"]["threshold"] == 2 and len(r1["roles"]["root"]["keyids"]) == 3, r1
    assert r2["roles"]["root"]["threshold"] == 2 and len(r2["roles"]["root"]["keyids"]) == 3, r2
    assert set(r1["roles"]["root"]["keyids"]).isdisjoint(r2["roles"]["root"]["keyids"])

    srv = http_server(d / "repo")
    ok(tufjs_client(npm_js, tmp_path / "md", srv.url + "/metadata", root=meta / "1.root.json",
                    target_base_url=srv.url + "/targets", target_dir=tmp_path / "out",
                    targets=["fw/app.bin"]), "tuf-js across a 2-of-3 root rotation")
    assert signed(tmp_path / "md" / "root.json")["version"] == 2
    assert (tmp_path / "out" / encoded("fw/app.bin")).read_bytes() == src.read_bytes()

    # Control: leave one old-root signature on 2.root.json (below the old
    # threshold) and tuf-js must refuse it: the acceptance above rested on
    # ward's threshold signatures.
    doc = json.loads((meta / "2.root.json").read_bytes())
    old = set(r1["roles"]["root"]["keyids"])
    kept_old = [s for s in doc["signatures"] if s["keyid"] in old][:1]
    doc["signatures"] = kept_old + [s for s in doc["signatures"] if s["keyid"] not in old]
    (meta / "2.root.json").write_text(json.dumps(doc))
    reason = refused(tufjs_client(npm_js, tmp_path / "md2", srv.url + "/metadata",
                                  root=meta / "1.root.json"),
                     "tuf-js on a new root signed by 1 of 2 required old keys")
    assert "root" in reason, reason


@pytest.mark.parametrize("how", ["flip", "append"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tufjs_refuses_tampered_ward_target(ward, npm_js, http_server, tmp_path, key_type, how):
    d, files = ward_repo_with_targets(ward, tmp_path, key_type)
    meta = d / "repo" / "metadata"
    srv = http_server(d / "repo")
    url = srv.url + "/metadata"

    # Control: untouched, tuf-js accepts it.
    ok(tufjs_client(npm_js, tmp_path / "md0", url, root=meta / "1.root.json",
                    target_base_url=srv.url + "/targets", target_dir=tmp_path / "out0",
                    targets=["fw/app.bin"]), "tuf-js on the untouched repository")

    served = files_with_content(d / "repo" / "targets", files["fw/app.bin"].read_bytes())
    assert served, "cannot find fw/app.bin's file under repo/targets"
    for p in served:
        tamper(p, how)

    out = tmp_path / "out"
    p = tufjs_client(npm_js, tmp_path / "md", url, root=meta / "1.root.json",
                     target_base_url=srv.url + "/targets", target_dir=out,
                     targets=["fw/app.bin"])
    reason = refused(p, "tuf-js on a tampered ward target")
    assert "hash" in reason.lower() or "length" in reason.lower(), reason
    assert not (out / encoded("fw/app.bin")).exists(), "tuf-js kept a tampered target"


# ------------------------------------------------- (b) tuf-js repo -> ward


def tufjs_made_repo(npm_js, base: Path, key_type: str, *extra) -> tuple[Path, dict, dict]:
    files = payloads(base / "src")
    repo = base / "jsrepo"
    summary = make_repo(
        npm_js, repo, key_type,
        "--target", f"fw/app.bin={files['fw/app.bin']}",
        "--target", f"notes.txt={files['notes.txt']}",
        "--target", f"docs/read me.txt={files['docs/read me.txt']}",
        "--delegate", "module-team:delegated/*",
        "--delegated-target", f"delegated/module.bin={files['delegated/module.bin']}",
        *extra,
    )
    return repo, files, summary


def ward_tuf_init(ward, md: Path, root: Path):
    md.mkdir(parents=True, exist_ok=True)
    ok(ward("tuf", "--metadata-dir", md, "init", root), "ward tuf init")
    assert (md / "root.json").is_file(), "ward tuf init did not store root.json"
    assert json.loads((md / "root.json").read_bytes()) == json.loads(root.read_bytes())


def ward_download(ward, md, url, target_base_url, target_dir, names):
    args = ["tuf", "--metadata-url", url, "--metadata-dir", md]
    for n in names:
        args += ["--target-name", n]
    args += ["--target-base-url", target_base_url, "--target-dir", target_dir, "download"]
    return ward(*args)


def served_meta_name(summary, role):
    v = summary["versions"]["delegated" if role not in summary["versions"] else role]
    return f"{v}.{role}.json" if summary["consistent_snapshot"] else f"{role}.json"


# Repository shapes: consistent snapshots (hash-prefixed targets, versioned
# metadata names) or not; timestamp/snapshot listing length and hashes of the
# files they describe, or only versions (both are allowed by TUF 1.0).
REPO_SHAPES = {
    "consistent": (True, []),
    "plain": (False, ["--no-consistent-snapshot"]),
    "consistent-no-meta-hashes": (True, ["--no-meta-hashes"]),
}


@pytest.mark.parametrize("shape", list(REPO_SHAPES))
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tufjs_repo_to_ward(ward, npm_js, http_server, tmp_path, key_type, shape):
    consistent, extra = REPO_SHAPES[shape]
    repo, files, summary = tufjs_made_repo(npm_js, tmp_path, key_type, *extra)
    assert summary["consistent_snapshot"] is consistent
    meta = repo / "metadata"
    assert_key_type(meta / "1.root.json", key_type)

    srv = http_server(repo)
    url = srv.url + "/metadata"
    md, out = tmp_path / "ward-md", tmp_path / "ward-out"
    out.mkdir()
    ward_tuf_init(ward, md, meta / "1.root.json")
    assert srv.paths() == [], "ward tuf init must not contact the repository"

    ok(ward("tuf", "--metadata-url", url, "--metadata-dir", md, "refresh"), "ward tuf refresh")
    want = {
        "root.json": meta / "1.root.json",
        "timestamp.json": meta / "timestamp.json",
        "snapshot.json": meta / served_meta_name(summary, "snapshot"),
        "targets.json": meta / served_meta_name(summary, "targets"),
    }
    for trusted, served in want.items():
        assert (md / trusted).is_file(), f"ward did not store {trusted}: {sorted(os.listdir(md))}"
        assert json.loads((md / trusted).read_bytes()) == json.loads(served.read_bytes()), (
            f"{trusted} in the metadata dir is not the repository's {served.name}")
    paths = srv.paths()
    for served in want.values():
        if served.name != "1.root.json":
            assert f"/metadata/{served.name}" in paths, (served.name, paths)
    assert "/metadata/2.root.json" in paths, "ward did not look for a newer root"

    srv.clear()
    p = ward_download(ward, md, url, srv.url + "/targets", out, list(files))
    ok(p, "ward tuf download")
    for name, src in files.items():
        got = out / encoded(name)
        assert got.is_file(), f"ward did not save {name} as {encoded(name)}: {sorted(os.listdir(out))}"
        assert got.read_bytes() == src.read_bytes(), f"{name}: bytes differ"
    deleg = md / "module-team.json"
    assert deleg.is_file(), f"ward did not store the delegated role: {sorted(os.listdir(md))}"
    assert json.loads(deleg.read_bytes()) == json.loads(
        (meta / served_meta_name(summary, "module-team")).read_bytes())
    # The target files were fetched under their TUF names (hash-prefixed with
    # consistent snapshots), each once.
    for name in files:
        served = summary["targets"][name]["files"][0]
        assert fetched(srv, f"/targets/{served}") == 1, (name, srv.paths())
    for f in md.iterdir():
        assert not f.name.split(".")[0].isdigit(), f"versioned file name in metadata dir: {f.name}"


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ward_follows_tufjs_root_rotation(ward, npm_js, http_server, tmp_path, key_type):
    repo, files, summary = tufjs_made_repo(npm_js, tmp_path, key_type, "--rotate-root",
                                           "--target-hashes", "sha256,sha512")
    meta = repo / "metadata"
    assert (meta / "2.root.json").is_file()
    srv = http_server(repo)
    url = srv.url + "/metadata"

    # Control: with 2.root.json hidden, timestamp is signed by a key root v1
    # does not know, and ward must refuse.
    srv.set_response("/metadata/2.root.json", 404, b"not found\n")
    md0 = tmp_path / "ward-md0"
    ward_tuf_init(ward, md0, meta / "1.root.json")
    refused(ward("tuf", "--metadata-url", url, "--metadata-dir", md0, "refresh"),
            "ward tuf refresh without the rotated root")
    assert signed(md0 / "root.json")["version"] == 1
    assert not (md0 / "timestamp.json").exists(), "ward trusted a timestamp signed by an unknown key"
    srv.clear_responses()

    md, out = tmp_path / "ward-md", tmp_path / "ward-out"
    out.mkdir()
    ward_tuf_init(ward, md, meta / "1.root.json")
    srv.clear()
    ok(ward("tuf", "--metadata-url", url, "--metadata-dir", md, "refresh"),
       "ward tuf refresh across a root rotation")
    assert srv.paths()[:2] == ["/metadata/2.root.json", "/metadata/3.root.json"], srv.paths()
    assert json.loads((md / "root.json").read_bytes()) == json.loads((meta / "2.root.json").read_bytes())
    assert signed(md / "timestamp.json")["version"] == summary["versions"]["timestamp"]

    p = ward_download(ward, md, url, srv.url + "/targets", out, ["fw/app.bin", "delegated/module.bin"])
    ok(p, "ward tuf download after root rotation")
    assert (out / encoded("fw/app.bin")).read_bytes() == files["fw/app.bin"].read_bytes()
    assert (out / encoded("delegated/module.bin")).read_bytes() == \
        files["delegated/module.bin"].read_bytes()


@pytest.mark.parametrize("how", ["flip", "append"])
@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ward_refuses_tampered_tufjs_target(ward, npm_js, http_server, tmp_path, key_type, how):
    repo, files, summary = tufjs_made_repo(npm_js, tmp_path, key_type)
    meta = repo / "metadata"
    srv = http_server(repo)
    url = srv.url + "/metadata"

    # Control: the untouched target downloads.
    md0, out0 = tmp_path / "ward-md0", tmp_path / "ward-out0"
    out0.mkdir()
    ward_tuf_init(ward, md0, meta / "1.root.json")
    ok(ward_download(ward, md0, url, srv.url + "/targets", out0, ["fw/app.bin"]),
       "ward tuf download of the untouched target")

    for served in summary["targets"]["fw/app.bin"]["files"]:
        tamper(repo / "targets" / served, how)

    md, out = tmp_path / "ward-md", tmp_path / "ward-out"
    out.mkdir()
    ward_tuf_init(ward, md, meta / "1.root.json")
    srv.clear()
    p = ward_download(ward, md, url, srv.url + "/targets", out, ["fw/app.bin"])
    reason = refused(p, f"ward tuf download of a tampered target ({how})")
    assert "app.bin" in reason, f"the reason does not name the target: {reason}"
    assert f"/targets/{summary['targets']['fw/app.bin']['files'][0]}" in srv.paths()
    assert list(out.iterdir()) == [], f"ward left files in the target dir: {list(out.iterdir())}"
    # The metadata itself was fine and stays trusted.
    assert signed(md / "targets.json")["version"] == summary["versions"]["targets"]


# ------------------------------- delegated role names that need URL-encoding
#
# TUF names a delegated role's metadata "<role>.json" in snapshot.json's meta
# (raw, not encoded); clients URL-encode the role name only where it goes into
# a URL or a local file name. A static web server percent-decodes the request
# path before it looks for the file, so the repository's file is
# "<version>.<role>.json" with the raw role name. "qa team" needs encoding
# (a space) and is a legal role name.

ROLE_NEEDING_ENCODING = "qa team"


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_ward_repo_role_name_needing_encoding_to_tufjs(ward, npm_js, http_server, tmp_path,
                                                       key_type):
    d = tmp_path / "wrepo"
    ok(ward("repo", "init", d, "--key-type", key_type, "--unencrypted-keys"), "ward repo init")
    src = tmp_path / "qa.bin"
    src.write_bytes(os.urandom(777))
    ok(ward("repo", "delegate", d, "--name", ROLE_NEEDING_ENCODING, "--paths", "qa/*"),
       "ward repo delegate")
    ok(ward("repo", "add", d, src, "--name", "qa/x.bin", "--role", ROLE_NEEDING_ENCODING),
       "ward repo add --role")
    meta = d / "repo" / "metadata"
    snap = signed(meta / "snapshot.json")
    assert f"{ROLE_NEEDING_ENCODING}.json" in snap["meta"], list(snap["meta"])

    srv = http_server(d / "repo")
    md, out = tmp_path / "tufjs-md", tmp_path / "tufjs-out"
    p = tufjs_client(npm_js, md, srv.url + "/metadata", root=meta / "1.root.json",
                     target_base_url=srv.url + "/targets", target_dir=out, targets=["qa/x.bin"])
    ok(p, f"tuf-js download through delegated role {ROLE_NEEDING_ENCODING!r} "
          f"(requests: {srv.requests()}; metadata files: {sorted(os.listdir(meta))})")
    assert (out / encoded("qa/x.bin")).read_bytes() == src.read_bytes()
    assert (md / f"{encoded(ROLE_NEEDING_ENCODING)}.json").is_file()


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_tufjs_repo_role_name_needing_encoding_to_ward(ward, npm_js, http_server, tmp_path,
                                                       key_type):
    src = tmp_path / "qa.bin"
    src.write_bytes(os.urandom(777))
    repo = tmp_path / "jsrepo"
    make_repo(npm_js, repo, key_type, "--delegate", f"{ROLE_NEEDING_ENCODING}:qa/*",
              "--delegated-target", f"qa/x.bin={src}")
    meta = repo / "metadata"
    srv = http_server(repo)
    url = srv.url + "/metadata"

    # Control: the reference client accepts this repository.
    ok(tufjs_client(npm_js, tmp_path / "tufjs-md", url, root=meta / "1.root.json",
                    target_base_url=srv.url + "/targets", target_dir=tmp_path / "tufjs-out",
                    targets=["qa/x.bin"]), "tuf-js on its own repository")

    md, out = tmp_path / "ward-md", tmp_path / "ward-out"
    out.mkdir()
    ward_tuf_init(ward, md, meta / "1.root.json")
    srv.clear()
    p = ward_download(ward, md, url, srv.url + "/targets", out, ["qa/x.bin"])
    ok(p, f"ward tuf download through delegated role {ROLE_NEEDING_ENCODING!r} "
          f"(requests: {srv.paths()})")
    assert (out / encoded("qa/x.bin")).read_bytes() == src.read_bytes()
    assert (md / f"{encoded(ROLE_NEEDING_ENCODING)}.json").is_file(), sorted(os.listdir(md))
    assert f"/metadata/3.{urllib.parse.quote(ROLE_NEEDING_ENCODING, safe='')}.json" in srv.paths()
