"""wardd end to end: install, trial boot, health check, confirm or roll back.

Every test drives the real wardd against a simulated device (device.Device:
slot files, a state directory, the bootloader environment of the backend
under test, a health check and a reboot command the test controls) and the
bootloader played by bootsim (real fw_setenv/fw_printenv and grub-editenv).
What is asserted is what a device owner relies on: which slot boots, what
the slots hold, what wardd records and says, and that a refused update
leaves the device exactly as it was.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import subprocess
import time

import pytest

import device
from device import HW, KiB, MiB, Device, Release, image_bytes, one_line_error
from device import wardd_bin  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("ward_bin")


@pytest.fixture(scope="module")
def rel(tmp_path_factory, ward_bin):
    """One repository: v1.0 and v2.0 for this device, an image too big for its
    slots, an image for other hardware; bundles made once all are signed."""
    r = Release(tmp_path_factory.mktemp("release"), ward_bin)
    r.v1 = r.add("1.0", image_bytes("v1", 1 * MiB))
    r.v2 = r.add("2.0", image_bytes("v2", 768 * KiB))
    r.big = r.add("3.0", image_bytes("big", 4 * MiB + 1))
    r.other_hw = r.add("1.5", image_bytes("other-hw", 512 * KiB), hardware_id="acme-doorbell")
    for img in (r.v1, r.v2, r.big, r.other_hw):
        r.bundle(img)
    return r


@pytest.fixture
def make_device(tmp_path, wardd_bin, rel):
    made = []

    def make(backend="file", name="dev", release=None, **kw):
        d = Device(tmp_path / name, (release or rel).root, backend, wardd=wardd_bin, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.kill_leftovers()


def ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, f"wardd failed ({p.returncode}): {p.stderr.strip()}"
    return p


def update_to(dev: Device, bundle, img) -> None:
    """Install, reboot into the trial, pass the health check: the device runs img."""
    target = "B" if dev.booted == "A" else "A"
    ok(dev.install(bundle))
    assert dev.power_on() == target
    dev.set_health("pass")
    ok(dev.confirm())
    assert dev.slot_state(target) == "good" and dev.slot_bytes(target) == img.data


BACKENDS = pytest.mark.parametrize("backend", ["uboot", "grub", "file"])


# ---- the happy path and rollbacks ----------------------------------------------------

@BACKENDS
def test_update_is_tried_then_confirmed(make_device, rel, backend):
    dev = make_device(backend)
    assert dev.booted == "A"
    factory = dev.slot_bytes("A")

    p = ok(dev.install(rel.bundle(rel.v1)))
    assert "slot B" in p.stdout
    assert dev.slot_bytes("B") == rel.v1.data, "slot B does not hold the signed image"
    assert dev.slot_bytes("A") == factory, "the running slot was touched"
    assert dev.slot_state("B") == "trial"
    assert dev.reboots() == 1, "no reboot was requested after the install"
    assert dev.health_runs() == 0
    s = dev.status_json()
    assert s["bootloader"]["trial"] == "B" and s["bootloader"]["next"] == "B"
    assert s["bootloader"]["good"] == "A"

    assert dev.power_on() == "B"
    p = ok(dev.confirm())
    assert dev.health_runs() == 1, "the trial boot did not run the health check"
    assert "confirmed good" in p.stdout
    s = dev.status_json()
    assert s["booted"] == "B"
    assert s["floor"] == "1.0", "the security floor was not raised to the confirmed version"
    assert s["slots"]["B"]["state"] == "good" and s["slots"]["B"]["version"] == "1.0"
    assert s["slots"]["B"]["sha256"] == rel.v1.sha256
    assert s["bootloader"] == {**s["bootloader"], "good": "B", "next": "B", "trial": None}
    assert dev.reboots() == 1, "a healthy trial must not reboot"
    # confirmed: every later boot boots B, and there is nothing left to confirm
    for _ in range(3):
        assert dev.power_on() == "B"
        ok(dev.confirm())
    assert dev.health_runs() == 1


@BACKENDS
def test_failed_health_check_rolls_back_to_previous_good_slot(make_device, rel, backend):
    dev = make_device(backend)
    update_to(dev, rel.bundle(rel.v1), rel.v1)
    reboots = dev.reboots()

    ok(dev.install(rel.bundle(rel.v2)))
    assert dev.slot_state("A") == "trial" and dev.slot_bytes("A") == rel.v2.data
    assert dev.power_on() == "A"
    dev.set_health("fail")
    p = ok(dev.confirm())
    assert "failed its health check" in p.stdout and "rolling back to B" in p.stdout
    st = dev.state()
    assert st["slots"]["A"]["state"] == "bad"
    assert "health check failed" in st["slots"]["A"]["reason"]
    assert st["floor"] == "1.0", "a failed image must not raise the floor"
    assert dev.reboots() == reboots + 2, "wardd did not request the reboot into the good slot"
    assert dev.power_on() == "B"
    p = ok(dev.confirm())
    assert dev.slot_bytes("B") == rel.v1.data
    s = dev.status_json()
    assert s["booted"] == "B" and s["bootloader"]["trial"] is None
    assert s["slots"]["B"]["state"] == "good" and s["slots"]["A"]["state"] == "bad"
    for _ in range(2):
        assert dev.power_on() == "B"


@BACKENDS
@pytest.mark.parametrize("max_attempts", [1, 3])
def test_image_that_hangs_before_wardd_runs_falls_back(make_device, rel, backend, max_attempts):
    """U-Boot and the file backend count boots of the trial slot (bootlimit =
    max_attempts); GRUB's next_entry is one-shot, so it falls back after one."""
    dev = make_device(backend, max_attempts=max_attempts)
    ok(dev.install(rel.bundle(rel.v1)))
    tries = 1 if backend == "grub" else max_attempts
    boots = [dev.power_on() for _ in range(tries + 2)]  # the new image never runs wardd
    assert boots == ["B"] * tries + ["A", "A"], f"boots: {boots}"
    p = ok(dev.confirm())
    assert "rolled back" in p.stdout
    st = dev.state()
    assert st["slots"]["B"]["state"] == "bad"
    assert "rolled back by the bootloader" in st["slots"]["B"]["reason"]
    assert st["floor"] == ""
    s = dev.status_json()
    assert s["booted"] == "A" and s["bootloader"]["trial"] is None
    assert s["bootloader"]["good"] == "A" and s["slots"]["A"]["state"] == "good"
    assert dev.power_on() == "A"
    assert dev.health_runs() == 0


