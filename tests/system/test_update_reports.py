"""test_update_reports — wardd's stage reports and resumable downloads, end to end.

Each stage of an update (downloading, installed, awaiting-local-approval,
booted, healthy, rolled-back, failed) is appended to the device's outbox
(STATE_DIR/reports.json) and sent to the real ward-server
(POST /api/v1/device/report, mutual TLS); what the server recorded is read
from its registry (the device_reports table, with sqlite3) and from the
operator API (GET /api/v1/devices/SERIAL, "history"). The outbox survives a
server that is down and is delivered later exactly once; a replayed outbox
changes nothing.

Resumable downloads are driven through a man-in-the-middle proxy written
here: it terminates TLS with ward-server's own certificate (so the device
trusts it), forwards every request to the real server with the device's
client certificate, and can cut the image after N bytes, ignore Range, serve
different bytes on a resume, or trickle the image so that wardd can be
killed in the middle. Every request it saw is recorded (path, Range, status,
body bytes sent), so the tests can assert what was fetched. It can also
rewrite the last_seq of the server's replies to reports (a lying server).

A download that fails (the image not found, bytes that do not verify) is
reported "failed" but does not make the image refused on the device: the next
update tries again. A resume whose result does not verify is retried from
byte 0 in the same run. Only a rollback (or a read-back mismatch after a
verified download) makes an image refused.

The world (release, fleet, enrolled device) is test_director.World.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import shutil
import signal
import ssl
import sys
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from device import KiB, MiB, image_bytes  # noqa: E402
from test_director import SERIAL, World  # noqa: E402


# ---- a TLS man in the middle between the device and ward-server ---------------------

class Proxy:
    """Forwards everything to ward-server; misbehaves on /repo/targets/ as told."""

    def __init__(self, w: World):
        self.w = w
        self.log: list[dict] = []
        self.lock = threading.Lock()
        self.cut: list[int] = []          # per target request, in order: cut after N body bytes
        self.ignore_range = False         # strip Range before asking the server
        self.tamper_resume = False        # flip bytes of a ranged answer
        self.tamper_all = False           # flip bytes of every target answer
        self.report_last_seq = None       # rewrite the last_seq of report replies to this
        self.trickle = 0.0                # seconds between 16 KiB pieces of a target
        self.sent_target = 0              # target body bytes sent, all requests
        up = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        up.load_verify_locations(cafile=str(w.fleet.root))
        up.load_cert_chain(str(w.ident.cert_path), str(w.ident.key_path))
        self.up = up
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(w.fleet.dir / "ca" / "server.pem"), str(w.fleet.dir / "ca" / "server.key"))
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                proxy.handle(self)

            def do_POST(self):
                proxy.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, h) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        target = h.path.startswith("/repo/targets/")
        headers = {k: v for k, v in h.headers.items()
                   if k.lower() in ("content-type", "range", "accept")}
        rng = headers.get("Range")
        if target and self.ignore_range:
            headers.pop("Range", None)
        c = http.client.HTTPSConnection("127.0.0.1", self.w.server.port, context=self.up, timeout=30)
        try:
            c.request(h.command, h.path, body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            status, rh = r.status, {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()
        entry = {"method": h.command, "path": h.path, "range": rng, "status": status, "sent": 0}
        with self.lock:
            self.log.append(entry)
            cut = self.cut.pop(0) if target and self.cut else None
        if target and (self.tamper_all or (self.tamper_resume and status == 206)):
            data = bytes(b ^ 0x55 for b in data[:4096]) + data[4096:]
        if h.path == "/api/v1/device/report" and status == 200 and self.report_last_seq is not None:
            doc = json.loads(data)
            entry["last_seq"] = doc["last_seq"]
            doc["last_seq"] = self.report_last_seq
            data = json.dumps(doc).encode()
        h.send_response(status)
        for k in ("content-type", "content-range", "accept-ranges"):
            if k in rh:
                h.send_header(k, rh[k])
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        out = data if cut is None else data[:cut]
        try:
            if target and self.trickle:
                for i in range(0, len(out), 16 * KiB):
                    h.wfile.write(out[i:i + 16 * KiB])
                    h.wfile.flush()
                    with self.lock:
                        entry["sent"] += len(out[i:i + 16 * KiB])
                        self.sent_target += len(out[i:i + 16 * KiB])
                    time.sleep(self.trickle)
            else:
                h.wfile.write(out)
                h.wfile.flush()
                with self.lock:
                    entry["sent"] = len(out)
                    self.sent_target += len(out) if target else 0
        except OSError:
            pass  # the device hung up (it may: a 200 to a range request)

    def targets(self) -> list[dict]:
        with self.lock:
            return [e for e in self.log if e["path"].startswith("/repo/targets/")]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- helpers ---------------------------------------------------------------------------

def point_device_at(w: World, url: str) -> None:
    w.dev.write_conf(**{
        "server.url": url,
        "server.ca": w.fleet.root,
        "server.cert": w.ident.cert_path,
        "server.key": w.ident.key_path,
        "server.director_root": w.fleet.dir / "ca" / "director-root.json",
    })


def recorded(w: World) -> list[tuple]:
    """What ward-server holds for the device: (seq, stage, target, version, reason), in order."""
    rows = w.fleet.sql(f"SELECT seq, stage, target, version, reason FROM device_reports "
                       f"WHERE serial = '{SERIAL}' ORDER BY seq")
    return [(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


def stages(w: World) -> list[str]:
    return [r[1] for r in recorded(w)]


def outbox(w: World) -> list[dict]:
    try:
        return json.loads((w.dev.state_dir / "reports.json").read_text())["reports"]
    except FileNotFoundError:
        return []


def ok(p):
    assert p.returncode == 0, f"wardd failed ({p.returncode}): {p.stdout!r} {p.stderr!r}"
    return p


def send(w: World):
    """`wardd report`: send the outbox now."""
    return ok(w.dev.run("report"))


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path)
    yield w
    w.close()


@pytest.fixture
def proxied(world):
    p = Proxy(world)
    point_device_at(world, p.url)
    yield world, p
    p.stop()


# ---- stage reports -------------------------------------------------------------------

def test_good_update_reports_every_stage(world):
    w = world
    w.assign(w.v2)
    p = ok(w.update())
    # downloading and installed went out at once
    assert stages(w) == ["downloading", "installed"], (recorded(w), p.stdout)
    assert outbox(w) == []
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    # booted and healthy wait in the outbox (at boot the network may be down) ...
    assert [r["stage"] for r in outbox(w)] == ["booted", "healthy"]
    assert w.dev.status_json()["outbox"] == 2
    # ... and go at the next check-in
    p = ok(w.dev.run("checkin"))
    assert "sent 2 report(s)" in p.stdout
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "installed", "booted", "healthy"]
    assert all(r[2] == w.v2.name and r[3] == "2.0.0" for r in rows), rows
    assert [r[0] for r in rows] == sorted({r[0] for r in rows}), "seq must strictly increase"
    assert w.dev.status_json()["outbox"] == 0
    # the operator API shows the same history, newest first
    w.fleet.ward("operator", "add", "olga", "--role", "auditor", "--password-file",
                 _pwfile(w), "-c", w.fleet.conf)
    tok = w.fleet.ward("operator", "token", "olga", "--expires", "1d", "-c", w.fleet.conf).stdout.strip()
    r = w.fleet.client(w.server).request("GET", f"/api/v1/devices/{SERIAL}",
                                         headers={"Authorization": f"Bearer {tok}"})
    assert r.status == 200, (r.status, r.text)
    hist = json.loads(r.body)["history"]
    assert [h["stage"] for h in hist] == ["healthy", "booted", "installed", "downloading"]
    assert json.loads(r.body)["update"]["stage"] == "healthy"


def _pwfile(w: World) -> Path:
    pw = w.fleet.dir / "olga.pw"
    pw.write_text("correct horse battery staple\n")
    return pw


def test_approve_policy_reports_awaiting_local_approval(approve_world):
    w = approve_world
    w.assign(w.v2)
    ok(w.update())
    assert stages(w) == ["downloading", "awaiting-local-approval"]
    ok(w.dev.run("approve"))
    assert stages(w) == ["downloading", "awaiting-local-approval", "installed"]


@pytest.fixture
def approve_world(tmp_path):
    w = World(tmp_path, policy="approve")
    yield w
    w.close()


def test_failed_health_check_rolls_back_and_the_image_is_not_installed_again(world):
    w = world
    w.assign(w.v2)
    ok(w.update())
    w.dev.set_health("fail")
    assert w.dev.power_on() == "B"
    p = ok(w.dev.confirm())
    assert "failed its health check" in p.stdout
    assert w.dev.power_on() == "A"
    ok(w.dev.confirm())
    send(w)
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "installed", "booted", "rolled-back"]
    assert "health check failed" in rows[-1][4], rows[-1]
    # The director names it again (ward-server withdraws an assignment whose image
    # rolled back or failed: the operator assigns it again, twice): refused at every
    # update, reported once, nothing written.
    before = w.snapshot()
    for i in range(4):
        if i < 2:
            w.assign(w.v2)
        p = w.update()
        assert p.returncode == 1, (p.stdout, p.stderr)
        assert "rolled back on this device before" in p.stderr, p.stderr
        assert w.snapshot()[:2] == before[:2]
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "installed", "booted", "rolled-back", "failed"]
    assert rows[-1][4].startswith(f"image {w.v2.name} rolled back on this device before"), rows[-1]
    assert len(rows[-1][4].encode()) <= 200
    # a different image may be installed
    w.dev.set_health("pass")
    w.assign(w.v1)
    p = ok(w.update())
    assert "installing" in p.stdout
    assert stages(w)[-2:] == ["downloading", "installed"]
    assert recorded(w)[-1][2] == w.v1.name


def test_bootloader_fallback_is_reported_rolled_back(tmp_path):
    w = World(tmp_path)
    try:
        w.dev.max_attempts = 1
        point_device_at(w, w.server.url)
        w.assign(w.v2)
        ok(w.update())
        assert w.dev.power_on() == "B"  # the image hangs before wardd runs ...
        assert w.dev.power_on() == "A"  # ... and the bootloader gives up on it
        ok(w.dev.confirm())
        send(w)
        rows = recorded(w)
        assert [r[1] for r in rows] == ["downloading", "installed", "rolled-back"]
        assert "bootloader" in rows[-1][4]
    finally:
        w.close()


def test_refused_director_is_reported_failed_once(world):
    w = world
    w.assign(w.v2)
    _, fi, _ = w.row()
    fi["hashes"]["sha256"] = "00" * 32
    w.forge(w.v2.name, fi)
    before = w.snapshot()
    for i in range(4):
        if i == 1:
            # ward-server withdrew the assignment when the failure was reported: the
            # compromised server signs it again; the same refusal is not reported again
            w.forge(w.v2.name, fi)
        p = w.update()
        assert p.returncode == 1 and "disagree on the sha256" in p.stderr, (p.stdout, p.stderr)
    assert w.snapshot()[:2] == before[:2]
    rows = recorded(w)
    assert [r[1] for r in rows] == ["failed"], rows
    assert rows[0][2] == w.v2.name and "disagree on the sha256" in rows[0][4]


def test_image_not_listed_and_below_floor_are_reported(world):
    w = world
    w.assign(w.v2)
    ok(w.update())
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    w.assign(w.v1)  # below the floor 2.0.0 now
    p = w.update()
    assert p.returncode == 1 and "floor" in p.stderr
    send(w)
    rows = recorded(w)
    assert rows[-1][1] == "failed" and rows[-1][2] == w.v1.name and "floor" in rows[-1][4], rows


def test_outbox_survives_the_server_being_down_and_is_delivered_once(world):
    w = world
    w.assign(w.v2)
    ok(w.update())
    assert len(recorded(w)) == 2
    w.server.stop()
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    p = w.dev.run("report")
    assert p.returncode == 1
    assert w.dev.run("checkin").returncode == 1
    assert [r["stage"] for r in outbox(w)] == ["booted", "healthy"]
    # the server comes back (on another port)
    w.server = w.fleet.start(workers=1)
    point_device_at(w, w.server.url)
    p = ok(w.dev.run("checkin"))
    assert "sent 2 report(s)" in p.stdout
    assert outbox(w) == []
    for _ in range(2):
        ok(w.dev.run("checkin"))
        send(w)
    assert stages(w) == ["downloading", "installed", "booted", "healthy"]


def test_replayed_reports_change_nothing(world):
    w = world
    w.assign(w.v2)
    ok(w.update())
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    old = (w.dev.state_dir / "reports.json").read_bytes()
    send(w)
    before = recorded(w)
    assert [r[1] for r in before] == ["downloading", "installed", "booted", "healthy"]
    # the device's old outbox, sent again
    (w.dev.state_dir / "reports.json").write_bytes(old)
    p = send(w)
    assert "sent 0 report(s); 0 waiting" in p.stdout, p.stdout
    assert recorded(w) == before
    # the same reports posted by hand (the device's certificate): nothing accepted
    doc = json.loads(old)
    conn = w.fleet.client(w.server, w.ident)
    r = conn.request("POST", "/api/v1/device/report", json.dumps({"reports": doc["reports"]}).encode(),
                     {"Content-Type": "application/json"})
    assert r.status == 200, r.text
    assert json.loads(r.body) == {"accepted": 0, "last_seq": before[-1][0]}
    assert recorded(w) == before
    # the device's counter went past what the server holds: the next report is taken
    w.assign(w.v1)
    assert w.update().returncode == 1  # below the floor: failed
    rows = recorded(w)
    assert len(rows) == len(before) + 1 and rows[-1][1] == "failed" and rows[-1][0] > before[-1][0]


def test_outbox_is_bounded(world):
    """At most 64 reports wait; one more drops the oldest, counted in "dropped"."""
    w = world
    w.dev.write_conf()  # no [server]: everything stays in the outbox
    box_path = w.dev.state_dir / "reports.json"
    w.dev.state_dir.mkdir(parents=True, exist_ok=True)
    box_path.write_text(json.dumps({
        "format": 1, "next_seq": 71, "dropped": 0,
        "reports": [{"seq": i, "time": 1, "stage": "failed", "target": "x.img", "version": "1",
                     "reason": f"r{i}"} for i in range(7, 71)]}))
    p = ok(w.dev.install(w.release.bundle(w.v2)))
    assert "outbox full: dropped report 7" in p.stdout, p.stdout
    box = json.loads(box_path.read_text())
    assert len(box["reports"]) == 64 and box["dropped"] == 1
    assert box["reports"][0]["seq"] == 8
    assert box["reports"][-1]["stage"] == "installed" and box["reports"][-1]["seq"] == 71
    assert box["next_seq"] == 72
    assert w.dev.status_json()["outbox"] == 64


# ---- resumable downloads -------------------------------------------------------------

def test_interrupted_download_resumes_with_range(proxied):
    w, px = proxied
    n = 100_000
    size = len(w.v2.data)
    w.assign(w.v2)
    px.cut = [n]
    p = w.update()
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert f"download interrupted after {n} of {size} bytes" in p.stdout, p.stdout
    st = w.dev.state()["slots"]["B"]
    assert st["state"] == "writing" and st["written"] == n and st["sha256"] == w.v2.sha256
    assert w.dev.status_json()["bootloader"]["trial"] is None
    p = ok(w.update())
    assert f"resuming the download of {w.v2.name} at byte {n} of {size}" in p.stdout
    assert f"downloaded {size - n} bytes from byte {n}" in p.stdout
    t = px.targets()
    assert [(e["range"], e["status"], e["sent"]) for e in t] == [(None, 200, n), (f"bytes={n}-", 206, size - n)]
    assert px.sent_target == size, "fetched more than the image"
    assert w.dev.slot_bytes("B")[:size] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "downloading", "installed"]
    assert rows[1][4] == f"resuming at byte {n} of {size}"
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())


def test_server_ignoring_range_restarts_from_zero(proxied):
    w, px = proxied
    n = 150_000
    size = len(w.v2.data)
    w.assign(w.v2)
    px.cut = [n]
    assert w.update().returncode == 1
    px.ignore_range = True
    p = ok(w.update())
    assert "the server could not resume" in p.stdout, p.stdout
    t = px.targets()
    assert [e["range"] for e in t] == [None, f"bytes={n}-", None]
    assert [e["status"] for e in t] == [200, 200, 200]
    assert t[-1]["sent"] == size
    assert w.dev.slot_bytes("B")[:size] == w.v2.data
    assert w.dev.slot_state("B") == "trial"


def refused_images(w: World) -> list[dict]:
    return (w.dev.state() or {}).get("refused", [])


def test_different_bytes_on_resume_are_fetched_again_from_zero(proxied):
    """The rest of a resumed download does not verify: the whole image again, same run."""
    w, px = proxied
    n = 120_000
    size = len(w.v2.data)
    w.assign(w.v2)
    px.cut = [n]
    assert w.update().returncode == 1
    px.tamper_resume = True
    p = ok(w.update())
    assert "does not verify" in p.stdout and "fetching the whole image again" in p.stdout, p.stdout
    t = px.targets()
    assert [(e["range"], e["status"], e["sent"]) for e in t] == [
        (None, 200, n), (f"bytes={n}-", 206, size - n), (None, 200, size)]
    assert w.dev.slot_bytes("B")[:size] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    assert refused_images(w) == []
    assert stages(w) == ["downloading", "downloading", "installed"]
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())


def test_corrupt_resume_prefix_is_fetched_again_from_zero(proxied):
    """The prefix held in the slot went bad between runs: dropped, the image fetched from 0."""
    w, px = proxied
    n = 200_000
    size = len(w.v2.data)
    w.assign(w.v2)
    px.cut = [n]
    assert w.update().returncode == 1
    assert w.dev.state()["slots"]["B"]["written"] == n
    path = w.dev.slot_paths["B"]
    data = bytearray(path.read_bytes())
    data[1000:1100] = bytes(b ^ 0xff for b in data[1000:1100])
    path.write_bytes(bytes(data))
    p = ok(w.update())
    assert f"resuming the download of {w.v2.name} at byte {n}" in p.stdout, p.stdout
    assert "fetching the whole image again" in p.stdout, p.stdout
    t = px.targets()
    assert [(e["range"], e["status"]) for e in t] == [(None, 200), (f"bytes={n}-", 206), (None, 200)]
    assert t[-1]["sent"] == size
    assert w.dev.slot_bytes("B")[:size] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    assert refused_images(w) == []


def test_bytes_that_do_not_verify_fail_without_refusing_the_image(proxied):
    """A download from byte 0 that does not verify: failed, slot bad, tried again at the next update."""
    w, px = proxied
    w.assign(w.v2)
    px.tamper_all = True
    p = w.update()
    assert p.returncode == 1 and "sha256" in p.stderr, (p.stdout, p.stderr)
    assert "fetching the whole image again" not in p.stdout  # nothing was resumed
    s = w.dev.status_json()
    assert s["slots"]["B"]["state"] == "bad"
    assert s["bootloader"]["trial"] is None and s["bootloader"]["next"] == "A"
    assert refused_images(w) == []
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "failed"] and "sha256" in rows[-1][4], rows
    # the server withdrew the assignment on "failed"; assigned again, it installs
    px.tamper_all = False
    w.assign(w.v2)
    p = ok(w.update())
    assert "installing" in p.stdout
    assert w.dev.slot_bytes("B")[:len(w.v2.data)] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    assert stages(w) == ["downloading", "failed", "downloading", "installed"]
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())


def test_image_not_found_fails_once_and_installs_when_it_is_back(world):
    """DIR/repo/targets moved aside (a repository being re-synced): failed, not refused."""
    w = world
    w.assign(w.v2)
    targets = w.fleet.dir / "repo" / "targets"
    aside = targets.with_name("targets.aside")
    targets.rename(aside)
    try:
        p = w.update()
    finally:
        aside.rename(targets)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert w.v2.name in p.stderr, p.stderr
    assert w.dev.slot_state("B") == "bad"
    assert w.dev.status_json()["bootloader"]["trial"] is None
    assert refused_images(w) == []
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "failed"], rows
    # assigned again (the failure withdrew it): the next update installs
    w.assign(w.v2)
    p = ok(w.update())
    assert "installing" in p.stdout and "before" not in p.stderr
    assert w.dev.slot_bytes("B")[:len(w.v2.data)] == w.v2.data
    assert w.dev.slot_state("B") == "trial"
    assert stages(w) == ["downloading", "failed", "downloading", "installed"]
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    assert w.dev.state()["floor"] == "2.0.0"


def test_rolled_back_image_stays_refused_after_a_failed_download_elsewhere(world):
    """Failed downloads are retried, a rollback is not: both in one device's life."""
    w = world
    w.assign(w.v2)
    ok(w.update())
    w.dev.set_health("fail")
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    assert w.dev.power_on() == "A"
    ok(w.dev.confirm())
    assert [r["kind"] for r in refused_images(w)] == ["rolled-back"]
    w.assign(w.v2)
    p = w.update()
    assert p.returncode == 1 and "rolled back on this device before" in p.stderr, p.stderr
    # v1 cannot be fetched once: retried, it installs; v2 stays refused
    w.dev.set_health("pass")
    w.assign(w.v1)
    targets = w.fleet.dir / "repo" / "targets"
    aside = targets.with_name("targets.aside")
    targets.rename(aside)
    try:
        assert w.update().returncode == 1
    finally:
        aside.rename(targets)
    assert [r["kind"] for r in refused_images(w)] == ["rolled-back"]
    w.assign(w.v1)
    ok(w.update())
    assert w.dev.slot_state("B") == "trial"


