"""wardd under storage faults and broken input: a clear error, and the device
still boots its old good image.

Fault mechanisms, and why these (tried in the order the test plan asks):

* slot device full: a size-limited tmpfs (`mount -t tmpfs -o size=...`)
  mounted in a private mount namespace (`unshare -m --propagation private`,
  held open by a `sleep`, wardd run inside it with `nsenter -m`): slot B lives
  there and pwrite() fails with ENOSPC part-way through the image, exactly as
  on a full partition. Nothing is mounted in the test's own namespace.
* write error in the middle of the image: a device-mapper `error` target is
  NOT possible here (the kernel has no device-mapper: /dev/mapper/control is
  missing and `dmsetup version` cannot reach the driver), so two other real
  mechanisms are used:
    - RLIMIT_FSIZE on the wardd process (set in preexec_fn, with SIGXFSZ
      ignored as a daemon's supervisor may leave it): the kernel refuses the
      write that crosses the limit with EFBIG, in the middle of the image;
      and with SIGXFSZ at its default, the kernel kills wardd there instead;
    - a real block-device I/O error: slot B is a loop device whose backing
      file sits on a tmpfs smaller than the device (private namespace); the
      writes land in the page cache and the loop driver's write-back fails,
      so fsync() reports EIO, the way a failing eMMC reports it.
* truncated and corrupted bundles: cut and flipped at every part (header,
  manifest, metadata, image).
* a health check that hangs, or cannot be run at all; a bootloader tool that
  is missing when wardd needs it.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import device
from device import KiB, MiB, Device, Release, image_bytes, one_line_error
from device import wardd_bin  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def rel(tmp_path_factory, ward_bin):
    r = Release(tmp_path_factory.mktemp("faults-release"), ward_bin)
    r.v1 = r.add("1.0", image_bytes("f-v1", 1 * MiB))
    r.v2 = r.add("2.0", image_bytes("f-v2", 768 * KiB))
    r.bundle(r.v1)
    r.bundle(r.v2)
    return r


@pytest.fixture
def make_device(tmp_path, wardd_bin, rel):
    made = []

    def make(backend="file", name="dev", **kw):
        d = Device(tmp_path / name, rel.root, backend, wardd=wardd_bin, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill_leftovers()


class PrivateMount:
    """A tmpfs of `size` bytes at `where`, visible only inside a private mount
    namespace that a `sleep` holds open. run() executes a command inside it;
    host(path) is the same path as seen from the test (through /proc/PID/root)."""

    def __init__(self, where: Path, size: int):
        self.where = Path(where)
        self.where.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c",
             f"mount -t tmpfs -o size={size},mode=0700 ward-test-slot '{self.where}' "
             "&& echo ready && exec sleep 3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            err = self.proc.stderr.read()
            self.proc.kill()
            pytest.fail(f"cannot mount a tmpfs in a private mount namespace (unshare -m): {err}",
                        pytrace=False)

    def prefix(self) -> list[str]:
        return ["nsenter", "-t", str(self.proc.pid), "-m", "--"]

    def run(self, *argv, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix(), *map(str, argv)], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, **kw)

    def host(self, path: Path) -> Path:
        return Path(f"/proc/{self.proc.pid}/root{Path(path)}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class NsDevice(Device):
    """A Device whose wardd runs inside a PrivateMount's namespace."""

    def __init__(self, *a, ns: PrivateMount, **kw):
        self.ns = ns
        super().__init__(*a, **kw)

    def argv(self, *args):
        return [*self.ns.prefix(), *super().argv(*args)]

    def slot_bytes(self, slot):
        return self.ns.host(self.slot_paths[slot]).read_bytes()

    def slot_sha(self, slot, length=None):
        return device.file_sha256(self.ns.host(self.slot_paths[slot]), length)


@pytest.fixture
def private_tmpfs(tmp_path):
    mounts = []

    def make(size: int) -> PrivateMount:
        m = PrivateMount(tmp_path / f"mnt{len(mounts)}", size)
        mounts.append(m)
        return m

    yield make
    for m in mounts:
        m.close()


def assert_still_boots_old_image(dev: Device, rel, old: bytes, slot: str = "A"):
    """After a failed install: valid state, nothing handed to the bootloader, the
    old image boots and confirms."""
    st = dev.state()  # None: the install failed before it recorded anything
    assert device.state_problems(st) == []
    if st is not None:
        assert st["slots"]["B" if slot == "A" else "A"]["state"] not in (
            "installed", "trial", "awaiting-approval", "good")
    s = dev.status_json()
    assert s["bootloader"]["trial"] is None and s["bootloader"]["next"] == slot
    assert dev.reboots() == 0, "a failed install requested a reboot"
    for _ in range(2):
        assert dev.power_on() == slot
        assert dev.slot_bytes(slot) == old
        p = dev.confirm()
        assert p.returncode == 0, p.stderr
    assert dev.status_json()["slots"][slot]["state"] == "good"