def _start_at_fraction(frac: float) -> None:
    """Sleep until CLOCK_MONOTONIC's fractional second is about frac."""
    while True:
        now = time.clock_gettime(time.CLOCK_MONOTONIC)
        d = (frac - (now % 1.0)) % 1.0
        if d < 0.003:
            return
        time.sleep(d - 0.002 if d > 0.004 else 0.0005)


@pytest.mark.parametrize("backend", ["file", "uboot"])
def test_health_check_that_hangs_is_killed_at_the_timeout(make_device, rel, backend):
    dev = make_device(backend, health_timeout=2)
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.power_on() == "B"
    dev.set_health("hang")
    _start_at_fraction(0.9)  # wardd's clock starts late in a second (see the next test)
    t = time.monotonic()
    p = ok(dev.confirm(timeout=30))
    elapsed = time.monotonic() - t
    assert 1.9 <= elapsed < 5, f"the 2 s health check was killed after {elapsed:.2f} s"
    assert "did not finish within 2 s" in p.stdout
    pids = dev.health_pids()
    assert pids and all(not _alive(pid) for pid in pids), "the hung health check is still running"
    st = dev.state()
    assert st["slots"]["B"]["state"] == "bad" and "did not finish" in st["slots"]["B"]["reason"]
    assert dev.reboots() == 2
    assert dev.power_on() == "A"
    ok(dev.confirm())
    assert dev.status_json()["slots"]["A"]["state"] == "good"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_health_check_that_finishes_in_time_passes(make_device, rel):
    """A 0.5 s health check under a 1 s timeout passes, whenever in the second
    wardd starts it (the timeout must be measured, not truncated to whole seconds)."""
    dev = make_device("file", health_timeout=1)
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.power_on() == "B"
    dev.set_health("pass", delay=0.5)
    _start_at_fraction(0.75)
    p = ok(dev.confirm())
    assert dev.slot_state("B") == "good", (
        f"a health check that took 0.5 s of its 1 s was failed: {p.stdout.strip()}")


