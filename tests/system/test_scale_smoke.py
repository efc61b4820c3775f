"""test_scale_smoke — bench/scale.sh end to end with a small fleet, as a smoke test.

bench/scale.sh builds a deployment from nothing, enrols N devices over EST
(bench/loadgen), runs them with bench/fleetsim (mutual-TLS check-ins, the
director's metadata verified against its pinned root, image download checked
against the director's sha256, stage reports) and releases an image to all of
them with `ward campaign` (phases 1, 10, 50, 100 %). Here N=50 on SQLite with a
2-second check-in interval: every device must be offered the image and report
it healthy, the campaign must pass its phases and finish, with no error on the
device side and nothing unexpected in ward-server's log. The real figures
(N=10000, SQLite, PostgreSQL, two instances) are in bench/RESULTS.md.

Binaries: $WARD_BUILD (default <repo>/build) must hold cli/ward,
server/ward-server, bench/loadgen and bench/fleetsim.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
BUILD = Path(os.environ.get("WARD_BUILD", str(REPO_ROOT / "build")))


def test_fifty_devices_take_a_campaign_on_sqlite(tmp_path):
    for b in ("cli/ward", "server/ward-server", "bench/loadgen", "bench/fleetsim"):
        assert (BUILD / b).exists(), f"{BUILD / b} is missing: build with `ninja -C {BUILD}`"
    env = dict(os.environ, BUILD=str(BUILD), N="50", INTERVAL="2", REBOOT="0.5", CONFIGS="sqlite",
               OFFER="campaign", TIMEOUT="60", BENCH_DIR=str(tmp_path / "scale"))
    p = subprocess.run(["bash", str(REPO_ROOT / "bench" / "scale.sh")], env=env, capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    summary = re.search(r"^  fleetsim: (devices=.*)$", out, re.M)
    assert summary, out
    kv = dict(f.split("=", 1) for f in summary.group(1).split())
    assert kv["devices"] == "50", out
    assert kv["offered"] == "50" and kv["healthy"] == "50" and kv["failed"] == "0", out
    assert kv["errors"] == "0", out
    assert kv["reports_501"] == "0", out
    assert kv["offered_s"] != "-" and kv["healthy_s"] != "-", out
    assert float(kv["offered_s"]) <= float(kv["healthy_s"]), out
    assert "server log: 0 other lines" in out, out
    # the engine went through every phase and marked the campaign finished
    assert re.search(r"^  campaign [0-9a-f]+: finished; events .*phase@.*finish@", out, re.M), out
    row = [ln for ln in out.splitlines() if ln.startswith("sqlite ")]
    assert len(row) == 1, out
