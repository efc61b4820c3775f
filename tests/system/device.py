"""device — a simulated wardd device for ward's agent system tests.

A ``Device`` is one temporary directory that holds everything a device running
wardd has, with every outside effect replaced by something a test can see:

  slots/a.img, slots/b.img  the two slots (raw files, or any path given)
  state/                    wardd's state_dir (state.json, tuf/, lock)
  boot/                     the bootloader environment, made by bootsim:
                            fw_env.config + two copies (uboot), grubenv (grub),
                            boot.env (file)
  cmdline                   the "kernel command line" bootsim writes on power-on
                            and wardd reads ([device] booted_from)
  health.sh, health.mode    the health check; health.mode holds "MODE DELAY"
                            (pass | fail | hang, seconds to sleep first);
                            every run appends to health.log and health.pids
  reboot.sh, reboot.log     the reboot_command: appends one line, reboots nothing
  device.conf               wardd's configuration for the chosen backend

``Release`` is the maker's side: a `ward repo` with signed images and the
bundles made from it. ``check_invariants`` is what must hold at every power-on
whatever happened before (used by the power-loss and fault tests), and
``powerloss_run`` is the seeded power-loss scenario shared by
tests/system/test_powerloss.py and scripts/powerloss-soak.

Binaries: $WARD_BUILD/cli/ward and $WARD_BUILD/agent/wardd (WARD_BUILD
defaults to <repo>/build, as in conftest.py). The bootloader is played by
tests/system/bootsim.py (``BootSim(kind, env_path, cmdline).power_on()``).
Nothing here reboots, mounts or touches anything outside its directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bootsim  # noqa: E402

BACKENDS = ("uboot", "grub", "file")
SLOTS = ("A", "B")
SLOT_STATES = ("unknown", "writing", "installed", "awaiting-approval", "trial", "good", "bad")
HW = "acme-cam-v2"
KiB = 1024
MiB = 1024 * 1024


def build_dir() -> Path:
    return Path(os.environ.get("WARD_BUILD", str(REPO_ROOT / "build")))


def _binary(rel: str) -> Path:
    path = build_dir() / rel
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"{path} not found: build it first (meson setup {build_dir()} && ninja -C "
            f"{build_dir()}), or point WARD_BUILD at a build directory")
    return path


def ward_path() -> Path:
    return _binary("cli/ward")


def wardd_path() -> Path:
    return _binary("agent/wardd")


@pytest.fixture(scope="session")
def wardd_bin() -> Path:
    """Path of the built wardd; a missing binary FAILS the test (never skips)."""
    try:
        return wardd_path()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path, length: int | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        left = length
        while True:
            n = 1 << 20 if left is None else min(1 << 20, left)
            if n == 0:
                break
            chunk = f.read(n)
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


def image_bytes(seed: int | str, size: int) -> bytes:
    """Deterministic, incompressible-looking bytes: an image's content."""
    out = bytearray()
    counter = 0
    key = str(seed).encode()
    while len(out) < size:
        out += hashlib.sha256(key + counter.to_bytes(8, "big")).digest() * 32
        counter += 1
    return bytes(out[:size])


# ---- the maker: a signed repository and its bundles -------------------------------

@dataclass
class Image:
    name: str           # TUF target path
    version: str
    hardware_id: str
    data: bytes
    sha256: str
    path: Path          # the file that was signed