@BACKENDS
def test_policy_approve_waits_for_approval(make_device, rel, backend):
    dev = make_device(backend, policy="approve")
    env_before = dev.env()
    p = ok(dev.install(rel.bundle(rel.v1)))
    assert "wardd approve" in p.stdout
    assert dev.slot_bytes("B") == rel.v1.data
    assert dev.slot_state("B") == "awaiting-approval"
    assert dev.reboots() == 0, "an update waiting for approval requested a reboot"
    assert dev.env() == env_before, "the bootloader was changed before approval"
    s = dev.status_json()
    assert s["bootloader"]["trial"] is None and s["bootloader"]["next"] == "A"
    assert "waits for `wardd approve`" in ok(dev.run("status")).stdout
    assert dev.power_on() == "A", "an unapproved update was booted"
    ok(dev.confirm())
    assert dev.slot_state("B") == "awaiting-approval"

    ok(dev.run("approve"))
    assert dev.slot_state("B") == "trial" and dev.reboots() == 1
    assert dev.power_on() == "B"
    ok(dev.confirm())
    assert dev.status_json()["slots"]["B"]["state"] == "good"
    msg = one_line_error(dev.run("approve"))
    assert "no installed update is waiting" in msg


# ---- refusals: nothing written ----------------------------------------------------------

def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _image_offset(bundle: bytes, image: bytes) -> int:
    off = bundle.find(image[:4096])
    assert off > 0
    return off


@pytest.fixture(scope="module")
def foreign(tmp_path_factory, ward_bin):
    """Another maker's repository signing an image with the same name and version."""
    r = Release(tmp_path_factory.mktemp("foreign"), ward_bin)
    r.v1 = r.add("1.0", image_bytes("evil", 1 * MiB))
    return r


def _refusal_bundle(case: str, rel, foreign, tmp_path):
    good = rel.bundle(rel.v1).read_bytes()
    out = tmp_path / f"{case}.ward"
    if case == "tampered image":
        out.write_bytes(_flip(good, _image_offset(good, rel.v1.data) + 300 * KiB))
    elif case == "tampered last byte":
        out.write_bytes(_flip(good, len(good) - 1))
    elif case == "other repository's keys":
        return foreign.bundle(foreign.v1)
    elif case == "wrong hardware id":
        return rel.bundle(rel.other_hw)
    elif case == "larger than the slot":
        return rel.bundle(rel.big)
    elif case == "truncated":
        out.write_bytes(good[: len(good) - 1000])
    elif case == "garbage":
        out.write_bytes(image_bytes("garbage", 200 * KiB))
    elif case == "empty":
        out.write_bytes(b"")
    elif case == "missing":
        pass
    elif case == "directory":
        out.mkdir()
    else:
        raise AssertionError(case)
    return out


