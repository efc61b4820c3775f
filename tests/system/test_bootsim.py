"""System tests of the boot simulator (tests/system/bootsim.py) against the
real fw_printenv/fw_setenv (libubootenv-tool) and grub-editenv (grub-common).

For each backend (uboot, grub, file), wardd's environment writes are played
by ``bootsim.WarddEnv`` (the same variables, written the same way as
agent/boot_*.c; tests/unit/agent_boot.c drives the C backends through the
same simulator) and the bootloader by ``bootsim.BootSim``:

- try B -> B boots; never confirmed -> B boots max_attempts times (U-Boot,
  file) or once (GRUB), then A, and A stays;
- mark good -> the slot stays; mark bad -> the other slot;
- corrupt, missing and torn environments boot the default slot A;
- the CLI the demo uses.

Run: /usr/bin/python3 -m pytest tests/system/test_bootsim.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bootsim  # noqa: E402
from bootsim import BootSim, UBootEnv, WarddEnv  # noqa: E402

KINDS = bootsim.KINDS


@pytest.fixture(autouse=True, scope="module")
def _tools():
    missing = bootsim.tools_missing()
    if missing:
        pytest.fail(f"missing tools {missing}: apt-get install libubootenv-tool grub-common",
                    pytrace=False)


class Device:
    """A simulated device: its bootloader environment and kernel command line."""

    def __init__(self, kind: str, root: Path):
        self.kind = kind
        self.root = root
        self.env = bootsim.make_env(kind, root / "env")
        self.cmdline = root / "cmdline"
        self.sim = BootSim(kind, self.env, self.cmdline)
        self.wardd = WarddEnv(kind, self.env)

    def boot(self) -> str:
        slot = self.sim.power_on()
        assert f"ward.slot={slot}" in self.cmdline.read_text().split()
        return slot

    def boots(self, n: int) -> list[str]:
        return [self.boot() for _ in range(n)]


def attempts(kind: str, max_attempts: int = 3) -> int:
    return 1 if kind == "grub" else max_attempts


@pytest.fixture(params=KINDS)
def dev(request, tmp_path) -> Device:
    return Device(request.param, tmp_path)


def test_fresh_device_boots_a(dev):
    assert dev.boots(3) == ["A", "A", "A"]
    assert dev.cmdline.read_text().endswith("ward.slot=A\n")


def test_unconfirmed_trial_falls_back(dev):
    assert dev.boot() == "A"
    dev.wardd.try_once("B", max_attempts=3)
    n = attempts(dev.kind)
    assert dev.boots(n) == ["B"] * n
    # never confirmed: the bootloader gives up on B by itself
    assert dev.boots(4) == ["A"] * 4


@pytest.mark.parametrize("max_attempts", [1, 2, 5])
@pytest.mark.parametrize("kind", ["uboot", "file"])
def test_max_attempts(kind, max_attempts, tmp_path):
    d = Device(kind, tmp_path)
    d.wardd.try_once("B", max_attempts=max_attempts)
    assert d.boots(max_attempts + 2) == ["B"] * max_attempts + ["A", "A"]


def test_mark_good_stays(dev):
    dev.wardd.try_once("B")
    assert dev.boot() == "B"
    dev.wardd.mark_good("B")
    assert dev.boots(6) == ["B"] * 6


def test_mark_good_during_last_attempt(dev):
    dev.wardd.try_once("B", max_attempts=2)
    n = attempts(dev.kind, 2)
    assert dev.boots(n) == ["B"] * n
    dev.wardd.mark_good("B")  # confirmed on the last allowed boot
    assert dev.boots(4) == ["B"] * 4


def test_mark_bad_boots_other(dev):
    dev.wardd.try_once("B")
    assert dev.boot() == "B"
    dev.wardd.mark_bad("B")
    assert dev.boots(3) == ["A"] * 3
    # from B confirmed: a bad A goes back to B
    dev.wardd.try_once("B")
    assert dev.boot() == "B"
    dev.wardd.mark_good("B")
    dev.wardd.try_once("A")
    assert dev.boot() == "A"
    dev.wardd.mark_bad("A")
    assert dev.boots(3) == ["B"] * 3


def test_second_update_after_fallback(dev):
    dev.wardd.try_once("B")
    dev.boots(attempts(dev.kind))
    assert dev.boot() == "A"
    dev.wardd.mark_bad("B")  # wardd records the rollback
    dev.wardd.try_once("B")  # a fixed image, tried again
    assert dev.boot() == "B"
    dev.wardd.mark_good("B")
    assert dev.boots(3) == ["B"] * 3


def test_corrupt_environment_boots_default(dev):
    dev.wardd.mark_good("B")
    assert dev.boot() == "B"
    if dev.kind == "uboot":
        for devname, off, size in UBootEnv(dev.env).copies():
            with open(devname, "r+b") as f:
                f.seek(off)
                f.write(b"\x00" * 64)
        assert UBootEnv(dev.env).read() is None
    else:
        Path(dev.env).write_bytes(b"\x00garbage" * 100)
    before = {p.name: p.read_bytes() for p in Path(dev.env).parent.iterdir()}
    assert dev.boots(2) == ["A", "A"]  # the built-in default environment
    after = {p.name: p.read_bytes() for p in Path(dev.env).parent.iterdir()}
    assert before == after  # nothing was saved


def test_uboot_counts_boots_in_the_environment(tmp_path):
    d = Device("uboot", tmp_path)
    env = UBootEnv(d.env)
    d.wardd.try_once("B", max_attempts=3)
    assert env.read()["bootcount"] == "0"
    for n in (1, 2, 3):
        assert d.boot() == "B"
        assert env.read()["bootcount"] == str(n)
    assert d.boot() == "A"  # bootcount 4 > bootlimit 3: altbootcmd
    assert env.read() == {"ward_slot": "A", "ward_good": "A", "upgrade_available": "0",
                          "bootcount": "0", "bootlimit": "3"}


def test_uboot_saves_alternate_copies(tmp_path):
    """Each saveenv goes to the copy that is not current (flags + 1)."""
    d = Device("uboot", tmp_path)
    copies = UBootEnv(d.env).copies()

    def flags():
        out = []
        for devname, off, _ in copies:
            with open(devname, "rb") as f:
                f.seek(off + 4)
                out.append(f.read(1)[0])
        return out

    assert flags() == [1, 0xFF]
    d.wardd.try_once("B")
    assert flags() == [1, 2]
    d.boot()
    assert flags() == [3, 2]
    d.boot()
    assert flags() == [3, 4]


def test_uboot_torn_write_keeps_old_environment(tmp_path):
    d = Device("uboot", tmp_path)
    d.wardd.mark_good("B")
    d.wardd.try_once("A")
    bootsim.tear_newest_uboot_copy(d.env)  # power cut in the middle of try_once's store
    assert d.boots(3) == ["B"] * 3  # the environment before try_once: B confirmed


def test_uboot_torn_bootcount_save(tmp_path):
    """A power cut while U-Boot saves bootcount: the trial goes on from the old count."""
    d = Device("uboot", tmp_path)
    d.wardd.try_once("B", max_attempts=2)
    assert d.boot() == "B"  # bootcount 1
    bootsim.tear_newest_uboot_copy(d.env)  # bootcount 0 again
    assert d.boots(2) == ["B", "B"]
    assert d.boot() == "A"


def test_uboot_bootlimit_zero_never_falls_back(tmp_path):
    """U-Boot's rule (bootlimit 0 = no limit), played faithfully: the reason
    wardd always writes bootlimit with upgrade_available and refuses to report
    a trial without one."""
    d = Device("uboot", tmp_path)
    UBootEnv(d.env).write({"ward_slot": "B", "upgrade_available": "1", "bootcount": "0"})
    assert d.boots(6) == ["B"] * 6


def test_grub_clears_next_entry_like_grub(tmp_path):
    d = Device("grub", tmp_path)
    d.wardd.try_once("B")
    assert bootsim.GrubEnv(d.env).read() == {"next_entry": "B", "ward_trial": "B"}
    assert d.boot() == "B"
    # save_env of an emptied variable: saved as "next_entry=", ward_trial untouched
    assert bootsim.GrubEnv(d.env).read() == {"next_entry": "", "ward_trial": "B"}
    assert d.boot() == "A"
    d.wardd.mark_bad("B")
    assert bootsim.GrubEnv(d.env).read() == {"saved_entry": "A"}


def test_grub_missing_env_boots_a_and_is_not_created(tmp_path):
    d = Device("grub", tmp_path)
    os.unlink(d.env)
    assert d.boot() == "A"
    assert not Path(d.env).exists()
    d.wardd.try_once("B")  # wardd creates it
    assert d.boot() == "B"


def test_grub_truncated_env_boots_default(tmp_path):
    """What an in-place grub-editenv rewrite cut by power leaves (why wardd
    edits a copy and renames it): GRUB cannot load it and boots its default."""
    d = Device("grub", tmp_path)
    d.wardd.mark_good("B")
    Path(d.env).write_bytes(b"")
    assert d.boot() == "A"


def test_grub_unknown_saved_entry_boots_first_entry(tmp_path):
    d = Device("grub", tmp_path)
    subprocess.run(["grub-editenv", str(d.env), "set", "saved_entry=gnulinux-x"], check=True)
    assert d.boot() == "A"


def test_grub_write_leaves_no_temporary_files(tmp_path):
    d = Device("grub", tmp_path)
    for change in (lambda: d.wardd.try_once("B"), lambda: d.wardd.mark_good("B")):
        ino = os.stat(d.env).st_ino
        change()
        assert os.stat(d.env).st_ino != ino  # replaced, not rewritten in place
        assert sorted(p.name for p in Path(d.env).parent.iterdir()) == ["grubenv"]


def test_file_env_written_like_wardd(tmp_path):
    d = Device("file", tmp_path)
    d.wardd.try_once("B")
    assert Path(d.env).read_text() == ("ward_slot=B\nward_good=A\nupgrade_available=1\n"
                                       "bootcount=0\nbootlimit=3\n")
    d.boot()
    assert Path(d.env).read_text() == ("ward_slot=B\nward_good=A\nupgrade_available=1\n"
                                       "bootcount=1\nbootlimit=3\n")


@pytest.mark.parametrize("kind", KINDS)
def test_cli(kind, tmp_path):
    opt = {"uboot": "--fw-env-config", "grub": "--grubenv", "file": "--env-file"}[kind]
    env = bootsim.make_env(kind, tmp_path / "env")
    cmdline = tmp_path / "cmdline"
    base = ["/usr/bin/python3", str(HERE / "bootsim.py"), "--kind", kind, opt, str(env),
            "--cmdline", str(cmdline)]

    def run(*args):
        p = subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert run("power-on") == "A\n"
    run("try-once", "B", "--max-attempts", "2")
    outs = [run("power-on") for _ in range(attempts(kind, 2) + 1)]
    assert outs == ["B\n"] * attempts(kind, 2) + ["A\n"]
    assert "ward.slot=A" in cmdline.read_text().split()
    run("try-once", "B")
    assert run("power-on") == "B\n"
    run("mark-good", "B")
    assert run("power-on") == "B\n"
    assert "ward.slot=B" in cmdline.read_text().split()
    assert run("show")


def test_cli_errors(tmp_path):
    p = subprocess.run(["/usr/bin/python3", str(HERE / "bootsim.py"), "--kind", "uboot",
                        "--fw-env-config", str(tmp_path / "nope"), "--cmdline",
                        str(tmp_path / "c"), "power-on"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1
    assert "fw_printenv" in p.stderr