# ---- the slot's storage fails ------------------------------------------------------------

def test_slot_device_full(make_device, rel, private_tmpfs, tmp_path, wardd_bin):
    """Slot B on a 384 KiB tmpfs ([slots] size says 4 MiB): ENOSPC mid-image."""
    m = private_tmpfs(384 * KiB)
    slot_b = m.where / "b.img"
    m.host(slot_b).write_bytes(b"")
    dev = NsDevice(tmp_path / "dev", rel.root, "file", wardd=wardd_bin, slot_b=slot_b, ns=m)
    factory = dev.slot_bytes("A")
    msg = one_line_error(dev.install(rel.bundle(rel.v1)))
    print(msg)
    assert "write failed at byte" in msg and "No space left on device" in msg, msg
    assert str(slot_b) in msg
    st = dev.state()
    assert st["slots"]["B"]["state"] == "bad"
    assert "No space left on device" in st["slots"]["B"]["reason"]
    assert_still_boots_old_image(dev, rel, factory)
    # once there is room again (a bigger filesystem), the same bundle installs
    m2 = private_tmpfs(4 * MiB)
    dev2 = NsDevice(tmp_path / "dev2", rel.root, "file", wardd=wardd_bin,
                    slot_b=m2.where / "b.img", ns=m2)
    p = dev2.install(rel.bundle(rel.v1))
    assert p.returncode == 0, p.stderr
    assert dev2.slot_bytes("B") == rel.v1.data


def _fsize_limit(limit: int, ignore_sigxfsz: bool):
    def pre():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN if ignore_sigxfsz else signal.SIG_DFL)
    return pre


def test_write_error_in_the_middle_of_the_image(make_device, rel):
    """RLIMIT_FSIZE = 300 KiB: the write crossing it fails with EFBIG."""
    dev = make_device("file")
    factory = dev.slot_bytes("A")
    p = dev.install(rel.bundle(rel.v1), preexec_fn=_fsize_limit(300 * KiB, True))
    msg = one_line_error(p)
    print(msg)
    assert "write failed at byte" in msg and "File too large" in msg, msg
    byte = int(msg.split("write failed at byte ")[1].split(":")[0])
    assert 0 < byte <= 300 * KiB, f"the error names byte {byte}"
    st = dev.state()
    assert st["slots"]["B"]["state"] == "bad" and "install failed" in st["slots"]["B"]["reason"]
    assert_still_boots_old_image(dev, rel, factory)


def test_killed_by_sigxfsz_in_the_middle_of_the_image(make_device, rel):
    """The same limit with SIGXFSZ at its default: the kernel kills wardd mid-write."""
    dev = make_device("uboot")
    factory = dev.slot_bytes("A")
    p = dev.install(rel.bundle(rel.v1), preexec_fn=_fsize_limit(300 * KiB, False))
    assert p.returncode == -signal.SIGXFSZ, (p.returncode, p.stderr)
    assert dev.slot_state("B") == "writing"
    assert_still_boots_old_image(dev, rel, factory)
    # the next install starts over and succeeds
    assert dev.install(rel.bundle(rel.v1)).returncode == 0
    assert dev.power_on() == "B" and dev.slot_bytes("B") == rel.v1.data


@pytest.fixture
def failing_block_device(private_tmpfs, tmp_path):
    """A 4 MiB loop device whose backing file lives on a 512 KiB tmpfs in a
    private namespace: write-back past ~512 KiB fails, fsync() says EIO."""
    m = private_tmpfs(512 * KiB)
    backing = m.where / "backing"
    p = m.run("truncate", "-s", str(4 * MiB), backing)
    assert p.returncode == 0, p.stderr
    p = m.run("losetup", "-f", "--show", backing)
    if p.returncode != 0:
        pytest.fail(f"cannot attach a loop device: {p.stderr.strip()}", pytrace=False)
    loop = p.stdout.strip()
    yield m, Path(loop)
    subprocess.run(["losetup", "-d", loop], capture_output=True)


