"""test_server_tick — what ward-server does on its own, on its once-a-second tick.

The campaign engine's steps are test_campaign.py's subject; here: a CRL older
than a day is re-published (signed again, a higher CRL number, the same
revoked serials) so that its nextUpdate never passes while a server runs, and
a fresh one is left alone. The CRL is read with the openssl CLI.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

from fleet import Fleet


def crl_text(path) -> str:
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(path), "-noout", "-text"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def crl_number(text: str) -> int:
    m = re.search(r"X509v3 CRL Number:\s*\n\s*(\d+)", text)
    assert m, text
    return int(m.group(1))


def test_stale_crl_is_republished(tmp_path):
    fl = Fleet(tmp_path / "fleet")
    try:
        batch = fl.batch(model="cam-2", count=2)
        srv = fl.start(workers=1)
        dev = fl.enroll(srv, batch, "cam-0001")
        fl.ward("device", "revoke", "cam-0001", "-c", fl.conf)
        crl = fl.dir / "ca" / "crl.der"
        before = crl_text(crl)
        serial = dev.cert_serial.upper()
        assert serial in before.replace(":", "").upper()
        # a fresh CRL is left alone
        time.sleep(2)
        assert crl_text(crl) == before
        # two days old: re-published within a tick or two, same entries, higher number
        old = time.time() - 2 * 86400
        os.utime(crl, (old, old))
        srv.stop()
        srv = fl.start(workers=1, name="again")
        end = time.monotonic() + 15
        while time.monotonic() < end and os.stat(crl).st_mtime < time.time() - 3600:
            time.sleep(0.2)
        after = crl_text(crl)
        assert os.stat(crl).st_mtime > time.time() - 3600, "the stale CRL was not re-published"
        assert crl_number(after) > crl_number(before)
        assert serial in after.replace(":", "").upper()
    finally:
        fl.stop_all()
