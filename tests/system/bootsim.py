#!/usr/bin/python3
"""bootsim — plays the bootloader's part of ward's A/B scheme on "power on".

Given a backend kind and its environment, ``BootSim.power_on()`` decides which
slot boots exactly as the real bootloader would with ward's boot script
(docs/wardd-boot.md), saves what that bootloader saves, writes the "kernel
command line" file wardd reads (``booted_from``, a line holding
``ward.slot=X``) and returns ``"A"`` or ``"B"``. The environment is read and
written only with the real tools, the way the bootloader's own code would
change it:

uboot  fw_env.config -> ``fw_printenv`` / ``fw_setenv`` (libubootenv). As U-Boot
       with CONFIG_BOOTCOUNT_LIMIT + CONFIG_BOOTCOUNT_ENV does: if
       upgrade_available is non-zero, bootcount += 1 and saveenv; if then
       bootlimit is non-zero and bootcount > bootlimit, run altbootcmd
       (ward_slot = ward_good, upgrade_available=0, bootcount=0, saveenv);
       boot ward_slot ("B" boots B, anything else A). Numbers are read like
       U-Boot's env_get_ulong (leading decimal digits, else 0).
       ASSUMPTION: an unreadable or corrupt environment (both copies fail
       their CRC) means U-Boot's built-in default environment, which a device
       maker builds with ward_slot=A ward_good=A (and no upgrade_available):
       the sim boots A and saves nothing, as U-Boot does.
grub   grubenv -> ``grub-editenv FILE list`` / ``grub-editenv FILE set``. As
       ward's grub.cfg: load_env; if next_entry is non-empty, boot it and
       clear it (``set next_entry=`` + ``save_env next_entry``, i.e. saved
       empty); else boot saved_entry; else A. An id that is neither A nor B
       boots menu entry 0, A. A missing or invalid grubenv loads nothing.
file   a key=value file (wardd's file backend): the U-Boot rules above;
       written like wardd writes it (temporary file, fsync, rename); a file
       that does not parse is the default environment.

It also plays wardd's part (``WarddEnv``: try_once / mark_good / mark_bad,
writing exactly the variables agent/boot_*.c write, the same way) until
wardd's CLI can be driven, and makes fresh environments (``make_*_env``).

CLI (for the demo)::

    /usr/bin/python3 tests/system/bootsim.py --kind uboot --fw-env-config F --cmdline C power-on
    ... --kind grub --grubenv G --cmdline C power-on
    ... --kind file --env-file E --cmdline C power-on
    ... init | show | try-once B [--max-attempts 3] | mark-good B | mark-bad B

Nothing here imports ward; it depends on Python 3.11, libubootenv-tool and
grub-common only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Mapping

KINDS = ("uboot", "grub", "file")
WARD_VARS = ("ward_slot", "ward_good", "upgrade_available", "bootcount", "bootlimit")
# The built-in default environment the sim assumes for U-Boot (see above).
UBOOT_DEFAULT_ENV = {"ward_slot": "A", "ward_good": "A"}
UBOOT_ENV_SIZE = 0x4000
TOOL_TIMEOUT = 30


class BootSimError(Exception):
    """A tool failed in a way no bootloader would paper over (bad setup)."""


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                           stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise BootSimError(f"cannot run {argv[0]}: {e}") from e
    if check and p.returncode != 0:
        raise BootSimError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def _ulong(value: str | None) -> int:
    """U-Boot's env_get_ulong(name, 10, 0): leading decimal digits, else 0."""
    if not value:
        return 0
    digits = ""
    for c in value:
        if not c.isdigit():
            break
        digits += c
    return int(digits) if digits else 0


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """tmp in the same directory, fsync, rename, fsync the directory."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# ---- the three environments ------------------------------------------------

class UBootEnv:
    """The U-Boot environment behind a fw_env.config, through libubootenv's tools."""

    def __init__(self, fw_env_config: str | Path):
        self.config = str(fw_env_config)

    def read(self, names=WARD_VARS) -> dict[str, str] | None:
        """The named variables (absent ones left out), or None when the
        environment cannot be read (both copies bad): U-Boot's default then."""
        p = _run(["fw_printenv", "-c", self.config, *names], check=False)
        if p.returncode != 0:
            if "Cannot read environment" in p.stderr:
                return None
            raise BootSimError(f"fw_printenv -c {self.config} exited {p.returncode}: "
                               f"{p.stderr.strip()}")
        env = {}
        lines = p.stdout.split("\n")
        if lines[-1] != "" or len(lines) != len(names) + 1:
            raise BootSimError(f"unexpected fw_printenv output: {p.stdout!r}")
        for name, line in zip(names, lines):
            if not line.startswith(name + "="):
                raise BootSimError(f"unexpected fw_printenv line {line!r}")
            value = line[len(name) + 1:]
            if value:
                env[name] = value
        return env

    def write(self, changes: Mapping[str, str | None]) -> None:
        """One fw_setenv -s run: one store of the whole environment (saveenv)."""
        script = "".join(f"{k}={'' if v is None else v}\n" for k, v in changes.items())
        fd, path = tempfile.mkstemp(prefix="bootsim-fw_setenv.")
        try:
            os.write(fd, script.encode())
            os.close(fd)
            _run(["fw_setenv", "-c", self.config, "-s", path])
        finally:
            os.unlink(path)

    def copies(self) -> list[tuple[str, int, int]]:
        """(device, offset, size) of each copy listed in fw_env.config."""
        out = []
        for line in Path(self.config).read_text().splitlines():
            f = line.split()
            if not f or f[0].startswith("#") or len(f) < 3:
                continue
            out.append((f[0], int(f[1], 0), int(f[2], 0)))
        return out


