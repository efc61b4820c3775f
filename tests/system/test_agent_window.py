"""wardd's approve policy: an installed update waits for `wardd approve`, or
for the daily maintenance window (`wardd-core tick`, the scheduler's minute
job). The window is set around (or away from) the current local time."""
import json
import os
import subprocess
import time

import pytest

BUILD = os.environ.get("WARD_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
WARD = os.path.join(BUILD, "cli", "ward")
WARDD = os.path.join(BUILD, "agent", "wardd")


def run(*args, ok=True):
    p = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=60)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def window(minutes_from_now, length=30):
    t = time.localtime(time.time() + minutes_from_now * 60)
    start = t.tm_hour * 60 + t.tm_min
    end = (start + length) % 1440
    return "%02d:%02d-%02d:%02d" % (start // 60, start % 60, end // 60, end % 60)


@pytest.fixture
def device(tmp_path):
    repo = tmp_path / "maker"
    run(WARD, "repo", "init", repo, "--unencrypted-keys")
    img = tmp_path / "fw.img"
    img.write_bytes(b"firmware 2.0 " + os.urandom(4096))
    run(WARD, "repo", "add", repo, img, "--name", "fw.img", "--hardware-id", "hw", "--version", "2.0")
    run(WARD, "bundle", "create", repo, "--target", "fw.img", "-o", tmp_path / "fw.ward")
    (tmp_path / "cmdline").write_text("ward.slot=A\n")
    (tmp_path / "a").write_bytes(b"factory")

    def conf(win):
        c = tmp_path / "device.conf"
        c.write_text(f"""[device]
hardware_id = hw
state_dir = {tmp_path}/state
trusted_root = {repo}/repo/metadata/1.root.json
booted_from = {tmp_path}/cmdline
[slots]
a = {tmp_path}/a
b = {tmp_path}/b
size = 1048576
[bootloader]
backend = file
env_file = {tmp_path}/boot.env
[update]
policy = approve
{"maintenance_window = " + win if win else ""}
""")
        return c
    return tmp_path, conf


def env_of(tmp):
    return dict(l.split("=", 1) for l in (tmp / "boot.env").read_text().split())


def test_waits_outside_window_and_activates_inside(device):
    tmp, conf = device
    c = conf(window(120))  # opens in two hours
    run(WARDD, "-c", c, "install", tmp / "fw.ward")
    st = json.loads(run(WARDD, "-c", c, "status", "--json").stdout)
    assert st["slots"]["B"]["state"] == "awaiting-approval"
    run(WARDD, "-c", c, "tick")
    st = json.loads(run(WARDD, "-c", c, "status", "--json").stdout)
    assert st["slots"]["B"]["state"] == "awaiting-approval"  # not in the window: untouched
    assert not (tmp / "boot.env").exists() or env_of(tmp).get("upgrade_available") != "1"
    c = conf(window(-1))  # open since a minute ago
    out = run(WARDD, "-c", c, "tick").stdout
    assert "maintenance window open" in out
    st = json.loads(run(WARDD, "-c", c, "status", "--json").stdout)
    assert st["slots"]["B"]["state"] == "trial"
    assert env_of(tmp)["ward_slot"] == "B" and env_of(tmp)["upgrade_available"] == "1"


def test_tick_with_nothing_waiting_is_quiet(device):
    tmp, conf = device
    c = conf(window(-1))
    p = run(WARDD, "-c", c, "tick")
    assert p.stdout == "" and p.stderr == ""


@pytest.mark.parametrize("bad", ["25:00-01:00", "02:00", "02:00-02:00", "2-3", "02:00-03:00x"])
def test_bad_window_refused(device, bad):
    tmp, conf = device
    p = run(WARDD, "-c", conf(bad), "status", ok=False)
    assert p.returncode == 1 and "maintenance_window" in p.stderr
