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
  * a slot recorded as holding a verified image holds exactly that image;

and with no more cuts the device settles (confirmed slot booted, no trial,
wardd and the bootloader agree) within 8 power cycles and stays settled.

Most runs use the file backend; one in ten U-Boot (fw_setenv/fw_printenv on a
redundant environment), one in ten GRUB (grub-editenv). A failed run prints
its seed; `scripts/powerloss-soak 1 SEED` replays it, and the same script
runs thousands more.

Limitation: killing processes does not lose data the kernel had accepted
but not yet written to disk, so these runs check the order of wardd's steps
and its recovery, not its fsync discipline; the fsync order is reviewed
against agent/agent.h, and the storage-fault tests are in
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

RUNS = 210           # seeds 0..RUNS-1 in the suite
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