class FileEnv:
    """wardd's file backend: the U-Boot variables as key=value lines."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> dict[str, str] | None:
        """The variables, {} for a missing file, None when it does not parse."""
        try:
            text = self.path.read_bytes().decode("ascii")
        except FileNotFoundError:
            return {}
        except UnicodeDecodeError:
            return None
        env = {}
        if text and not text.endswith("\n"):
            return None
        for line in text.splitlines():
            name, eq, value = line.partition("=")
            if not eq or not name:
                return None
            env[name] = value
        return env

    def write(self, changes: Mapping[str, str | None]) -> None:
        env = self.read() or {}
        for k, v in changes.items():
            if v is None or v == "":
                env.pop(k, None)
            else:
                env[k] = v
        order = [k for k in WARD_VARS if k in env] + [k for k in env if k not in WARD_VARS]
        _write_atomic(self.path, "".join(f"{k}={env[k]}\n" for k in order).encode())


class GrubEnv:
    """A grubenv block, through grub-editenv."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> dict[str, str] | None:
        """All variables; None when GRUB's load_env would fail (missing or
        invalid block). Never runs `list` on a missing file (it would create it)."""
        if not self.path.exists():
            return None
        p = _run(["grub-editenv", str(self.path), "list"], check=False)
        if p.returncode != 0:
            return None
        env = {}
        for line in p.stdout.splitlines():
            name, eq, value = line.partition("=")
            if eq:
                env[name] = value
        return env

    def save(self, name: str, value: str) -> None:
        """GRUB's `set name=value; save_env name`: rewrites the block in place."""
        _run(["grub-editenv", str(self.path), "set", f"{name}={value}"])


# ---- the bootloaders -------------------------------------------------------

def _env_paths(kind: str, env_paths) -> str:
    if isinstance(env_paths, Mapping):
        key = {"uboot": "fw_env_config", "grub": "grubenv", "file": "env_file"}[kind]
        return str(env_paths[key])
    return str(env_paths)


class BootSim:
    """One device's bootloader. ``boots`` lists the slot of every power-on."""

    def __init__(self, kind: str, env_paths, cmdline_path: str | Path):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.env_path = _env_paths(kind, env_paths)
        self.cmdline = Path(cmdline_path)
        self.boots: list[str] = []

    def power_on(self) -> str:
        if self.kind == "grub":
            slot = self._grub()
        else:
            env = UBootEnv(self.env_path) if self.kind == "uboot" else FileEnv(self.env_path)
            slot = self._uboot(env)
        _write_atomic(self.cmdline,
                      f"BOOT_IMAGE=/boot/vmlinuz root=PARTLABEL=rootfs_{slot.lower()} ro "
                      f"quiet ward.slot={slot}\n".encode())
        self.boots.append(slot)
        return slot

    @staticmethod
    def _uboot(env) -> str:
        vars_ = env.read()
        if vars_ is None:
            vars_ = dict(UBOOT_DEFAULT_ENV)  # corrupt: built-in default, nothing saved
            readable = False
        else:
            readable = True
        upgrade = _ulong(vars_.get("upgrade_available"))
        # bootcount_inc(): bootcount_load() is 0 unless upgrade_available;
        # bootcount_store() saves only when upgrade_available
        bootcount = (_ulong(vars_.get("bootcount")) if upgrade else 0) + 1
        if upgrade and readable:
            env.write({"bootcount": str(bootcount)})
        bootlimit = _ulong(vars_.get("bootlimit"))
        slot_var = vars_.get("ward_slot", "")
        if upgrade and bootlimit and bootcount > bootlimit:
            # altbootcmd: setenv ward_slot ${ward_good}; setenv upgrade_available 0;
            # setenv bootcount 0; saveenv; run bootcmd
            slot_var = vars_.get("ward_good", "")
            if readable:
                env.write({"ward_slot": slot_var, "upgrade_available": "0", "bootcount": "0"})
        return "B" if slot_var == "B" else "A"

    def _grub(self) -> str:
        env = GrubEnv(self.env_path)
        vars_ = env.read() or {}
        nxt = vars_.get("next_entry", "")
        if nxt:
            default = nxt
            env.save("next_entry", "")  # set next_entry= ; save_env next_entry
        elif vars_.get("saved_entry", ""):
            default = vars_["saved_entry"]
        else:
            default = "A"
        return default if default in ("A", "B") else "A"