# ---- a server that lies about what it holds --------------------------------------------

@pytest.mark.parametrize("last_seq", [2**63 - 1, 2**53, 2**32 + 3])
def test_report_reply_beyond_bounds_changes_nothing(proxied, last_seq):
    w, px = proxied
    w.assign(w.v2)
    px.report_last_seq = last_seq
    p = ok(w.update())  # a report that cannot be sent does not fail the install
    assert "protocol error" in p.stdout, p.stdout
    box = json.loads((w.dev.state_dir / "reports.json").read_text())
    assert [r["stage"] for r in box["reports"]] == ["downloading", "installed"]
    assert [r["seq"] for r in box["reports"]] == [1, 2] and box["next_seq"] == 3
    p = w.dev.run("report")
    assert p.returncode == 1 and "protocol error" in p.stderr, (p.stdout, p.stderr)
    # an honest reply again: the outbox goes (the server held them: a replay), reporting goes on
    px.report_last_seq = None
    p = send(w)
    assert "0 waiting" in p.stdout, p.stdout
    assert stages(w) == ["downloading", "installed"]
    assert w.dev.power_on() == "B"
    ok(w.dev.confirm())
    ok(w.dev.run("checkin"))
    rows = recorded(w)
    assert [r[1] for r in rows] == ["downloading", "installed", "booted", "healthy"]
    assert [r[0] for r in rows] == [1, 2, 3, 4]
    assert json.loads((w.dev.state_dir / "reports.json").read_text())["next_seq"] == 5