def test_block_device_io_error_in_the_middle_of_the_image(rel, failing_block_device, tmp_path,
                                                         wardd_bin):
    m, loop = failing_block_device
    dev = NsDevice(tmp_path / "dev", rel.root, "file", wardd=wardd_bin, slot_b=loop, ns=m,
                   slot_size=0)
    dev.write_conf(**{"slots.size": None})  # a block device's size comes from the device
    factory = dev.slot_bytes("A")
    msg = one_line_error(dev.install(rel.bundle(rel.v1)))
    print(msg)
    assert "Input/output error" in msg or "does not read back" in msg, msg
    assert str(loop) in msg
    assert dev.slot_state("B") == "bad"
    assert_still_boots_old_image(dev, rel, factory)


# ---- broken bundles ---------------------------------------------------------------------------

def _bundle_parts(data: bytes, image: bytes) -> dict[str, int]:
    mlen = int.from_bytes(data[8:12], "big")
    img = data.find(image[:4096])
    assert img > 12 + mlen
    return {"header": 4, "manifest": 12 + mlen // 2, "metadata": 12 + mlen + 40,
            "image start": img, "image middle": img + len(image) // 2,
            "image end": len(data) - 1}


@pytest.mark.parametrize("part", ["header", "manifest", "metadata", "image start",
                                  "image middle", "image end"])
@pytest.mark.parametrize("how", ["truncated", "corrupted"])
def test_broken_bundle(make_device, rel, tmp_path, part, how):
    dev = make_device("grub" if how == "corrupted" else "file")
    factory = dev.slot_bytes("A")
    good = rel.bundle(rel.v1).read_bytes()
    at = _bundle_parts(good, rel.v1.data)[part]
    bad = good[:at] if how == "truncated" else good[:at] + bytes([good[at] ^ 0x20]) + good[at + 1:]
    path = tmp_path / "broken.ward"
    path.write_bytes(bad)
    env = dev.env()
    msg = one_line_error(dev.install(path))
    assert msg.startswith("wardd: install: ") and len(msg) < 300
    assert dev.env() == env
    assert_still_boots_old_image(dev, rel, factory)


# ---- health checks and bootloader tools ---------------------------------------------------------

@pytest.mark.parametrize("backend", ["uboot", "grub", "file"])
def test_health_check_hangs(make_device, rel, backend):
    dev = make_device(backend, health_timeout=1)
    factory = dev.slot_bytes("A")
    assert dev.install(rel.bundle(rel.v1)).returncode == 0
    assert dev.power_on() == "B"
    dev.set_health("hang")
    p = dev.confirm(timeout=30)
    assert p.returncode == 0, p.stderr
    assert "did not finish within 1 s" in p.stdout
    st = dev.state()
    assert device.state_problems(st) == [] and st["slots"]["B"]["state"] == "bad"
    assert dev.power_on() == "A" and dev.slot_bytes("A") == factory
    assert dev.confirm().returncode == 0
    assert dev.power_on() == "A"


def test_health_check_that_cannot_run_counts_as_failure(make_device, rel):
    dev = make_device("file")
    assert dev.install(rel.bundle(rel.v1)).returncode == 0
    assert dev.power_on() == "B"
    dev.write_conf(**{"health.command": str(dev.dir / "no-such-health-check")})
    p = dev.confirm()
    assert p.returncode == 0, p.stderr
    assert "could not be run" in p.stdout
    assert dev.slot_state("B") == "bad"
    assert dev.power_on() == "A"


def test_bootloader_tool_missing_at_activation(make_device, rel, tmp_path):
    """fw_setenv is gone when wardd hands the new slot to U-Boot: a clear error,
    the slot is not tried, the old image boots."""
    dev = make_device("uboot")
    factory = dev.slot_bytes("A")
    assert dev.confirm().returncode == 0
    tools = tmp_path / "tools"
    tools.mkdir()
    os.symlink(shutil.which("fw_printenv"), tools / "fw_printenv")  # reading still works
    env = dict(os.environ, PATH=str(tools))
    msg = one_line_error(dev.install(rel.bundle(rel.v1), env=env))
    assert "fw_setenv" in msg and "libubootenv-tool" in msg, msg
    assert dev.slot_state("B") == "installed"
    assert dev.reboots() == 0
    assert dev.status_json()["bootloader"]["trial"] is None
    assert dev.power_on() == "A" and dev.slot_bytes("A") == factory
    # with the tool back, the next start re-verifies slot B and finishes the activation
    p = dev.confirm()
    assert p.returncode == 0, p.stderr
    assert "activation of slot B" in p.stdout, p.stdout
    assert dev.reboots() == 1
    assert dev.power_on() == "B" and dev.slot_bytes("B") == rel.v1.data
    assert dev.confirm().returncode == 0
    assert dev.slot_state("B") == "good"