# ---- wardd's part (mirrors agent/boot_uboot.c, boot_grub.c, boot_file.c) ----

def _other(slot: str) -> str:
    return "A" if slot == "B" else "B"


def _check_slot(slot: str) -> None:
    if slot not in ("A", "B"):
        raise ValueError(f"slot must be A or B, not {slot!r}")


class WarddEnv:
    """Writes what wardd's backend writes, the way it writes it."""

    def __init__(self, kind: str, env_paths):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.env_path = _env_paths(kind, env_paths)

    def try_once(self, slot: str, max_attempts: int = 3) -> None:
        _check_slot(slot)
        if self.kind == "grub":
            self._grub_change(["set", f"next_entry={slot}", f"ward_trial={slot}"])
        else:
            self._uvars({"ward_slot": slot, "upgrade_available": "1", "bootcount": "0",
                         "bootlimit": str(max_attempts)})

    def mark_good(self, slot: str) -> None:
        _check_slot(slot)
        if self.kind == "grub":
            self._grub_change(["set", f"saved_entry={slot}"],
                              ["unset", "next_entry", "ward_trial"])
        else:
            self._uvars({"ward_slot": slot, "ward_good": slot, "upgrade_available": "0",
                         "bootcount": "0"})

    def mark_bad(self, slot: str) -> None:
        _check_slot(slot)
        if self.kind == "grub":
            self.mark_good(_other(slot))
        else:
            o = _other(slot)
            self._uvars({"ward_slot": o, "ward_good": o, "upgrade_available": "0",
                         "bootcount": "0"})

    def show(self) -> dict[str, str] | None:
        if self.kind == "grub":
            return GrubEnv(self.env_path).read()
        if self.kind == "uboot":
            return UBootEnv(self.env_path).read()
        return FileEnv(self.env_path).read()

    def _uvars(self, changes: dict[str, str]) -> None:
        if self.kind == "uboot":
            UBootEnv(self.env_path).write(changes)  # one fw_setenv -s
            return
        env = FileEnv(self.env_path)
        cur = env.read()
        if cur is None:
            raise BootSimError(f"{self.env_path}: does not parse (wardd refuses it too)")
        full = {"ward_slot": "A", "ward_good": "A", "upgrade_available": "0",
                "bootcount": "0", "bootlimit": "0"}
        full.update(cur)
        full.update(changes)
        # boot_file.c writes all five variables, in this order
        _write_atomic(Path(self.env_path),
                      "".join(f"{k}={full[k]}\n" for k in WARD_VARS).encode())

    def _grub_change(self, *edits: list[str]) -> None:
        """grub-editenv on a copy, then one rename over grubenv (as boot_grub.c)."""
        path = Path(self.env_path)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".ward.", dir=path.parent)
        try:
            if path.exists():
                os.write(fd, path.read_bytes())
                os.close(fd)
            else:
                os.close(fd)
                _run(["grub-editenv", tmp, "create"])
            for edit in edits:
                _run(["grub-editenv", tmp, *edit])
            os.chmod(tmp, 0o644)
            os.rename(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


# ---- fresh environments -------------------------------------------------------

def uboot_image(env: Mapping[str, str], size: int = UBOOT_ENV_SIZE, flags: int = 1) -> bytes:
    """One copy of a redundant U-Boot environment: CRC32 (LE) of the data,
    the flags byte, then "name=value\\0"... "\\0", padded to size."""
    data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in sorted(env.items())) + b"\0"
    usable = size - 5
    if len(data) > usable:
        raise ValueError("environment does not fit")
    data = data.ljust(usable, b"\0")
    return struct.pack("<I", zlib.crc32(data) & 0xFFFFFFFF) + bytes([flags]) + data