class Release:
    """A `ward repo` (unencrypted keys) with signed images and bundles made from it."""

    def __init__(self, directory: Path, ward: Path | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ward = Path(ward) if ward else ward_path()
        self.repo = self.dir / "repo"
        self.images: dict[str, Image] = {}
        self._bundles: dict[tuple[str, int], Path] = {}
        self._generation = 0
        self._run("repo", "init", self.repo, "--unencrypted-keys")

    def _run(self, *args) -> subprocess.CompletedProcess:
        p = subprocess.run([str(self.ward), *map(str, args)], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise RuntimeError(f"ward {' '.join(map(str, args))} failed: {p.stderr.strip()}")
        return p

    @property
    def root(self) -> Path:
        """The root a device ships with (its [device] trusted_root)."""
        return self.repo / "repo" / "metadata" / "1.root.json"

    def add(self, version: str, data: bytes, *, name: str | None = None,
            hardware_id: str = HW) -> Image:
        name = name or f"{hardware_id}/{version}.img"
        src = self.dir / "src" / name.replace("/", "_")
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
        self._run("repo", "add", self.repo, src, "--name", name, "--hardware-id", hardware_id,
                  "--version", version)
        self._generation += 1
        img = Image(name, version, hardware_id, data, sha256(data), src)
        self.images[name] = img
        return img

    def bundle(self, image: Image) -> Path:
        """A bundle of image from the repository as it is now (made once per state)."""
        key = (image.name, self._generation)
        if key not in self._bundles:
            out = self.dir / "bundles" / f"{image.name.replace('/', '_')}.g{self._generation}.ward"
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.exists():
                out.unlink()
            self._run("bundle", "create", self.repo, "--target", image.name, "-o", out)
            self._bundles[key] = out
        return self._bundles[key]


# ---- the device -----------------------------------------------------------------

HEALTH_SH = """#!/bin/sh
# the device's health check, driven by the test through health.mode
echo "$$" >> "{d}/health.pids"
echo run >> "{d}/health.log"
read mode delay < "{d}/health.mode"
if [ "$delay" != "0" ]; then sleep "$delay"; fi
case "$mode" in
pass) exit 0 ;;
fail) echo "health: the camera service is down" >&2; exit 3 ;;
hang) exec sleep 3600 ;;
esac
exit 2
"""

REBOOT_SH = """#!/bin/sh
# stands in for /sbin/reboot: records the request, reboots nothing
echo reboot >> "{d}/reboot.log"
"""


class Device:
    """One simulated device; see the module docstring for its layout."""

    def __init__(self, base: Path, trusted_root: Path, backend: str = "file", *,
                 wardd: Path | None = None, factory: bytes | None = None,
                 b_initial: bytes | None = None, hardware_id: str = HW,
                 slot_size: int = 4 * MiB, max_attempts: int = 3, policy: str = "auto",
                 health_timeout: int = 10, slot_a: Path | None = None,
                 slot_b: Path | None = None, boot: bool = True):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        self.dir = Path(base)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend
        self.wardd_bin = Path(wardd) if wardd else wardd_path()
        self.trusted_root = Path(trusted_root)
        self.hardware_id = hardware_id
        self.slot_size = slot_size
        self.max_attempts = max_attempts
        self.policy = policy
        self.health_timeout = health_timeout
        self.state_dir = self.dir / "state"
        self.cmdline = self.dir / "cmdline"
        self.conf = self.dir / "device.conf"
        self.health_cmd = str(self.dir / "health.sh")
        self.reboot_cmd = str(self.dir / "reboot.sh")
        (self.dir / "slots").mkdir(exist_ok=True)
        self.slot_paths = {"A": Path(slot_a) if slot_a else self.dir / "slots" / "a.img",
                           "B": Path(slot_b) if slot_b else self.dir / "slots" / "b.img"}
        self.factory = factory if factory is not None else image_bytes("factory", 256 * KiB)
        if slot_a is None:
            self.slot_paths["A"].write_bytes(self.factory)
        if slot_b is None:
            self.slot_paths["B"].write_bytes(
                b_initial if b_initial is not None else image_bytes("blank-b", 64 * KiB))
        self.env_path = bootsim.make_env(backend, self.dir / "boot")
        self.sim = bootsim.BootSim(backend, self.env_path, self.cmdline)
        (self.dir / "health.sh").write_text(HEALTH_SH.format(d=self.dir))
        (self.dir / "reboot.sh").write_text(REBOOT_SH.format(d=self.dir))
        os.chmod(self.dir / "health.sh", 0o755)
        os.chmod(self.dir / "reboot.sh", 0o755)
        self.set_health("pass")
        self.write_conf()
        if boot:
            self.power_on()

    # -- configuration --------------------------------------------------------
    def write_conf(self, **override) -> None:
        """(Re)write device.conf; override maps "section.key" -> value (None drops the key)."""
        keys = {
            "device.hardware_id": self.hardware_id,
            "device.state_dir": self.state_dir,
            "device.trusted_root": self.trusted_root,
            "device.booted_from": self.cmdline,
            "slots.a": self.slot_paths["A"],
            "slots.b": self.slot_paths["B"],
            "slots.size": self.slot_size,
            "bootloader.backend": self.backend,
            "bootloader.max_attempts": self.max_attempts,
            "health.command": self.health_cmd,
            "health.timeout": self.health_timeout,
            "update.policy": self.policy,
            "update.reboot_command": self.reboot_cmd,
        }
        keys[{"uboot": "bootloader.fw_env_config", "grub": "bootloader.grubenv",
              "file": "bootloader.env_file"}[self.backend]] = self.env_path
        for k, v in override.items():
            k = k.replace("__", ".")
            if v is None:
                keys.pop(k, None)
            else:
                keys[k] = v
        sections: dict[str, list[str]] = {}
        for k, v in keys.items():
            sec, name = k.split(".", 1)
            sections.setdefault(sec, []).append(f"{name} = {v}")
        self.conf.write_text("".join(f"[{s}]\n" + "\n".join(lines) + "\n\n"
                                     for s, lines in sections.items()))

    # -- running wardd ----------------------------------------------------------
    def argv(self, *args) -> list[str]:
        return [str(self.wardd_bin), "-c", str(self.conf), *map(str, args)]

    def run(self, *args, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        """Run `wardd -c device.conf ARGS`; the exit code is for the caller to assert."""
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)

    def popen(self, *args, **kw) -> subprocess.Popen:
        """Start wardd in its own process group (so a "power cut" can kill it and its tools)."""
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, start_new_session=True, **kw)

    def install(self, bundle, **kw):
        return self.run("install", bundle, **kw)

    def confirm(self, **kw):
        return self.run("confirm", **kw)

    def status_json(self) -> dict:
        p = self.run("status", "--json")
        assert p.returncode == 0, f"status --json failed: {p.stderr}"
        return json.loads(p.stdout)

    # -- health check and reboot ---------------------------------------------------
    def set_health(self, mode: str, delay: float = 0) -> None:
        assert mode in ("pass", "fail", "hang")
        (self.dir / "health.mode").write_text(f"{mode} {delay}\n")

    def health_runs(self) -> int:
        try:
            return len((self.dir / "health.log").read_text().splitlines())
        except FileNotFoundError:
            return 0

    def health_pids(self) -> list[int]:
        try:
            return [int(x) for x in (self.dir / "health.pids").read_text().split()]
        except FileNotFoundError:
            return []

    def reboots(self) -> int:
        try:
            return len((self.dir / "reboot.log").read_text().splitlines())
        except FileNotFoundError:
            return 0

    def kill_leftovers(self) -> None:
        """Kill health checks a killed wardd left behind (they run in their own group)."""
        for pid in self.health_pids():
            for target in (-pid, pid):
                try:
                    os.kill(target, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    # -- the bootloader ---------------------------------------------------------------
    def power_on(self) -> str:
        """Power the device on: the bootloader (bootsim) picks a slot and writes the cmdline."""
        return self.sim.power_on()

    @property
    def booted(self) -> str:
        return self.cmdline.read_text().split("ward.slot=")[1][0]

    def env(self) -> dict | None:
        return bootsim.WarddEnv(self.backend, self.env_path).show()

    # -- slots and state ---------------------------------------------------------------
    def slot_bytes(self, slot: str) -> bytes:
        return self.slot_paths[slot].read_bytes()

    def slot_sha(self, slot: str, length: int | None = None) -> str:
        return file_sha256(self.slot_paths[slot], length)

    def state(self) -> dict | None:
        """state.json parsed (None when absent); raises if it does not parse."""
        try:
            with open(self.state_dir / "state.json") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def slot_state(self, slot: str) -> str:
        st = self.state()
        return st["slots"][slot]["state"] if st else "unknown"


def one_line_error(p: subprocess.CompletedProcess) -> str:
    """The failure message of a wardd run that must have failed with one clear line."""
    assert p.returncode == 1, f"expected exit 1, got {p.returncode}: {p.stdout!r} {p.stderr!r}"
    lines = p.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("wardd: "), \
        f"expected one 'wardd: ...' line on stderr, got {p.stderr!r}"
    return lines[0]


# ---- invariants -------------------------------------------------------------------

def state_problems(st: dict | None) -> list[str]:
    """What is wrong with a parsed state.json (empty list: nothing)."""
    if st is None:
        return []
    out = []
    if st.get("format") != 1:
        out.append(f"state.json format is {st.get('format')!r}")
    if not isinstance(st.get("floor"), str):
        out.append("state.json floor is not a string")
    slots = st.get("slots")
    if not isinstance(slots, dict) or set(slots) != set(SLOTS):
        return out + [f"state.json slots are {slots!r}"]
    for s in SLOTS:
        info = slots[s]
        if info.get("state") not in SLOT_STATES:
            out.append(f"slot {s} has state {info.get('state')!r}")
        for k in ("version", "target", "sha256", "reason"):
            if not isinstance(info.get(k), str):
                out.append(f"slot {s} {k} is {info.get(k)!r}")
        if not isinstance(info.get("length"), int):
            out.append(f"slot {s} length is {info.get('length')!r}")
    return out


def check_invariants(dev: Device, known: dict[str, Image], booted: str) -> list[str]:
    """What must hold whenever the device has just powered on into `booted`.

    - the booted slot holds, byte for byte, the factory image or one complete
      signed image (known: sha256 -> Image, the factory included);
    - state.json parses and names only valid slot states;
    - the booted slot is not one wardd recorded as "writing" or "bad" (wardd
      tells the bootloader before it records a slot bad, and never points it
      at a slot being written);
    - every slot that state.json says holds a verified image (installed,
      awaiting-approval, trial, good) with a recorded hash really holds it.
    """
    problems = []
    data = dev.slot_bytes(booted)
    digest = sha256(data)
    if digest not in known:
        problems.append(f"the bootloader booted slot {booted}, which holds {len(data)} bytes "
                        f"(sha256 {digest[:16]}) that are not a complete signed image")
    try:
        st = dev.state()
    except (ValueError, OSError) as e:
        return problems + [f"state.json does not parse: {e}"]
    problems += state_problems(st)
    if st and not problems:
        mine = st["slots"][booted]
        if mine["state"] in ("writing", "bad"):
            problems.append(f"the bootloader booted slot {booted}, which wardd recorded as "
                            f"{mine['state']!r} ({mine['reason'] or 'no reason'})")
        for s in SLOTS:
            info = st["slots"][s]
            if info["state"] in ("installed", "awaiting-approval", "trial", "good") and info["sha256"]:
                have = dev.slot_sha(s)
                if have != info["sha256"]:
                    problems.append(f"state.json says slot {s} is {info['state']} with sha256 "
                                    f"{info['sha256'][:16]}, but the slot holds {have[:16]}")
    return problems


def settled(dev: Device) -> tuple[bool, str]:
    """True when the device runs a confirmed slot: no trial pending, wardd and the
    bootloader agree that the booted slot is the good one and boots next."""
    s = dev.status_json()
    b = dev.booted
    bl = s["bootloader"]
    ok = (s["booted"] == b and bl["trial"] is None and bl["good"] == b and bl["next"] == b
          and s["slots"][b]["state"] == "good")
    return ok, json.dumps({"booted": s["booted"], "bootloader": bl,
                           "A": s["slots"]["A"]["state"], "B": s["slots"]["B"]["state"]})


# ---- the power-loss scenario ---------------------------------------------------------

# Syscalls at whose entry the strace-driven runs cut the power: everything wardd
# does that changes a file, or starts or waits for a tool.
KILL_SYSCALLS = ("write,pwrite64,pwritev,fsync,fdatasync,ftruncate,rename,renameat,renameat2,"
                 "unlink,unlinkat,openat,mkdir,mkdirat,clone,clone3,vfork,fork,wait4,close")


@dataclass
class PowerlossFleet:
    """What every power-loss run shares: the signed images and their bundles."""
    release: Release
    factory: Image
    v1: Image
    v2: Image
    bundles: dict[str, Path]
    known: dict[str, Image]                 # sha256 -> image, the factory image included
    # per (backend, kind, image, health, strace?): the uninterrupted command's
    # duration in seconds, or the names of its state-changing syscalls in order
    calibration: dict[tuple, float | list[str]] = field(default_factory=dict)


def make_powerloss_fleet(directory: Path) -> PowerlossFleet:
    rel = Release(Path(directory))
    factory = rel.add("0.1", image_bytes("pl-factory", 256 * KiB))
    v1 = rel.add("1.0", image_bytes("pl-v1", 1 * MiB))
    v2 = rel.add("2.0", image_bytes("pl-v2", 512 * KiB))
    small1 = rel.add("1.1", image_bytes("pl-v1.1", 384 * KiB))
    big2 = rel.add("2.1", image_bytes("pl-v2.1", 2 * MiB))
    imgs = [factory, v1, v2, small1, big2]
    bundles = {i.version: rel.bundle(i) for i in imgs}
    return PowerlossFleet(rel, factory, v1, v2, bundles, {i.sha256: i for i in imgs})


@dataclass
class RunResult:
    seed: int
    backend: str
    story: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def report(self) -> str:
        return (f"seed {self.seed} ({self.backend}): " + "; ".join(self.problems)
                + "\n  story: " + " | ".join(self.story)
                + f"\n  reproduce: scripts/powerloss-soak 1 {self.seed}")


def backend_for_seed(seed: int) -> str:
    """Most runs on the file backend, one in ten on U-Boot, one in ten on GRUB."""
    r = seed % 10
    return "uboot" if r == 3 else "grub" if r == 7 else "file"


def _power_cut(proc: subprocess.Popen, dev: Device) -> None:
    """Everything stops at once: wardd, the tools it runs, its health check."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
    dev.kill_leftovers()


def _timed_op(dev: Device, args: list, delay: float) -> str:
    """Run wardd ARGS and cut the power after `delay` seconds (if still running)."""
    proc = dev.popen(*args)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        _power_cut(proc, dev)
        return f"cut after {delay * 1000:.1f} ms"
    proc.communicate()
    dev.kill_leftovers()  # a cut right after it finished
    return f"finished (rc {proc.returncode}) before the cut at {delay * 1000:.1f} ms"


def trace_syscalls(dev: Device, args: list, syscalls: str = KILL_SYSCALLS) -> list[str]:
    """The lines strace prints for `syscalls` during an uninterrupted `wardd ARGS`
    ("rename(\"/x/state.json.tmp\", \"/x/state.json\") = 0"), in order."""
    out = dev.dir / "calib.strace"
    subprocess.run(["strace", "-qq", "-s", "256", "-o", str(out), "-e", f"trace={syscalls}",
                    *dev.argv(*args)], capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    lines = []
    for line in out.read_text().splitlines():
        name = line.split("(", 1)[0].strip()
        if name and name.replace("_", "").isalnum() and not line.startswith(("+++", "---")):
            lines.append(line)
    out.unlink()
    return lines


def _syscall_trace(dev: Device, args: list) -> list[str]:
    """Names of the KILL_SYSCALLS an uninterrupted `wardd ARGS` makes, in order."""
    return [line.split("(", 1)[0].strip() for line in trace_syscalls(dev, args)]


def cut_on_syscall(dev: Device, args: list, name: str, k: int) -> None:
    """Run `wardd ARGS` and cut the power on entry to its k-th `name` syscall
    (strace fault injection: the call does not happen, then SIGKILL)."""
    proc = subprocess.Popen(
        ["strace", "-qq", "-o", "/dev/null", "-e", f"trace={name}",
         "-e", f"inject={name}:error=EIO:signal=SIGKILL:when={k}", *dev.argv(*args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
        start_new_session=True)
    try:
        proc.wait(timeout=120)
    finally:
        _power_cut(proc, dev)


def _strace_op(dev: Device, args: list, seq: list[str], i: int) -> str:
    """Cut the power on entry to the i-th state-changing syscall of `wardd ARGS`
    (seq: the names an uninterrupted run makes). strace counts each syscall
    separately, so the i-th of the whole sequence is the k-th of its name."""
    name = seq[i]
    k = seq[: i + 1].count(name)
    cut_on_syscall(dev, args, name, k)
    return f"cut on entry to syscall #{i + 1} of {len(seq)} ({name} #{k})"


def _prepare(fleet: PowerlossFleet, base: Path, wardd, backend: str, kind: str, new: str,
             health: str, rng: random.Random | None, story: list, problems: list,
             b_initial: bytes, max_attempts: int = 3, power_on=None) -> tuple[Device, list]:
    """A device in the state just before the operation that gets cut."""
    dev = Device(base, fleet.release.root, backend, wardd=wardd, factory=fleet.factory.data,
                 b_initial=b_initial, policy="approve" if kind == "approve" else "auto",
                 max_attempts=max_attempts, health_timeout=5)
    power_on = power_on or (lambda d, why: d.power_on())

    def must(p: subprocess.CompletedProcess, what: str) -> None:
        if p.returncode != 0:
            problems.append(f"{what} failed: {p.stderr.strip()}")

    dev.set_health("pass")
    must(dev.confirm(), "confirm of the factory image")
    if kind == "second":
        # an earlier update, complete and confirmed: the device runs B, A holds the factory image
        must(dev.install(fleet.bundles["1.0"]), "first install")
        power_on(dev, "reboot after the first install")
        must(dev.confirm(), "confirm of the first install")
    elif kind == "trial-install":
        # an earlier update whose trial boot has not been confirmed yet: the device
        # runs B on trial, A (the factory image) is the bootloader's fallback
        must(dev.install(fleet.bundles["1.0"]), "first install")
        power_on(dev, "reboot into the trial of the first install")
    dev.set_health(health, delay=rng.choice([0, 0, 0.02, 0.05]) if rng else 0)
    bundle = fleet.bundles[new]
    if kind in ("install", "second", "trial-install"):
        return dev, ["install", bundle]
    must(dev.install(bundle), "install")
    if kind == "confirm":
        power_on(dev, "reboot after the install")
        return dev, ["confirm"]
    return dev, ["approve"]


def _calibrate(fleet: PowerlossFleet, base: Path, wardd, backend: str, kind: str, new: str,
               health: str, use_strace: bool):
    """Duration (s) or syscall sequence of the uninterrupted operation, measured once."""
    key = (backend, kind, new, health, use_strace)
    if key not in fleet.calibration:
        problems: list[str] = []
        dev, args = _prepare(fleet, Path(f"{base}-calib"), wardd, backend, kind, new, health,
                             None, [], problems, image_bytes("calib", 700 * KiB))
        if problems:
            raise RuntimeError(f"calibration of {key} failed: {problems}")
        if use_strace:
            fleet.calibration[key] = _syscall_trace(dev, args)
        else:
            t = time.monotonic()
            dev.run(*args)
            fleet.calibration[key] = time.monotonic() - t
        dev.kill_leftovers()
        shutil.rmtree(f"{base}-calib", ignore_errors=True)
    return fleet.calibration[key]


def powerloss_run(seed: int, fleet: PowerlossFleet, base: Path, wardd: Path | None = None,
                  backend: str | None = None) -> RunResult:
    """One seeded run: an update interrupted by power cuts, then power cycles.

    From the seed: the backend, the operation that is cut (install; confirm
    of a trial boot with a passing or failing health check; approve; an
    install on a device that was already updated once, so that A is the
    target; an install while the device runs an update that is still on
    trial, so that A is the bootloader's fallback), the image, how it is
    cut (a random delay between 0 and 1.2x the measured duration of the
    uninterrupted operation, or, in one run of three, on entry to the i-th
    state-changing syscall, under strace), how many later `wardd confirm`s
    are cut too, and whether the new image hangs before wardd starts. After every power-on check_invariants() must
    hold; then, with no more cuts, the device must settle (settled()) within
    8 power cycles, stay settled over one more power cycle, and run a
    signed image.
    """
    rng = random.Random(seed)
    backend = backend or backend_for_seed(seed)
    kind = rng.choices(["install", "confirm", "approve", "second", "trial-install"],
                       [42, 28, 14, 9, 7])[0]
    health = rng.choices(["pass", "fail"], [75, 25])[0]
    use_strace = rng.random() < 1 / 3
    new = (rng.choice(["2.0", "2.1"]) if kind in ("second", "trial-install")
           else rng.choice(["1.0", "1.1", "2.0", "2.1"]))
    max_attempts = rng.choice([1, 2, 3])
    story = [f"{backend} {kind} of {new}, health {health}, max_attempts {max_attempts}"]
    problems: list[str] = []
    dev: Device | None = None

    def power_on(why: str, d: Device | None = None) -> str:
        d = d or dev
        slot = d.power_on()
        story.append(f"{why}: power on -> {slot}")
        problems.extend(f"after '{why}': {x}" for x in check_invariants(d, fleet.known, slot))
        return slot

    def result() -> RunResult:
        return RunResult(seed, backend, story, problems)

    try:
        calib = _calibrate(fleet, base, wardd, backend, kind, new, health, use_strace)
        dev, args = _prepare(fleet, base, wardd, backend, kind, new, health, rng, story, problems,
                             image_bytes(f"junk-{seed}", 700 * KiB), max_attempts,
                             power_on=lambda d, why: power_on(why, d))
        if problems:
            return result()
        # the cut
        if use_strace:
            story.append(args[0] + " " + _strace_op(dev, args, calib, rng.randrange(len(calib))))
        else:
            story.append(args[0] + " " + _timed_op(dev, args, rng.uniform(0, calib * 1.2)))
        # more power cycles: `wardd confirm` cut too, or the new image hangs before wardd runs
        for cycle in range(rng.randint(0, 3)):
            slot = power_on(f"cut cycle {cycle}")
            if problems:
                return result()
            if dev.status_json()["bootloader"]["trial"] == slot and rng.random() < 0.3:
                story.append("the image hangs before wardd starts")
                continue
            story.append("confirm " + _timed_op(dev, ["confirm"], rng.uniform(0, 0.08)))
        # no more cuts: the device must settle
        slot = power_on("power restored")
        done = False
        for cycle in range(8):
            if problems:
                return result()
            p = dev.confirm()
            story.append(f"confirm rc {p.returncode}: {p.stdout.strip()[:100]}")
            if p.returncode != 0:
                problems.append(f"confirm on slot {slot} failed: {p.stderr.strip()}")
                return result()
            if settled(dev)[0]:
                done = True
                break
            slot = power_on(f"settle cycle {cycle}")
        if problems:
            return result()
        if not done:
            problems.append(f"the device did not settle within 8 power cycles: {settled(dev)[1]}")
            return result()
        # settled is stable: one more power cycle boots the same confirmed slot
        again = power_on("one more power cycle")
        p = dev.confirm()
        ok, why = settled(dev)
        if again != slot:
            problems.append(f"settled on {slot}, but the next power-on booted {again}")
        if p.returncode != 0 or not ok:
            problems.append(f"no longer settled after one more power cycle: rc {p.returncode} {why}")
        img = fleet.known.get(dev.slot_sha(again))
        story.append(f"settled on {again} running {img.version if img else '?'}")
        return result()
    except Exception as e:  # a harness failure is a failed run too, with its seed
        problems.append(f"{type(e).__name__}: {e}")
        return result()
    finally:
        if dev is not None:
            dev.kill_leftovers()
