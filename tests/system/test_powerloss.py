"""Power loss at any instant of an update must leave a device that boots a good image.

Each seeded run (device.powerloss_run) cuts the power in the middle of a real
`wardd install`, `wardd confirm` of a trial boot, or `wardd approve`: at a
random delay between 0 and 1.2x the measured duration of the uninterrupted
command, or, in one run of three, on entry to a chosen state-changing
syscall (strace fault injection, so the cut lands on every step of the
pipeline in agent/agent.h: state.json writes, slot writes, fsyncs, renames,
the bootloader tools). A "power cut" kills wardd's whole process group and
its health check. Then bootsim powers the device on, further `wardd
confirm`s may be cut too, the new image may hang before wardd starts; after
every power-on:

  * the booted slot holds the factory image or a complete signed image,
  * state.json parses (json.load) and names only valid slot states,
  * the booted slot is not one wardd recorded as "writing" or "bad",
  * a slot recorded as holding a verified image holds exactly that image;

and with no more cuts the device settles (confirmed slot booted, no trial,
wardd and the bootloader agree) within 8 power cycles and stays settled.

Most runs use the file backend; one in ten U-Boot (fw_setenv/fw_printenv on a
redundant environment), one in ten GRUB (grub-editenv). A failed run prints
its seed; `scripts/powerloss-soak 1 SEED` replays it, and the same script
runs thousands more.

The last tests cut deterministically (strace, on a named syscall) at the
instants the random runs found to matter: between telling the bootloader and
recording it, and during an install while the running slot is on trial.

Limitation: killing processes does not lose data the kernel had accepted
but not yet written to disk, so these runs check the order of wardd's steps
and its recovery, not whether each step is fsynced; storage faults are in
test_agent_faults.py.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import device
from device import wardd_bin  # noqa: F401  (fixture)

RUNS = 300           # seeds 0..RUNS-1 in the suite
FIRST_SEED = 0
WORKERS = 4          # runs are dominated by fsync and process start-up


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, ward_bin):
    return device.make_powerloss_fleet(tmp_path_factory.mktemp("pl-fleet"))


def run_many(seeds, fleet, root: Path, wardd) -> list[device.RunResult]:
    def one(seed):
        base = root / f"run{seed}"
        r = device.powerloss_run(seed, fleet, base, wardd)
        if r.ok:  # keep the directories of failed runs for a post-mortem
            shutil.rmtree(base, ignore_errors=True)
        return r

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, seeds))


def test_power_loss_during_updates(fleet, wardd_bin, tmp_path):
    t0 = time.monotonic()
    results = run_many(range(FIRST_SEED, FIRST_SEED + RUNS), fleet, tmp_path, wardd_bin)
    failed = [r for r in results if not r.ok]
    per_backend = {}
    for r in results:
        n, f = per_backend.get(r.backend, (0, 0))
        per_backend[r.backend] = (n + 1, f + (not r.ok))
    print(f"\npower loss: {len(results)} runs, {len(failed)} failures in "
          f"{time.monotonic() - t0:.1f} s; "
          + ", ".join(f"{b}: {n} runs {f} failures" for b, (n, f) in sorted(per_backend.items())))
    for r in failed:
        print(r.report())
    assert per_backend.get("uboot", (0, 0))[0] >= 15 and per_backend.get("grub", (0, 0))[0] >= 15
    assert not failed, (f"{len(failed)} of {len(results)} power-loss runs broke an invariant; "
                        "first: " + failed[0].report())


# ---- deterministic cuts at the two riskiest instants ---------------------------------------------

@pytest.fixture
def two_devices(fleet, wardd_bin, tmp_path):
    """Two identical devices: one to trace an uninterrupted command, one to cut."""
    made = []

    def make(backend, tag="", **kw):
        pair = [device.Device(tmp_path / f"{backend}{tag}-{n}", fleet.release.root, backend,
                              wardd=wardd_bin, factory=fleet.factory.data, **kw)
                for n in ("traced", "cut")]
        made.extend(pair)
        return pair

    yield make
    for d in made:
        d.kill_leftovers()


def _last_state_rename(dev, args) -> int:
    """k such that the k-th rename of `wardd ARGS` is its last one, asserting that
    it is the atomic replacement of state.json."""
    renames = [ln for ln in device.trace_syscalls(dev, args, "rename,renameat,renameat2")]
    assert renames and "state.json\"" in renames[-1], renames
    assert all(ln.startswith("rename(") for ln in renames), renames
    return len(renames)


@pytest.mark.parametrize("backend", ["file", "uboot", "grub"])
@pytest.mark.parametrize("policy", ["auto", "approve"])
def test_cut_after_the_bootloader_was_told_and_after_it_confirmed(two_devices, fleet, backend,
                                                                    policy):
    """Cut 1: after the bootloader was told to try B (step 5) but before
    state.json says "trial" (step 6). Cut 2: on the trial boot, after the health
    check passed and the bootloader marked B good, before state.json says so.
    The device runs B, confirmed by the bootloader: wardd must come to record B
    as good and raise the floor, not keep calling it "installed" or "waiting
    for approval" (which would leave the floor low and let `approve` re-try the
    running slot)."""
    traced, dev = two_devices(backend, policy=policy)
    bundle = fleet.bundles["1.0"]
    if policy == "approve":
        for d in (traced, dev):
            assert d.install(bundle).returncode == 0
        args = ["approve"]
    else:
        args = ["install", bundle]
    k = _last_state_rename(traced, args)
    device.cut_on_syscall(dev, args, "rename", k)
    assert dev.slot_state("B") == ("installed" if policy == "auto" else "awaiting-approval")
    assert dev.status_json()["bootloader"]["trial"] == "B"

    assert traced.power_on() == "B" and dev.power_on() == "B"
    k = _last_state_rename(traced, ["confirm"])
    assert traced.slot_state("B") == "good"
    device.cut_on_syscall(dev, ["confirm"], "rename", k)
    assert dev.status_json()["bootloader"]["good"] == "B"

    for _ in range(3):
        slot = dev.power_on()
        assert slot == "B" and not device.check_invariants(dev, fleet.known, slot)
        p = dev.confirm()
        assert p.returncode == 0, p.stderr
    ok, why = device.settled(dev)
    st = dev.state()
    assert ok and st["floor"] == "1.0", (
        f"the device runs B, confirmed by the bootloader, but wardd records {why}, "
        f"floor {st['floor']!r}")


@pytest.mark.parametrize("backend", ["file", "uboot"])
@pytest.mark.parametrize("first", ["complete", "cut before it recorded the trial"])
def test_cut_while_installing_during_an_unconfirmed_trial(two_devices, fleet, backend, first):
    """The device runs an update (B) that is still on trial (its install either
    completed, or was cut after the bootloader was told but before state.json
    said "trial"); an install of the next update is cut while it writes. If B
    never comes up healthy the bootloader falls back to its last good slot, A:
    that must still be a good image."""
    traced, dev = two_devices(backend, max_attempts=1)
    args = ["install", fleet.bundles["1.0"]]
    if first == "complete":
        for d in (traced, dev):
            assert d.install(fleet.bundles["1.0"]).returncode == 0
    else:
        scout, _ = two_devices(backend, "-scout", max_attempts=1)
        k = _last_state_rename(scout, args)
        for d in (traced, dev):
            device.cut_on_syscall(d, args, "rename", k)
            assert d.slot_state("B") == "installed"
    for d in (traced, dev):
        assert d.power_on() == "B"
    args = ["install", fleet.bundles["2.1"]]
    writes = device.trace_syscalls(traced, args, "pwrite64")
    if len(writes) < 2:  # refused before writing: nothing to cut, A is intact
        assert traced.slot_bytes("A") == fleet.factory.data
        return
    device.cut_on_syscall(dev, args, "pwrite64", len(writes) // 2)
    boots = []
    for _ in range(3):  # B hangs before wardd runs
        slot = dev.power_on()
        boots.append(slot)
        problems = device.check_invariants(dev, fleet.known, slot)
        assert not problems, f"boots {boots}: {problems}"
