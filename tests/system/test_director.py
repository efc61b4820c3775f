"""test_director — the director of Uptane's split of TUF, end to end for one device.

ward-server renders each device's director repository (signed online with
DIR/keys/director.key) from its assignment in the registry, and serves the
image repository (a `ward repo`, here linked in as DIR/repo) read-only; the
device pins the director's root (DIR/ca/director-root.json) and the image
repository's root, and `wardd update` installs only what both agree on.

The compromised-server cases write the registry directly (sqlite3), which is
what an attacker holding the server and its director key can do: the server
then signs whatever the row says. Each must be refused by the device with a
clear message and nothing written to a slot (bytes and state compared).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import device as devmod  # noqa: E402
from device import Device, Release, image_bytes, KiB  # noqa: E402
from fleet import Fleet  # noqa: E402

SERIAL = "cam-001"


class World:
    def __init__(self, tmp: Path, policy: str = "auto"):
        self.release = Release(tmp / "maker")
        self.v1 = self.release.add("1.0.0", image_bytes("v1", 300 * KiB))
        self.v2 = self.release.add("2.0.0", image_bytes("v2", 320 * KiB))
        self.other = self.release.add("3.0.0", image_bytes("other", 200 * KiB), hardware_id="other-hw")
        self.fleet = Fleet(tmp / "fleet")
        os.symlink(self.release.repo / "repo", self.fleet.dir / "repo")
        self.server = self.fleet.start(workers=1)
        batch = self.fleet.batch(model="cam-2", count=3)
        self.ident = self.fleet.enroll(self.server, batch, SERIAL)
        self.dev = Device(tmp / "device", self.release.root, policy=policy)
        self.dev.write_conf(**{
            "server.url": self.server.url,
            "server.ca": self.fleet.root,
            "server.cert": self.ident.cert_path,
            "server.key": self.ident.key_path,
            "server.director_root": self.fleet.dir / "ca" / "director-root.json",
        })

    def assign(self, image, ok=True):
        return self.fleet.ward("device", "assign", SERIAL, "--image", image.name, "-c",
                               self.fleet.conf, "--json", ok=ok)

    def row(self) -> tuple[str, dict, int]:
        r = self.fleet.sql(f"SELECT target, fileinfo, version FROM device_assignments "
                           f"WHERE serial = '{SERIAL}'")
        assert len(r) == 1, r
        return r[0][0], json.loads(r[0][1]), int(r[0][2])

    def forge(self, target: str, fileinfo: dict, version: int | None = None) -> None:
        """What a compromised server does: make the director sign anything."""
        _, _, v = self.row()
        v = v + 1 if version is None else version
        fi = json.dumps(fileinfo, sort_keys=True, separators=(",", ":")).replace("'", "''")
        t = target.replace("'", "''")
        self.fleet.sql(f"UPDATE device_assignments SET target = '{t}', fileinfo = '{fi}', "
                       f"version = {v} WHERE serial = '{SERIAL}'")

    def update(self):
        return self.dev.run("update")

    def snapshot(self) -> tuple[bytes, bytes, dict | None]:
        return self.dev.slot_bytes("A"), self.dev.slot_bytes("B"), self.dev.state()

    def close(self):
        self.fleet.stop_all()


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


@pytest.fixture
def approve_world(tmp_path):
    w = World(tmp_path, policy="approve")
    yield w
    w.close()


def refused(w: World, before, p, *needles: str) -> str:
    assert p.returncode == 1, f"expected a refusal: {p.returncode} {p.stdout!r} {p.stderr!r}"
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    assert w.snapshot() == before, "a refused update changed a slot or the state"
    return err


def test_device_installs_what_the_director_names(world):
    w = world
    # no assignment: the director names nothing
    p = w.update()
    assert p.returncode == 0, p.stderr
    assert "names no image" in p.stdout
    out = json.loads(w.assign(w.v2).stdout)
    assert out["target"] == w.v2.name and out["version"] == "2.0.0" and out["director_version"] == 2
    p = w.update()
    assert p.returncode == 0, p.stderr
    assert "agree" in p.stdout
    assert w.dev.slot_bytes("B")[:len(w.v2.data)] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    assert w.dev.power_on() == "B"
    assert w.dev.confirm().returncode == 0
    assert w.dev.state()["floor"] == "2.0.0"
    p = w.update()
    assert p.returncode == 0 and "up to date" in p.stdout, (p.stdout, p.stderr)
    # the audit log recorded the assignment
    assert any(r["event"] == "assign" and r["subject"] == SERIAL for r in w.fleet.audit())


def test_director_endpoints_need_the_device(world):
    w = world
    conn = w.fleet.client(w.server)  # no client certificate
    r = conn.request("GET", "/api/v1/device/director/targets.json")
    assert r.status == 401
    conn = w.fleet.client(w.server, w.ident)
    r = conn.request("GET", "/api/v1/device/director/1.root.json")
    assert r.status == 200
    assert r.body == (w.fleet.dir / "ca" / "director-root.json").read_bytes()
    r = conn.request("GET", "/api/v1/device/director/2.root.json")
    assert r.status == 404
    r = conn.request("GET", "/repo/metadata/1.root.json")
    assert r.status == 200 and r.body == w.release.root.read_bytes()
    for bad in ("/repo/metadata/../../ward.conf", "/repo/metadata/%2e%2e/%2e%2e/ward.conf",
                "/repo/targets/..%2f..%2fkeys/director.key", "/repo/keys/director.key",
                "/repo/metadata/.hidden", "/repo/targets/"):
        r = conn.request("GET", bad)
        assert r.status in (400, 404), (bad, r.status)


def test_image_not_in_the_image_repository_is_refused(world):
    w = world
    w.assign(w.v2)
    _, fi, _ = w.row()
    w.forge("acme-cam-v2/9.9.9.img", {**fi, "custom": {"hardware_id": devmod.HW, "version": "9.9.9"}})
    before = w.snapshot()
    refused(w, before, w.update(), "does not list", "9.9.9.img")


def test_director_and_image_repository_must_agree_on_the_hash(world):
    w = world
    w.assign(w.v2)
    _, fi, _ = w.row()
    fi["hashes"]["sha256"] = devmod.sha256(b"evil")
    w.forge(w.v2.name, fi)
    before = w.snapshot()
    refused(w, before, w.update(), "disagree on the sha256")


def test_image_for_other_hardware_is_refused(world):
    w = world
    w.assign(w.other)  # the device never reported its hardware: the server lets it through
    before = w.snapshot()
    refused(w, before, w.update(), "other-hw", devmod.HW)


def test_older_image_below_the_floor_is_refused(world):
    w = world
    w.assign(w.v2)
    assert w.update().returncode == 0
    assert w.dev.power_on() == "B"
    assert w.dev.confirm().returncode == 0
    assert w.dev.state()["floor"] == "2.0.0"
    w.assign(w.v1)  # signed by the release key, but older than the floor
    before = w.snapshot()
    refused(w, before, w.update(), "1.0.0", "floor")


def test_replayed_director_metadata_is_refused(approve_world):
    w = approve_world
    w.assign(w.v2)
    p = w.update()
    assert p.returncode == 0, p.stderr
    assert w.dev.slot_state("B") == "awaiting-approval"
    w.assign(w.v2)  # director version 3, same image
    p = w.update()
    assert p.returncode == 0 and "already installed" in p.stdout, (p.stdout, p.stderr)
    target, fi, v = w.row()
    assert v == 3
    w.forge(target, fi, version=2)  # the server serves the director metadata of version 2 again
    before = w.snapshot()
    refused(w, before, w.update(), "director", "rollback")


def test_daemon_checks_in_then_installs_what_the_director_names(world):
    """The resident wardd: at start it settles the boot, checks in, and runs the
    update job, which installs the assigned image into the inactive slot."""
    import time
    w = world
    w.assign(w.v2)
    d = w.dev.popen()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and w.dev.slot_state("B") != "trial":
            time.sleep(0.2)
        assert w.dev.slot_state("B") == "trial"
        assert w.dev.slot_bytes("B")[:len(w.v2.data)] == w.v2.data
    finally:
        d.terminate()
        out, err = d.communicate(timeout=30)
    assert "agree" in out, (out, err)
    assert w.dev.power_on() == "B"
    assert w.dev.confirm().returncode == 0
    assert w.dev.state()["floor"] == "2.0.0"


def test_director_root_key_is_not_the_online_key(world):
    """The root role belongs to keys/director-root.key (offline), not to the key ward-server
    signs with: a stolen server can sign director metadata but not a new director root (that a
    root signed by a key outside the root role is refused is test_attacks.py's key-compromise
    and root-rotation cases, on the same TUF client)."""
    w = world
    root = json.loads((w.fleet.dir / "ca" / "director-root.json").read_text())
    roles = root["signed"]["roles"]
    root_ids = roles["root"]["keyids"]
    online_ids = {k for r in ("timestamp", "snapshot", "targets") for k in roles[r]["keyids"]}
    assert len(root_ids) == 1 and root_ids[0] not in online_ids
    assert [s["keyid"] for s in root["signatures"]] == root_ids
    rk = w.fleet.dir / "keys" / "director-root.key"
    assert rk.is_file() and (rk.stat().st_mode & 0o777) == 0o600
    # the online key still signs what devices install, and the assignment is audited with it
    out = json.loads(w.assign(w.v2).stdout)
    assert out["director_version"] == 2
    p = w.update()
    assert p.returncode == 0, p.stderr
    assign = [r for r in w.fleet.audit() if r["event"] == "assign"]
    assert assign and assign[-1]["detail"]["by"].startswith("cli:") and \
        assign[-1]["detail"]["director_version"] == 2


def test_daemon_checks_in_at_the_servers_interval(world):
    """The server asks for a check-in every 5 s: the resident wardd must not sleep its
    one-minute maintenance tick in between, so an assignment made after it started is
    installed at the next check-in, seconds later."""
    import time
    w = world
    w.server.stop()
    w.fleet.set_conf("devices", "checkin_interval", 5)
    w.server = w.fleet.start(workers=1, name="fast")
    w.dev.write_conf(**{
        "server.url": w.server.url,
        "server.ca": w.fleet.root,
        "server.cert": w.ident.cert_path,
        "server.key": w.ident.key_path,
        "server.director_root": w.fleet.dir / "ca" / "director-root.json",
    })
    d = w.dev.popen()
    try:
        time.sleep(2)  # started, settled, first check-in done: nothing assigned yet
        assert w.dev.slot_state("B") != "trial"
        w.assign(w.v2)
        t0 = time.monotonic()
        while time.monotonic() < t0 + 30 and w.dev.slot_state("B") != "trial":
            time.sleep(0.2)
        took = time.monotonic() - t0
        assert w.dev.slot_state("B") == "trial", "not installed within 30 s"
        assert took < 15, f"installed only after {took:.1f} s: the daemon slept past its check-in"
    finally:
        d.terminate()
        d.communicate(timeout=30)


def test_campaign_for_the_image_a_device_runs_sees_it_healthy(world):
    """A campaign may offer a device the image it already runs (installed earlier by hand, a
    bundle or another campaign): wardd does not reinstall it but reports it healthy once, so
    the campaign's phase can end."""
    import time
    w = world
    w.assign(w.v2)
    assert w.update().returncode == 0
    assert w.dev.power_on() == "B"
    assert w.dev.confirm().returncode == 0
    assert w.update().returncode == 0  # sends the outbox
    c = json.loads(w.fleet.ward("campaign", "create", "-c", w.fleet.conf, "--image", w.v2.name,
                                "--select", "model=cam-2", "--phases", "100", "--max-failure", "0",
                                "--json").stdout)
    w.fleet.ward("campaign", "start", c["id"], "-c", w.fleet.conf)
    p = w.update()
    assert p.returncode == 0 and "up to date" in p.stdout, (p.stdout, p.stderr)
    p = w.fleet.ward("campaign", "wait", c["id"], "-c", w.fleet.conf, "--state", "finished",
                     "--timeout", "20s", ok=None)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = w.fleet.sql(f"SELECT stage FROM device_reports WHERE serial = '{SERIAL}' ORDER BY seq")
    assert [r[0] for r in rows][-2:] == ["healthy", "healthy"], rows
    # and only once: another update adds nothing
    n = len(rows)
    assert w.update().returncode == 0
    assert len(w.fleet.sql(f"SELECT stage FROM device_reports WHERE serial = '{SERIAL}'")) == n
