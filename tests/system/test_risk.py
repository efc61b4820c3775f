"""`ward fleet risk`: the fleet's risk heat map against a real deployment.

A deployment (ward init) with ward-server on SQLite; devices enrolled over
EST and checking in over mutual TLS with different facts; DIR/risk.ini sets
the models' harm and expected ports. Then `ward fleet risk` as JSON, CSV and
a table: the order (riskiest first), each score and the reasons that make
it up (they sum to the score), revoked devices not scored, --limit, and a
bad risk.ini refused with the line and key it names.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from fleet import WARD, WARD_SERVER, Fleet

THERMO_HARM = 3 * 4 + 2 * 3 + 1 * 2   # safety 3, revenue 2, brand 1 (weights in server/risk.h)

RISK_INI = """\
[thermo-2]
safety = 3
revenue = 2
brand = 1
allowed_ports = 22, 443

[cam-1]
safety = 0
revenue = 0
brand = 0
"""

GOOD_SLOTS = {"A": {"state": "good", "version": "2.0.0"}, "B": {"state": "good", "version": "1.9.0"}}


@pytest.fixture(autouse=True)
def binaries(ward_bin):
    if not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)):
        pytest.fail(f"ward-server not found at {WARD_SERVER}: build it first", pytrace=False)


def checkin(fl: Fleet, srv, dev, facts: dict) -> None:
    c = fl.client(srv, dev)
    try:
        r = c.request("POST", "/api/v1/device/checkin", json.dumps(facts).encode(),
                      {"Content-Type": "application/json"})
    finally:
        c.close()
    assert r.status == 200, f"check-in of {dev.serial}: {r.status} {r.text}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Six devices with known facts; yields the Fleet (server stopped at the end)."""
    fl = Fleet(tmp_path_factory.mktemp("risk") / "fleet")
    srv = fl.start(workers=1)
    try:
        thermo = fl.batch(model="thermo-2", count=5)
        cam = fl.batch(model="cam-1", count=1)
        devs = {s: fl.enroll(srv, thermo, s) for s in ("R-GOOD", "R-OLD", "R-NOBOOT", "R-SILENT", "R-REVOKED")}
        devs["C-1"] = fl.enroll(srv, cam, "C-1")
        checkin(fl, srv, devs["R-GOOD"], {"firmware_version": "2.0.0", "secure_boot": True,
                                          "listening_ports": [443], "slots": GOOD_SLOTS,
                                          "booted_slot": "A", "hardware_id": "hw", "uptime": 5})
        checkin(fl, srv, devs["R-OLD"], {"firmware_version": "1.9.0", "secure_boot": False,
                                         "listening_ports": [22, 23, 8080],
                                         "slots": {"A": {"state": "good", "version": "1.9.0"},
                                                   "B": {"state": "bad", "version": "2.0.0"}}})
        checkin(fl, srv, devs["R-NOBOOT"], {"firmware_version": "2.0.0", "listening_ports": [443]})
        checkin(fl, srv, devs["R-REVOKED"], {"firmware_version": "9.9.9", "secure_boot": False})
        checkin(fl, srv, devs["C-1"], {"firmware_version": "0.1", "secure_boot": True,
                                       "listening_ports": [554, 80]})
        fl.ward("device", "revoke", "R-REVOKED", "-c", fl.conf)
        (fl.dir / "risk.ini").write_text(RISK_INI)
        yield fl
    finally:
        fl.stop_all()


def risk_json(fl: Fleet, *extra) -> list[dict]:
    p = fl.ward("fleet", "risk", "-c", fl.conf, "--json", *extra)
    return json.loads(p.stdout)