REFUSALS = {
    # case: words the one-line error must contain (any of them)
    "tampered image": ("hash", "sha256", "does not match"),
    "tampered last byte": ("hash", "sha256", "does not match"),
    "other repository's keys": ("signature", "threshold", "root"),
    "wrong hardware id": ("acme-doorbell",),
    "larger than the slot": ("does not fit",),
    "truncated": ("truncated", "past the end"),
    "garbage": ("not a ward bundle",),
    "empty": ("not a ward bundle",),
    "missing": ("No such file",),
    "directory": ("not a regular file",),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_bundle_writes_nothing(make_device, rel, foreign, tmp_path, case):
    dev = make_device("file", b_initial=image_bytes("previous image in B", 900 * KiB))
    ok(dev.confirm())
    bundle = _refusal_bundle(case, rel, foreign, tmp_path)
    before = {s: dev.slot_bytes(s) for s in "AB"}
    env_before = dev.env()
    state_before = dev.state()

    msg = one_line_error(dev.install(bundle))
    assert msg.startswith("wardd: install: ")
    assert any(w in msg for w in REFUSALS[case]), f"unclear error for {case}: {msg}"
    assert dev.slot_bytes("A") == before["A"]
    assert dev.slot_bytes("B") == before["B"], f"{case}: the inactive slot was written"
    assert dev.env() == env_before, f"{case}: the bootloader environment changed"
    assert dev.reboots() == 0
    st = dev.state()
    assert device.state_problems(st) == []
    assert st["slots"]["B"]["state"] not in ("trial", "installed", "awaiting-approval")
    assert st["floor"] == state_before["floor"]
    assert dev.power_on() == "A"
    # a good bundle still installs afterwards
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.slot_bytes("B") == rel.v1.data


def test_signed_downgrade_below_the_floor_is_refused(make_device, tmp_path, ward_bin):
    r = Release(tmp_path / "rel", ward_bin)
    v1 = r.add("1.0", image_bytes("d-1.0", 512 * KiB))
    dev = make_device("file", release=r)
    update_to(dev, r.bundle(v1), v1)
    assert dev.state()["floor"] == "1.0"
    old = r.add("0.9", image_bytes("d-0.9", 512 * KiB))  # signed AFTER 1.0: fresh metadata
    a_before = dev.slot_bytes("A")
    env_before = dev.env()
    msg = one_line_error(dev.install(r.bundle(old)))
    assert "0.9" in msg and "floor 1.0" in msg and "downgrade" in msg
    assert dev.slot_bytes("A") == a_before, "the downgrade was written to the inactive slot"
    assert dev.env() == env_before and dev.reboots() == 1
    assert dev.power_on() == "B"
    # the floor admits the same version and newer ones
    same = r.add("1.0.1", image_bytes("d-1.0.1", 512 * KiB))
    ok(dev.install(r.bundle(same)))


def test_install_while_the_running_slot_is_still_on_trial_is_refused(make_device, rel):
    """Booted into an unconfirmed trial of B, the other slot A is the bootloader's
    only fallback: overwriting it would leave nothing good to fall back to."""
    dev = make_device("file")
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.power_on() == "B"  # trial boot; wardd has not confirmed it yet
    factory = dev.slot_bytes("A")
    p = dev.install(rel.bundle(rel.v2))
    assert dev.slot_bytes("A") == factory, (
        "wardd overwrote the fallback slot A while B was still on trial "
        f"(exit {p.returncode}: {p.stdout.strip()} {p.stderr.strip()})")
    one_line_error(p)
    # and B still falls back to the intact A if it never confirms
    boots = [dev.power_on() for _ in range(4)]
    assert boots[-1] == "A" and dev.slot_bytes("A") == factory


# ---- status, by-hand marking, the lock -----------------------------------------------------

def test_status_text_and_json(make_device, rel):
    dev = make_device("file")
    p = ok(dev.run("status"))
    assert "booted slot:    A" in p.stdout and f"hardware id:    {HW}" in p.stdout
    assert "security floor: (none yet)" in p.stdout
    assert "trial none" in p.stdout

    ok(dev.install(rel.bundle(rel.v1)))
    p = ok(dev.run("status"))
    assert "next boot B, trial B (3 attempts left)" in p.stdout
    lines = {ln.split(":")[0]: ln for ln in p.stdout.splitlines()}
    assert "trial" in lines["slot B"] and "1.0" in lines["slot B"] and rel.v1.name in lines["slot B"]

    dev.power_on()
    ok(dev.confirm())
    p = ok(dev.run("status"))
    assert "booted slot:    B" in p.stdout and "security floor: 1.0" in p.stdout
    lines = {ln.split(":")[0]: ln for ln in p.stdout.splitlines()}
    assert "good" in lines["slot B"] and "1.0" in lines["slot B"]
    assert "unknown" in lines["slot A"]  # the factory image: wardd never recorded it

    s = json.loads(ok(dev.run("status", "--json")).stdout)
    assert set(s) >= {"booted", "floor", "hardware_id", "bootloader", "slots"}
    assert s["hardware_id"] == HW and s["booted"] == "B" and s["floor"] == "1.0"
    assert s["bootloader"]["error"] is None
    b = s["slots"]["B"]
    assert b == {**b, "state": "good", "version": "1.0", "target": rel.v1.name,
                 "length": len(rel.v1.data), "sha256": rel.v1.sha256, "reason": "",
                 "path": str(dev.slot_paths["B"])}

    # a broken bootloader environment is reported, not hidden
    dev.env_path.write_text("ward_slot=C\n")
    s = json.loads(ok(dev.run("status", "--json")).stdout)
    assert s["bootloader"]["error"] and "ward_slot" in s["bootloader"]["error"]


@BACKENDS
def test_mark_good_by_hand(make_device, rel, backend):
    dev = make_device(backend)
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.power_on() == "B"
    p = ok(dev.run("mark-good"))
    assert "slot B marked good" in p.stdout
    assert dev.health_runs() == 0
    s = dev.status_json()
    assert s["slots"]["B"]["state"] == "good" and s["floor"] == "1.0"
    assert s["bootloader"]["trial"] is None and s["bootloader"]["good"] == "B"
    for _ in range(3):
        assert dev.power_on() == "B"
    ok(dev.confirm())
    assert dev.health_runs() == 0


@BACKENDS
def test_mark_bad_by_hand_boots_the_other_good_slot(make_device, rel, backend):
    dev = make_device(backend)
    ok(dev.confirm())  # the factory boot: wardd records A good
    update_to(dev, rel.bundle(rel.v1), rel.v1)  # B runs 1.0; A keeps the good factory image
    p = ok(dev.run("mark-bad"))
    assert "slot B marked bad" in p.stdout
    st = dev.state()
    assert st["slots"]["B"]["state"] == "bad" and st["slots"]["B"]["reason"] == "marked bad by hand"
    assert dev.status_json()["bootloader"]["next"] == "A"
    assert dev.power_on() == "A"
    ok(dev.confirm())
    assert dev.power_on() == "A"


@pytest.mark.parametrize("other", ["never written", "interrupted install", "failed install"])
def test_mark_bad_never_points_the_bootloader_at_a_slot_without_a_good_image(
        make_device, rel, other):
    """When the other slot holds no confirmed image (nothing was ever installed
    there; an install was interrupted while writing it: "writing"; a write
    error stopped it half-way: "bad"), `mark-bad` must not make the device boot
    it: the factory image in A is all there is. (Whether it refuses or not, the
    next power-on must boot A.)"""
    dev = make_device("file")
    ok(dev.confirm())
    if other == "interrupted install":
        proc = dev.popen("install", rel.bundle(rel.v1))
        _wait_for(lambda: dev.slot_state("B") == "writing" and os.path.getsize(
            dev.slot_paths["B"]) != 64 * KiB, proc)
        os.killpg(proc.pid, 9)
        proc.communicate()
    elif other == "failed install":
        def limit():  # writes past 300 KiB fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (300 * KiB, 300 * KiB))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        one_line_error(dev.install(rel.bundle(rel.v1), preexec_fn=limit))
        assert dev.slot_state("B") == "bad"
    p = dev.run("mark-bad")
    booted = dev.power_on()
    assert booted == "A", (f"after mark-bad (exit {p.returncode}: {p.stdout.strip()} "
                           f"{p.stderr.strip()}) the device booted slot B, which wardd "
                           f"itself recorded as {dev.slot_state('B')!r}")


def _wait_for(cond, proc, timeout=10.0):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError("wardd finished before the condition held")
        time.sleep(0.0005)
    raise AssertionError("timed out")


def test_concurrent_commands_refused_by_the_lock(make_device, rel):
    dev = make_device("file", health_timeout=3)
    ok(dev.install(rel.bundle(rel.v2)))
    assert dev.power_on() == "B"
    dev.set_health("hang")
    confirm = dev.popen("confirm")  # holds the lock while the health check hangs
    try:
        _wait_for(lambda: dev.health_runs() > 0, confirm)
        a_before = dev.slot_bytes("A")
        for args in (["install", rel.bundle(rel.v1)], ["mark-good"], ["mark-bad"], ["approve"],
                     ["confirm"]):
            msg = one_line_error(dev.run(*args))
            assert "another wardd command is changing the device" in msg, msg
        assert dev.slot_bytes("A") == a_before
        ok(dev.run("status"))  # reading needs no lock
    finally:
        out, err = confirm.communicate(timeout=30)
    assert confirm.returncode == 0, err
    assert dev.slot_state("B") == "bad"

    # a lock held by anyone else counts too
    with open(dev.state_dir / "lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        msg = one_line_error(dev.install(rel.bundle(rel.v1)))
        assert "another wardd command" in msg
    assert dev.power_on() == "A"
    ok(dev.install(rel.bundle(rel.v1)))


@pytest.mark.parametrize("health", ["pass", "fail"])
def test_daemon_settles_the_boot_then_waits(make_device, rel, health):
    """`wardd -c DEVICE.conf` (no command) settles the trial boot first, then
    stays up (an offline device has nothing else to do) until SIGTERM."""
    dev = make_device("uboot")
    ok(dev.install(rel.bundle(rel.v1)))
    assert dev.power_on() == "B"
    dev.set_health(health)
    daemon = dev.popen()
    try:
        want = "good" if health == "pass" else "bad"
        t = time.monotonic()
        while dev.slot_state("B") != want and time.monotonic() - t < 20:
            assert daemon.poll() is None, f"the daemon exited: {daemon.communicate()}"
            time.sleep(0.02)
        assert dev.slot_state("B") == want
        time.sleep(0.3)
        assert daemon.poll() is None, "the daemon did not stay up after settling the boot"
        assert dev.health_runs() == 1
        assert dev.reboots() == (1 if health == "pass" else 2)
    finally:
        daemon.terminate()
        out, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert ("confirmed good" if health == "pass" else "rolling back to A") in out
    assert dev.power_on() == ("B" if health == "pass" else "A")