def make_uboot_env(directory: str | Path, env: Mapping[str, str] | None = None,
                   size: int = UBOOT_ENV_SIZE) -> Path:
    """A redundant environment as a device leaves the factory: copy 0 valid
    (flags 1) holding env (default: U-Boot's built-in ward defaults), copy 1
    erased flash (0xff, bad CRC). Returns the fw_env.config naming both."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    env = dict(UBOOT_DEFAULT_ENV if env is None else env)
    (d / "uboot-env0").write_bytes(uboot_image(env, size, 1))
    (d / "uboot-env1").write_bytes(b"\xff" * size)
    cfg = d / "fw_env.config"
    cfg.write_text("# device          offset  size\n"
                   f"{d / 'uboot-env0'}  0x0  {size:#x}\n"
                   f"{d / 'uboot-env1'}  0x0  {size:#x}\n")
    return cfg


def tear_newest_uboot_copy(fw_env_config: str | Path) -> None:
    """A power cut in the middle of the last store: the copy written last (the
    higher flags byte, wrapping as libubootenv counts) gets a bad CRC."""
    copies = UBootEnv(fw_env_config).copies()
    flags = []
    for dev, off, size in copies:
        with open(dev, "rb") as f:
            f.seek(off)
            flags.append(f.read(5)[4])
    newest = 1 if flags[1] == (flags[0] + 1) & 0xFF else 0
    dev, off, size = copies[newest]
    with open(dev, "r+b") as f:
        f.seek(off + 5 + size // 2)
        f.write(b"\xa5" * 16)  # half-written sector


def make_grub_env(directory: str | Path) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "grubenv"
    _run(["grub-editenv", str(path), "create"])
    return path


def make_file_env(directory: str | Path) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "boot.env"
    _write_atomic(path, b"ward_slot=A\nward_good=A\n")
    return path


def make_env(kind: str, directory: str | Path) -> Path:
    return {"uboot": make_uboot_env, "grub": make_grub_env, "file": make_file_env}[kind](
        directory)


def tools_missing() -> list[str]:
    return [t for t in ("fw_printenv", "fw_setenv", "grub-editenv") if shutil.which(t) is None]


# ---- CLI -------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Play the bootloader (and, for now, wardd's "
                                 "environment writes) of ward's A/B scheme.")
    ap.add_argument("--kind", choices=KINDS, required=True)
    ap.add_argument("--fw-env-config", help="uboot: fw_env.config (two copies)")
    ap.add_argument("--grubenv", help="grub: the grubenv file")
    ap.add_argument("--env-file", help="file: the environment file")
    ap.add_argument("--cmdline", help="kernel command line file written on power-on")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("power-on", help="boot: print the slot that boots (A or B)")
    sub.add_parser("init", help="make a fresh environment at the given path's directory")
    sub.add_parser("show", help="print the environment's ward variables")
    t = sub.add_parser("try-once", help="as wardd: try SLOT on the next boots")
    t.add_argument("slot", choices=("A", "B"))
    t.add_argument("--max-attempts", type=int, default=3)
    for name in ("mark-good", "mark-bad"):
        sub.add_parser(name, help=f"as wardd: {name.replace('-', ' ')} SLOT").add_argument(
            "slot", choices=("A", "B"))
    a = ap.parse_args(argv)

    path = {"uboot": a.fw_env_config, "grub": a.grubenv, "file": a.env_file}[a.kind]
    if not path:
        ap.error(f"--kind {a.kind} needs --"
                 + {"uboot": "fw-env-config", "grub": "grubenv", "file": "env-file"}[a.kind])
    try:
        if a.cmd == "power-on":
            if not a.cmdline:
                ap.error("power-on needs --cmdline")
            print(BootSim(a.kind, path, a.cmdline).power_on())
        elif a.cmd == "init":
            made = make_env(a.kind, Path(path).parent)
            if made != Path(path) and a.kind != "uboot":
                os.replace(made, path)
            print(path if a.kind != "uboot" else made)
        elif a.cmd == "show":
            env = WarddEnv(a.kind, path).show()
            if env is None:
                print("(unreadable: the bootloader uses its default environment)")
            else:
                for k, v in env.items():
                    print(f"{k}={v}")
        else:
            w = WarddEnv(a.kind, path)
            if a.cmd == "try-once":
                w.try_once(a.slot, a.max_attempts)
            elif a.cmd == "mark-good":
                w.mark_good(a.slot)
            else:
                w.mark_bad(a.slot)
    except BootSimError as e:
        print(f"bootsim: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