def test_outbox_with_invalid_next_seq_is_repaired(world):
    """What the old overflow left behind (a negative next_seq) no longer stops reporting."""
    w = world
    w.dev.state_dir.mkdir(parents=True, exist_ok=True)
    (w.dev.state_dir / "reports.json").write_text(json.dumps(
        {"format": 1, "next_seq": -(2**63), "dropped": 0, "reports": []}))
    w.assign(w.v2)
    p = ok(w.update())
    assert "next_seq -9223372036854775808 is invalid: the report counter restarts at 1" in p.stdout, p.stdout
    assert stages(w) == ["downloading", "installed"]
    assert outbox(w) == []
    assert json.loads((w.dev.state_dir / "reports.json").read_text())["next_seq"] == 3


def test_killed_in_the_middle_resumes_from_the_last_checkpoint(proxied):
    w, px = proxied
    big = w.release.add("2.5.0", image_bytes("big", 2 * MiB + 300 * KiB))
    w.assign(big)
    px.trickle = 0.01
    d = w.dev.popen("update")
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and px.sent_target < 1 * MiB + 400 * KiB:
            time.sleep(0.02)
        assert px.sent_target >= 1 * MiB + 400 * KiB
    finally:
        os.killpg(d.pid, signal.SIGKILL)  # the power fails
        d.communicate()
    st = w.dev.state()["slots"]["B"]
    assert st["state"] == "writing" and st["written"] == 1 * MiB, st
    px.trickle = 0
    p = ok(w.update())
    t = px.targets()
    assert t[-1]["range"] == f"bytes={MiB}-" and t[-1]["sent"] == len(big.data) - MiB
    assert w.dev.slot_bytes("B")[:len(big.data)] == big.data
    assert w.dev.slot_state("B") == "trial"
    assert "downloaded" in p.stdout