def test_json_order_scores_and_reasons(deployment):
    rows = risk_json(deployment)
    order = [r["serial"] for r in rows]
    # R-REVOKED reported 9.9.9 but is revoked: it does not set the fleet's newest
    assert order == ["R-OLD", "R-SILENT", "R-NOBOOT", "R-GOOD", "C-1", "R-REVOKED"], rows
    by = {r["serial"]: r for r in rows}
    for r in rows:
        assert set(r) == {"serial", "model", "status", "score", "reasons"}
        assert sum(x["points"] for x in r["reasons"]) == r["score"], r   # all under 100 here
        assert all(x["text"] and "\n" not in x["text"] for x in r["reasons"])
        pts = [x["points"] for x in r["reasons"]]
        assert pts == sorted(pts, reverse=True), r

    def reasons(serial):
        return {x["text"]: x["points"] for x in by[serial]["reasons"]}

    assert by["R-GOOD"]["score"] == THERMO_HARM
    assert reasons("R-GOOD") == {"harm if compromised: safety 3, revenue 2, brand 1": THERMO_HARM}

    old = reasons("R-OLD")
    assert by["R-OLD"]["score"] == THERMO_HARM + 15 + 20 + 20 + 15
    assert old["secure boot reported off"] == 15
    assert old["firmware 1.9.0 is behind the fleet's newest 2.0.0 for thermo-2"] == 20
    assert old["2 unexpected listening ports: 23, 8080"] == 20
    assert old["failed install: slot B is marked bad"] == 15

    assert reasons("R-NOBOOT") == {"harm if compromised: safety 3, revenue 2, brand 1": THERMO_HARM,
                                   "secure boot not reported": 5}
    silent = reasons("R-SILENT")
    assert by["R-SILENT"]["score"] == THERMO_HARM + 15 + 5 + 5 + 5
    assert silent["never checked in"] == 15
    assert silent["firmware version not reported"] == 5
    assert silent["listening ports not reported (or not a list of ports)"] == 5

    # cam-1: no harm, ports not judged, its own newest firmware: nothing to report
    assert by["C-1"]["score"] == 0 and by["C-1"]["reasons"] == []
    rv = by["R-REVOKED"]
    assert rv["status"] == "revoked" and rv["score"] == 0
    assert [x["points"] for x in rv["reasons"]] == [0] and "not scored" in rv["reasons"][0]["text"]


def test_csv_rfc4180(deployment):
    raw = csv_bytes(deployment)
    assert raw.count(b"\r\n") == 7 and b"\n" not in raw.replace(b"\r\n", b""), raw
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert rows[0] == ["serial", "model", "status", "score", "reasons"]
    body = rows[1:]
    assert [r[0] for r in body] == ["R-OLD", "R-SILENT", "R-NOBOOT", "R-GOOD", "C-1", "R-REVOKED"]
    js = {r["serial"]: r for r in risk_json(deployment)}
    for serial, model, status, score, reasons in body:
        assert (model, status, int(score)) == (js[serial]["model"], js[serial]["status"], js[serial]["score"])
        assert reasons == "; ".join(x["text"] for x in js[serial]["reasons"])
    # reasons holding commas are quoted
    assert b'"harm if compromised: safety 3, revenue 2, brand 1"' in raw


def csv_bytes(fl: Fleet) -> bytes:
    """The CSV exactly as written (the Fleet helper's text mode would fold CRLF)."""
    p = subprocess.run([str(WARD), "fleet", "risk", "-c", str(fl.conf), "--csv"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_table_and_limit(deployment):
    p = deployment.ward("fleet", "risk", "-c", deployment.conf)
    lines = p.stdout.splitlines()
    assert lines[0].split()[:3] == ["SERIAL", "MODEL", "SCORE"]
    assert lines[1].split()[:3] == ["R-OLD", "thermo-2", str(THERMO_HARM + 70)]
    assert "(+20)" in lines[1]
    assert len(lines) == 7
    rows = risk_json(deployment, "--limit", "2")
    assert [r["serial"] for r in rows] == ["R-OLD", "R-SILENT"]
    deployment.ward("fleet", "risk", "-c", deployment.conf, "--limit", "0", ok=False)
    deployment.ward("fleet", "risk", "-c", deployment.conf, "--json", "--csv", ok=False)
    deployment.ward("fleet", "bogus", "-c", deployment.conf, ok=False)
    deployment.ward("fleet", "risk", ok=False)


def test_risk_ini_missing_and_bad(deployment, tmp_path):
    ini: Path = deployment.dir / "risk.ini"
    saved = ini.read_text()
    try:
        ini.unlink()   # defaults: harm 1/1/1 everywhere, ports not judged
        by = {r["serial"]: r for r in risk_json(deployment)}
        assert by["R-GOOD"]["score"] == 4 + 3 + 2
        assert by["C-1"]["score"] == 9
        assert not any("listening port" in x["text"] for r in by.values() for x in r["reasons"])
        ini.write_text("[thermo-2]\nsafety = 1\nsaftey = 2\n")
        p = deployment.ward("fleet", "risk", "-c", deployment.conf, "--json", ok=False)
        assert "saftey" in p.stderr and "line 3" in p.stderr, p.stderr
        assert p.stdout == ""
    finally:
        ini.write_text(saved)
