"""System tests of the deployment commands: `ward init`, `ward batch create`,
`ward provision`, `ward device` and `ward audit verify` (docs/ward-init.md).

Everything ward writes is checked with code ward did not write: openssl
verifies the certificate chains and parses the CRL, the `cryptography`
package reads certificates, keys and CRLs, hashlib recomputes the batch
password hash and the device's scrypt hash, the sqlite3 CLI reads (and, for
the tamper test, edits) the registry.

`ward provision` is tested twice over:
  * against a fake EST server written here with `cryptography` (an
    independent EST/PKCS#7 implementation), which also plays a lying server:
    RFC 8951 line-broken base64 with Content-Transfer-Encoding, 401/403
    replies, a certificate for someone else's key or serial;
  * end to end against the real ward-server ($WARD_BUILD/server/ward-server);
    those tests skip, saying why, until that binary is built.

Run: /usr/bin/python3 -m pytest tests/system/test_deploy_cli.py
The binaries are $WARD_BUILD/cli/ward and $WARD_BUILD/server/ward-server
(WARD_BUILD defaults to <repo>/build).
"""

from __future__ import annotations

import base64
import configparser
import datetime
import hashlib
import json
import os
import re
import select
import shutil
import signal
import ssl
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
BUILD = Path(os.environ.get("WARD_BUILD", str(REPO_ROOT / "build")))
WARD_SERVER = BUILD / "server" / "ward-server"
DOC = REPO_ROOT / "docs" / "ward-init.md"

JSON_KEYS = ["id", "username", "password", "model", "count", "expires"]
LOCAL_RE = re.compile(r"^local admin password: ([0-9a-hjkmnp-tv-z]{4}(?:-[0-9a-hjkmnp-tv-z]{4}){4})$",
                      re.M)


# ---- helpers -------------------------------------------------------------------


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "WARD_PASSPHRASE_FILE"}
    env.update(extra)
    return env


@pytest.fixture
def run(ward_bin):
    """run(*args, ok=None) runs ward without a terminal; ok=True/False asserts success/failure."""

    def _run(*args, ok=None, env=None, timeout=120):
        p = subprocess.run(
            [str(ward_bin), *map(str, args)],
            capture_output=True, text=True, env=env or clean_env(),
            stdin=subprocess.DEVNULL, start_new_session=True, timeout=timeout,
        )
        if ok is True:
            assert p.returncode == 0, f"ward {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        elif ok is False:
            assert p.returncode != 0, f"ward {args} should have failed:\n{p.stdout}\n{p.stderr}"
            errors = [l for l in p.stderr.splitlines() if l.startswith("ward: ")]
            assert errors, f"no 'ward: ...' error line: {p.stderr!r}"
        return p

    return _run


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def load_certs(data: bytes):
    """Every certificate of a PEM bundle (cryptography 38, Debian 12's, has no bundle loader)."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n?", data, re.S)
    return [x509.load_pem_x509_certificate(b) for b in blocks]


def load_cert(path, index=0):
    return load_certs(Path(path).read_bytes())[index]


def utc(dt):
    """cryptography 38 returns naive UTC datetimes; make them aware."""
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def openssl(*args, ok=True):
    p = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, timeout=60)
    if ok:
        assert p.returncode == 0, f"openssl {args}: {p.stdout}\n{p.stderr}"
    return p


def sqlite(db, sql):
    p = subprocess.run(["sqlite3", str(db), sql], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"sqlite3 {sql}: {p.stderr}"
    return p.stdout


def spki(key_or_cert):
    pub = key_or_cert.public_key()
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def deploy(run, tmp_path):
    """deploy(name="fleet", *extra) -> Path of a new deployment (unencrypted CA root key)."""

    def _deploy(name="fleet", *extra):
        d = tmp_path / name
        run("init", d, "--unencrypted-keys", *extra, ok=True)
        return d

    return _deploy


def batch(run, d, model="thermo-2", count=5, expires="1d"):
    p = run("batch", "create", "-c", d / "ward.conf", "--model", model, "--count", count,
            "--expires", expires, "--json", ok=True)
    return json.loads(p.stdout)


def password_file(tmp_path, password, name="batch.pass"):
    f = tmp_path / name
    f.write_text(password + "\n")
    f.chmod(0o600)
    return f


# ---- ward init -----------------------------------------------------------------


def test_init_layout_and_modes(run, tmp_path):
    d = tmp_path / "fleet"
    pf = password_file(tmp_path, "correct horse battery staple", "ca.pass")
    p = run("init", d, "--passphrase-file", pf, "--server-name", "ward.example.com",
            "--listen", "127.0.0.1:9443", ok=True)
    assert "created deployment" in p.stdout

    files = {
        "ward.conf": 0o640,
        "keys/ca-root.key": 0o600,
        "ca/root.pem": 0o644,
        "ca/issuing.pem": 0o644,
        "ca/issuing.key": 0o600,
        "ca/server.pem": 0o644,
        "ca/server.key": 0o600,
        "ca/crl.der": 0o644,
    }
    for rel, want in files.items():
        assert (d / rel).is_file(), rel
        assert mode(d / rel) == want, f"{rel}: {oct(mode(d / rel))}, wanted {oct(want)}"
    assert mode(d / "keys") == 0o700
    assert (d / "ward.db").is_file()
    assert mode(d / "ward.db") & 0o007 == 0, "the registry is not world-readable"

    # The CA root key is a ward key file, encrypted (kdf byte 1 = scrypt).
    lines = (d / "keys/ca-root.key").read_text().splitlines()
    assert lines[0].startswith("untrusted comment: ")
    rec = base64.b64decode(lines[1])
    assert rec[:8] == b"WARDKEY1" and rec[8] == 1

    # The online keys are unencrypted PKCS#8 PEM and belong to their certificates.
    for key, cert in (("ca/issuing.key", "ca/issuing.pem"), ("ca/server.key", "ca/server.pem")):
        text = (d / key).read_bytes()
        assert text.startswith(b"-----BEGIN PRIVATE KEY-----")
        k = serialization.load_pem_private_key(text, None)
        assert isinstance(k, ec.EllipticCurvePrivateKey) and k.curve.name == "secp256r1"
        assert spki(k) == spki(load_cert(d / cert))

    # ward.conf: every key of server/conf.h, with comments, our listen address.
    cp = configparser.ConfigParser(comment_prefixes=(";", "#"), inline_comment_prefixes=None)
    cp.read(d / "ward.conf")
    assert cp["server"]["listen"] == "127.0.0.1:9443"
    assert cp["database"]["uri"] == "sqlite:ward.db"
    assert dict(cp["ca"]) == {
        "root": "ca/root.pem", "issuing_cert": "ca/issuing.pem", "issuing_key": "ca/issuing.key",
        "server_cert": "ca/server.pem", "server_key": "ca/server.key", "crl": "ca/crl.der",
    }
    assert set(cp["devices"]) == {"cert_lifetime", "renew_before", "checkin_interval"}
    assert set(cp["server"]) == {"listen", "workers", "max_connections", "request_timeout", "max_body"}
    assert (d / "ward.conf").read_text().count(";") > 10

    # The registry holds exactly one audit record, "init".
    assert sqlite(d / "ward.db", "SELECT seq, event FROM audit").split() == ["1|init"]


def test_init_certificates(deploy):
    d = deploy("fleet", "--server-name", "ward.example.com")
    root = load_cert(d / "ca/root.pem")
    issuing = load_cert(d / "ca/issuing.pem")
    server, server_issuer = load_certs((d / "ca/server.pem").read_bytes())
    assert server_issuer == issuing, "server.pem is the server certificate, then issuing.pem"

    # openssl, not ward, verifies the chain.
    p = openssl("verify", "-CAfile", d / "ca/root.pem", "-untrusted", d / "ca/issuing.pem",
                d / "ca/server.pem")
    assert p.stdout.strip().endswith(": OK")
    openssl("verify", "-CAfile", d / "ca/root.pem", d / "ca/issuing.pem")

    def life(c):
        return c.not_valid_after - c.not_valid_before

    day = datetime.timedelta(days=1)
    assert 3649 * day < life(root) < 3651 * day
    assert 729 * day < life(issuing) < 731 * day
    assert server.not_valid_after <= issuing.not_valid_after

    bc = root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert root.issuer == root.subject
    bc = issuing.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0
    bc = server.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert not bc.ca
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["ward.example.com"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    for c in (root, issuing, server):
        assert isinstance(c.public_key(), ec.EllipticCurvePublicKey)
        assert c.signature_hash_algorithm.name == "sha256"
        assert c.serial_number.bit_length() > 64


def test_init_crl(deploy):
    d = deploy()
    p = openssl("crl", "-inform", "DER", "-in", d / "ca/crl.der", "-noout", "-text")
    assert "No Revoked Certificates" in p.stdout
    p = openssl("crl", "-inform", "DER", "-in", d / "ca/crl.der", "-noout", "-CAfile",
                d / "ca/issuing.pem")
    assert "verify OK" in p.stdout + p.stderr
    crl = x509.load_der_x509_crl((d / "ca/crl.der").read_bytes())
    issuing = load_cert(d / "ca/issuing.pem")
    assert crl.issuer == issuing.subject
    assert crl.is_signature_valid(issuing.public_key())
    assert len(crl) == 0
    assert utc(crl.next_update) > datetime.datetime.now(datetime.timezone.utc)


def test_init_unencrypted_key_file(deploy):
    d = deploy()
    rec = base64.b64decode((d / "keys/ca-root.key").read_text().splitlines()[1])
    assert rec[8] == 0


def test_init_refuses_non_empty_dir(run, tmp_path):
    d = tmp_path / "fleet"
    d.mkdir()
    (d / "precious").write_text("mine")
    p = run("init", d, "--unencrypted-keys", ok=False)
    assert "not empty" in p.stderr
    assert sorted(os.listdir(d)) == ["precious"]
    assert (d / "precious").read_text() == "mine"


def test_init_into_empty_dir_and_twice(run, tmp_path):
    d = tmp_path / "fleet"
    d.mkdir()
    run("init", d, "--unencrypted-keys", ok=True)
    before = {p: p.stat().st_mtime_ns for p in d.rglob("*")}
    p = run("init", d, "--unencrypted-keys", ok=False)
    assert "not empty" in p.stderr
    assert {p: p.stat().st_mtime_ns for p in d.rglob("*")} == before


@pytest.mark.parametrize("args, want", [
    (["--listen", "nonsense"], "--listen"),
    (["--listen", "ward.example.com:8443"], "not an IP address"),
    (["--server-name", "bad name!"], "--server-name"),
    (["--server-name", "10.0.0.1"], "--server-name"),
    (["--passphrase-file", "/nonexistent", "--unencrypted-keys"], "exclude each other"),
])
def test_init_bad_options_create_nothing(run, tmp_path, args, want):
    d = tmp_path / "fleet"
    p = run("init", d, *args, ok=False)
    assert p.returncode == 2
    assert want in p.stderr
    assert not d.exists()


def test_init_bad_passphrase_creates_nothing(run, tmp_path):
    # An empty passphrase file fails at input time, before anything is created.
    d = tmp_path / "fleet"
    empty = tmp_path / "empty.pass"
    empty.write_text("\n")
    run("init", d, "--passphrase-file", empty, ok=False)
    assert not d.exists()


# ---- ward batch create --------------------------------------------------------


def test_batch_create_json_and_hash(run, deploy):
    d = deploy()
    before = time.time()
    p = run("batch", "create", "-c", d / "ward.conf", "--model", "thermo-2", "--count", "500",
            "--expires", "30d", "--json", ok=True)
    lines = p.stdout.strip().splitlines()
    assert len(lines) == 1
    b = json.loads(lines[0])
    assert list(b) == JSON_KEYS
    assert re.fullmatch(r"[0-9a-f]{32}", b["id"])
    assert b["username"] == "batch-" + b["id"][:8]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", b["password"])
    assert len(base64.urlsafe_b64decode(b["password"])) == 24
    assert b["model"] == "thermo-2" and b["count"] == 500
    exp = datetime.datetime.strptime(b["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    assert before + 30 * 86400 - 5 <= exp <= time.time() + 30 * 86400 + 5

    # The password is nowhere in the database files; its salted hash is.
    for f in d.iterdir():
        if f.name.startswith("ward.db"):
            assert b["password"].encode() not in f.read_bytes(), f
    row = sqlite(d / "ward.db",
                 f"SELECT username, pass_hash, model, count, used FROM batches WHERE id = '{b['id']}'")
    username, pass_hash, model, count, used = row.strip().split("|")
    assert (username, model, count, used) == (b["username"], "thermo-2", "500", "0")
    algo, salt, digest = pass_hash.split("$")
    assert algo == "sha256" and len(bytes.fromhex(salt)) == 16
    assert hashlib.sha256(bytes.fromhex(salt) + b["password"].encode()).hexdigest() == digest

    # An audit record without the password; the chain verifies.
    audit = sqlite(d / "ward.db", "SELECT event, subject, detail FROM audit WHERE seq = 2").strip()
    event, subject, detail = audit.split("|", 2)
    assert (event, subject) == ("batch-create", b["id"])
    assert json.loads(detail) == {"count": 500, "expires": b["expires"], "model": "thermo-2",
                                  "username": b["username"]}
    assert b["password"] not in audit
    p = run("audit", "verify", "-c", d / "ward.conf", ok=True)
    assert p.stdout.strip() == "audit log intact: 2 records"


def test_batch_create_human_output(run, deploy):
    d = deploy()
    p = run("batch", "create", "-c", d / "ward.conf", "--model", "m", "--count", "1",
            "--expires", "12h", ok=True)
    assert re.search(r"^  password  [A-Za-z0-9_-]{32}$", p.stdout, re.M)
    assert "shown only this once" in p.stdout


def test_batch_passwords_differ(run, deploy):
    d = deploy()
    a, b = batch(run, d), batch(run, d)
    assert a["id"] != b["id"] and a["password"] != b["password"]


@pytest.mark.parametrize("args, want", [
    (["--model", "bad model", "--count", "1", "--expires", "1d"], "--model"),
    (["--model", "m", "--count", "0", "--expires", "1d"], "--count"),
    (["--model", "m", "--count", "x", "--expires", "1d"], "--count"),
    (["--model", "m", "--count", "1", "--expires", "soon"], "--expires"),
    (["--model", "m", "--count", "1"], "--expires"),
])
def test_batch_create_bad_input(run, deploy, args, want):
    d = deploy()
    p = run("batch", "create", "-c", d / "ward.conf", *args, ok=False)
    assert p.returncode == 2 and want in p.stderr
    assert sqlite(d / "ward.db", "SELECT count(*) FROM batches").strip() == "0"


def test_batch_create_missing_conf(run, tmp_path):
    p = run("batch", "create", "-c", tmp_path / "nope.conf", "--model", "m", "--count", "1",
            "--expires", "1d", ok=False)
    assert p.returncode == 1 and "nope.conf" in p.stderr


# ---- ward audit verify ---------------------------------------------------------


def test_audit_verify_detects_tampering(run, deploy):
    d = deploy()
    batch(run, d)
    batch(run, d, model="other")
    run("audit", "verify", "-c", d / "ward.conf", ok=True)
    # Raise the second batch's count in the audit record, as an insider covering tracks would.
    sqlite(d / "ward.db", "UPDATE audit SET detail = replace(detail, '\"count\":5', '\"count\":9') "
                          "WHERE seq = 2")
    p = run("audit", "verify", "-c", d / "ward.conf", ok=False)
    assert p.returncode == 1
    assert "intact" not in p.stdout
    assert re.search(r"\b2\b", p.stderr), f"the message must name record 2: {p.stderr}"


def test_audit_verify_detects_deleted_record(run, deploy):
    d = deploy()
    batch(run, d)
    batch(run, d)
    sqlite(d / "ward.db", "DELETE FROM audit WHERE seq = 2")
    p = run("audit", "verify", "-c", d / "ward.conf", ok=False)
    assert p.returncode == 1 and re.search(r"\b[23]\b", p.stderr), p.stderr


# ---- ward device ---------------------------------------------------------------


def test_device_revoke_unknown_serial(run, deploy):
    d = deploy()
    crl_before = (d / "ca/crl.der").read_bytes()
    for cmd in ("revoke", "decommission"):
        p = run("device", cmd, "NO-SUCH-DEVICE", "-c", d / "ward.conf", ok=False)
        assert p.returncode == 1
        assert "no device with serial 'NO-SUCH-DEVICE'" in p.stderr
    assert (d / "ca/crl.der").read_bytes() == crl_before
    assert sqlite(d / "ward.db", "SELECT count(*) FROM audit").strip() == "1"


def test_device_list_empty(run, deploy):
    d = deploy()
    p = run("device", "list", "-c", d / "ward.conf", ok=True)
    assert p.stdout.split() == ["SERIAL", "MODEL", "STATUS", "CERT", "EXPIRES", "LAST", "SEEN"]
    p = run("device", "list", "-c", d / "ward.conf", "--json", ok=True)
    assert json.loads(p.stdout) == []


def test_device_crl_republishes(run, deploy):
    d = deploy()
    n1 = x509.load_der_x509_crl((d / "ca/crl.der").read_bytes()).extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
    run("device", "crl", "-c", d / "ward.conf", ok=True)
    n2 = x509.load_der_x509_crl((d / "ca/crl.der").read_bytes()).extensions.get_extension_for_class(
        x509.CRLNumber).value.crl_number
    assert n2 > n1


def test_device_usage_errors(run, deploy):
    d = deploy()
    assert run("device", "revoke", "-c", d / "ward.conf", ok=False).returncode == 2
    assert run("device", "list", "-c", d / "ward.conf", "extra", ok=False).returncode == 2
    assert run("device", "frobnicate", "-c", d / "ward.conf", ok=False).returncode == 2
    assert run("device", "revoke", "x y", "-c", d / "ward.conf", ok=False).returncode == 2


# ---- help and docs agree ------------------------------------------------------


@pytest.mark.parametrize("cmd", [["init"], ["batch"], ["provision"], ["device"], ["audit"]])
def test_help_flags_are_documented(run, cmd):
    p = run(*cmd, "--help", ok=True)
    doc = DOC.read_text()
    flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", p.stdout))
    assert flags, p.stdout
    for f in flags:
        assert f"`{f}" in doc, f"{' '.join(cmd)} --help names {f}, docs/ward-init.md does not"


# ---- ward provision against a fake EST server ------------------------------------


class FakeEST:
    """An EST server made with `cryptography`, serving with a deployment's TLS
    certificate and signing with its issuing CA. `mode` picks its behaviour:
    "ok", "401", "403", "other-key" (a certificate for a key that is not the
    CSR's), "other-serial" (serialNumber changed), "garbage" (not base64)."""

    def __init__(self, deployment: Path, user: str, password: str):
        self.dir = deployment
        self.user, self.password = user, password
        self.mode = "ok"
        self.requests = []
        self.issuing = load_cert(deployment / "ca/issuing.pem")
        self.root = load_cert(deployment / "ca/root.pem")
        self.issuing_key = serialization.load_pem_private_key(
            (deployment / "ca/issuing.key").read_bytes(), None)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, code, body: bytes, ctype="text/plain", cte=False):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                if cte:
                    self.send_header("Content-Transfer-Encoding", "base64")
                if code == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="fake EST"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                owner.requests.append(("GET", self.path, dict(self.headers), b""))
                if self.path == "/.well-known/est/cacerts":
                    self.reply(200, owner.p7([owner.issuing, owner.root]),
                               "application/pkcs7-mime; smime-type=certs-only", cte=True)
                else:
                    self.reply(404, b"not here")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.requests.append(("POST", self.path, dict(self.headers), body))
                if self.path != "/.well-known/est/simpleenroll":
                    return self.reply(404, b"not here")
                want = "Basic " + base64.b64encode(f"{owner.user}:{owner.password}".encode()).decode()
                if owner.mode == "401" or self.headers.get("Authorization") != want:
                    return self.reply(401, b"unknown batch or wrong password")
                if owner.mode == "403":
                    return self.reply(403, b"production batch quota is used up\r\n")
                if owner.mode == "garbage":
                    return self.reply(200, b"<html>proxy login</html>",
                                      "application/pkcs7-mime; smime-type=certs-only")
                csr = x509.load_der_x509_csr(base64.b64decode(body))
                assert csr.is_signature_valid
                self.reply(200, owner.p7([owner.issue(csr)]),
                           "application/pkcs7-mime; smime-type=certs-only", cte=True)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(deployment / "ca/server.pem", deployment / "ca/server.key")
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def p7(certs):
        """base64 of a certs-only PKCS#7, 76-character lines ending in CRLF (RFC 2045 style)."""
        der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
        b64 = base64.b64encode(der).decode()
        return "".join(b64[i:i + 76] + "\r\n" for i in range(0, len(b64), 76)).encode()

    def issue(self, csr):
        subject = csr.subject
        key = csr.public_key()
        if self.mode == "other-key":
            key = ec.generate_private_key(ec.SECP256R1()).public_key()
        if self.mode == "other-serial":
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone-else"),
                                 x509.NameAttribute(NameOID.SERIAL_NUMBER, "someone-else")])
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder()
                .subject_name(subject).issuer_name(self.issuing.subject).public_key(key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                             False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.issuing.public_key()), critical=False)  # RFC 5280 4.2.1.1: required
                .sign(self.issuing_key, hashes.SHA256()))

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_est(deploy):
    servers = []

    def make(user="batch-0000test", password="s3cret-batch-password"):
        d = deploy("fake-fleet")
        srv = FakeEST(d, user, password)
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop()


def provision(run, server_url, root, user, pwfile, serial, model, out, *extra, ok=None):
    return run("provision", "--server", server_url, "--ca", root, "--user", user,
               "--password-file", pwfile, "--serial", serial, "--model", model, "--out", out,
               *extra, ok=ok)


def check_identity(out: Path, root_pem: Path, serial: str, model: str, stdout: str):
    """What a provisioned DIR must hold, checked with openssl, cryptography and hashlib."""
    for name, want in (("device.key", 0o600), ("device.pem", 0o644), ("ca.pem", 0o644),
                       ("local-credentials", 0o600)):
        assert mode(out / name) == want, f"{name}: {oct(mode(out / name))}"
    key = serialization.load_pem_private_key((out / "device.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert (out / "device.key").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    cert = load_cert(out / "device.pem")
    assert spki(cert) == spki(key)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == serial
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == serial
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == model
    chain = load_certs((out / "ca.pem").read_bytes())
    assert chain[-1] == load_cert(root_pem), "ca.pem ends with the root from --ca"
    p = openssl("verify", "-CAfile", root_pem, "-untrusted", out / "ca.pem", out / "device.pem")
    assert p.stdout.strip().endswith(": OK")

    # The local password: printed once, stored only as scrypt.
    found = LOCAL_RE.findall(stdout)
    assert len(found) == 1, stdout
    pw = found[0]
    assert stdout.count(pw) == 1
    line = (out / "local-credentials").read_text()
    assert pw not in line
    user, rest = line.strip().split(":", 1)
    algo, log2n, r, p_, salt, dk = rest.split("$")
    assert (user, algo, log2n, r, p_) == ("admin", "scrypt", "15", "8", "1")
    assert len(bytes.fromhex(salt)) == 16
    got = hashlib.scrypt(pw.encode(), salt=bytes.fromhex(salt), n=2 ** 15, r=8, p=1,
                         maxmem=64 * 1024 * 1024, dklen=32)
    assert got.hex() == dk
    return cert


def test_provision_fake_est_rfc8951(run, fake_est, tmp_path):
    est = fake_est()
    pw = password_file(tmp_path, est.password)
    out = tmp_path / "dev1"
    p = provision(run, est.url, est.dir / "ca/root.pem", est.user, pw, "TH2-0001", "thermo-2", out,
                  ok=True)
    check_identity(out, est.dir / "ca/root.pem", "TH2-0001", "thermo-2", p.stdout)
    assert p.stdout.strip().splitlines()[-1].startswith("local admin password: ")

    # What went over the wire: cacerts first (anonymous), then one enrolment.
    assert [(m, path) for m, path, _, _ in est.requests] == [
        ("GET", "/.well-known/est/cacerts"), ("POST", "/.well-known/est/simpleenroll")]
    assert "Authorization" not in est.requests[0][2]
    _, _, headers, body = est.requests[1]
    assert headers["Content-Type"] == "application/pkcs10"
    csr = x509.load_der_x509_csr(base64.b64decode(body, validate=True))
    assert csr.is_signature_valid
    assert spki(csr) == spki(load_cert(out / "device.pem"))
    assert csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "TH2-0001"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "thermo-2"
    assert csr.signature_hash_algorithm.name == "sha256"
    # The password never appears in argv, output or the files written.
    assert est.password not in p.stdout + p.stderr
    for f in out.iterdir():
        assert est.password.encode() not in f.read_bytes()


@pytest.mark.parametrize("mode_, want", [
    ("401", "wrong user name or password"),
    ("403", "production batch quota is used up"),
    ("other-key", "no certificate in the response is for this device's key"),
    ("other-serial", "serialNumber"),
    ("garbage", "base64"),
])
def test_provision_fake_est_refusals(run, fake_est, tmp_path, mode_, want):
    est = fake_est()
    est.mode = mode_
    pw = password_file(tmp_path, est.password)
    out = tmp_path / "dev"
    p = provision(run, est.url, est.dir / "ca/root.pem", est.user, pw, "TH2-0002", "thermo-2", out,
                  ok=False)
    assert p.returncode == 1
    assert want in p.stderr, p.stderr
    assert "local admin password" not in p.stdout
    if mode_ in ("401", "403"):
        # Refused before anything was issued: nothing left behind, a rerun is possible.
        assert list(out.iterdir()) == []
    else:
        # The server said yes: what was written stays, and the message says why.
        assert "registered this serial" in p.stderr
        assert not (out / "device.pem").exists()


def test_provision_wrong_password_file_against_fake(run, fake_est, tmp_path):
    est = fake_est()
    pw = password_file(tmp_path, "not-the-password")
    out = tmp_path / "dev"
    p = provision(run, est.url, est.dir / "ca/root.pem", est.user, pw, "TH2-0003", "thermo-2", out,
                  ok=False)
    assert "HTTP 401" in p.stderr and "not-the-password" not in p.stderr
    assert list(out.iterdir()) == []


def test_provision_tls_wrong_root(run, fake_est, deploy, tmp_path):
    est = fake_est()
    other = deploy("other-fleet")
    pw = password_file(tmp_path, est.password)
    out = tmp_path / "dev"
    p = provision(run, est.url, other / "ca/root.pem", est.user, pw, "TH2-0004", "thermo-2", out,
                  ok=False)
    assert "TLS" in p.stderr and "does not verify" in p.stderr, p.stderr
    assert not est.requests, "nothing may be sent to a server that fails TLS verification"
    assert list(out.iterdir()) == []


def test_provision_local_checks_before_network(run, fake_est, tmp_path):
    est = fake_est()
    pw = password_file(tmp_path, est.password)
    root = est.dir / "ca/root.pem"
    # An existing identity is never overwritten.
    out = tmp_path / "dev"
    out.mkdir()
    (out / "device.key").write_text("old key")
    p = provision(run, est.url, root, est.user, pw, "TH2-0005", "thermo-2", out, ok=False)
    assert "already exists" in p.stderr
    assert (out / "device.key").read_text() == "old key"
    # http:// is refused: the batch password never travels in clear.
    p = provision(run, est.url.replace("https", "http"), root, est.user, pw, "TH2-0005", "m",
                  tmp_path / "d2", ok=False)
    assert p.returncode == 2 and "https://" in p.stderr
    # Bad serial, bad model, a --ca that is no single CA certificate.
    assert provision(run, est.url, root, est.user, pw, "bad serial", "m", tmp_path / "d3",
                     ok=False).returncode == 2
    assert provision(run, est.url, root, est.user, pw, "S1", "bad/model", tmp_path / "d4",
                     ok=False).returncode == 2
    p = provision(run, est.url, est.dir / "ca/server.pem", est.user, pw, "S1", "m", tmp_path / "d5",
                  ok=False)
    assert "exactly one certificate" in p.stderr
    assert not est.requests


def test_provision_missing_options(run):
    p = run("provision", "--server", "https://127.0.0.1:1", ok=False)
    assert p.returncode == 2 and "--ca is required" in p.stderr


# ---- end to end with the real ward-server --------------------------------------

needs_server = pytest.mark.skipif(
    not (WARD_SERVER.is_file() and os.access(WARD_SERVER, os.X_OK)),
    reason=f"ward-server is not built at {WARD_SERVER} (ninja -C $WARD_BUILD server/ward-server)",
)


class Server:
    """ward-server -c DIR/ward.conf on a free loopback port."""

    def __init__(self, d: Path):
        self.proc = subprocess.Popen(
            [str(WARD_SERVER), "-c", str(d / "ward.conf"), "--listen", "127.0.0.1:0",
             "--workers", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.url = None
        buf = b""
        deadline = time.time() + 20
        while time.time() < deadline and self.url is None:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                m = re.search(rb"listening on (https://[0-9.]+:\d+)", buf)
                if m:
                    self.url = m.group(1).decode()
            elif self.proc.poll() is not None:
                break
        if self.url is None:
            self.stop()
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            pytest.fail(f"ward-server did not report its address: {buf!r} {err}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def server(deploy):
    servers = []

    def make(name="fleet"):
        d = deploy(name)
        s = Server(d)
        s.dir = d
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@needs_server
def test_e2e_provision_list_revoke(run, server, tmp_path):
    srv = server()
    d = srv.dir
    conf = d / "ward.conf"
    b = batch(run, d, model="thermo-2", count=2)
    pw = password_file(tmp_path, b["password"])
    out = tmp_path / "dev1"
    p = provision(run, srv.url, d / "ca/root.pem", b["username"], pw, "TH2-1001", "thermo-2", out,
                  ok=True)
    cert = check_identity(out, d / "ca/root.pem", "TH2-1001", "thermo-2", p.stdout)
    # The chain the server handed out is this deployment's.
    assert load_certs((out / "ca.pem").read_bytes()) == [
        load_cert(d / "ca/issuing.pem"), load_cert(d / "ca/root.pem")]
    assert sqlite(d / "ward.db", f"SELECT used FROM batches WHERE id = '{b['id']}'").strip() == "1"

    devs = json.loads(run("device", "list", "-c", conf, "--json", ok=True).stdout)
    assert [(x["serial"], x["model"], x["status"]) for x in devs] == [("TH2-1001", "thermo-2", "active")]
    assert int(devs[0]["cert_serial"], 16) == cert.serial_number
    assert "TH2-1001" in run("device", "list", "-c", conf, ok=True).stdout

    # Revoke: status, audit, and a CRL (checked by openssl and cryptography) listing the certificate.
    p = run("device", "revoke", "TH2-1001", "-c", conf, ok=True)
    devs = json.loads(run("device", "list", "-c", conf, "--json", ok=True).stdout)
    assert devs[0]["status"] == "revoked"
    crl = x509.load_der_x509_crl((d / "ca/crl.der").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert crl.is_signature_valid(load_cert(d / "ca/issuing.pem").public_key())
    txt = openssl("crl", "-inform", "DER", "-in", d / "ca/crl.der", "-noout", "-text").stdout
    listed = [int(x, 16) for x in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", txt)]
    assert listed == [cert.serial_number]
    p = run("device", "revoke", "TH2-1001", "-c", conf, ok=False)
    assert "already revoked" in p.stderr
    run("device", "decommission", "TH2-1001", "-c", conf, ok=True)

    events = sqlite(d / "ward.db", "SELECT event FROM audit ORDER BY seq").split()
    assert events[:2] == ["init", "batch-create"]
    assert "enroll" in events and "device-revoke" in events and events[-1] == "device-decommission"
    p = run("audit", "verify", "-c", conf, ok=True)
    assert p.stdout.strip() == f"audit log intact: {len(events)} records"


@needs_server
def test_e2e_refusals(run, server, tmp_path):
    srv = server()
    d = srv.dir
    root = d / "ca/root.pem"
    b = batch(run, d, model="thermo-2", count=1)
    pw = password_file(tmp_path, b["password"])
    bad = password_file(tmp_path, "x" * 32, "bad.pass")

    # 401: wrong password; nothing counted, nothing left behind.
    out = tmp_path / "d401"
    p = provision(run, srv.url, root, b["username"], bad, "S-1", "thermo-2", out, ok=False)
    assert "wrong user name or password" in p.stderr and list(out.iterdir()) == []
    # 403: model mismatch, with the server's reason.
    p = provision(run, srv.url, root, b["username"], pw, "S-1", "other-model", tmp_path / "dm",
                  ok=False)
    assert "HTTP 403" in p.stderr and "model" in p.stderr
    # One device is fine; the second is over quota; the first serial again is a conflict.
    provision(run, srv.url, root, b["username"], pw, "S-1", "thermo-2", tmp_path / "d1", ok=True)
    p = provision(run, srv.url, root, b["username"], pw, "S-2", "thermo-2", tmp_path / "d2", ok=False)
    assert "HTTP 403" in p.stderr and "quota" in p.stderr
    b2 = batch(run, d, model="thermo-2", count=5)
    pw2 = password_file(tmp_path, b2["password"], "b2.pass")
    p = provision(run, srv.url, root, b2["username"], pw2, "S-1", "thermo-2", tmp_path / "d3",
                  ok=False)
    assert "already enrolled" in p.stderr
    assert sqlite(d / "ward.db", f"SELECT used FROM batches WHERE id = '{b['id']}'").strip() == "1"
    run("audit", "verify", "-c", d / "ward.conf", ok=True)


@needs_server
def test_e2e_expired_batch(run, server, tmp_path):
    srv = server()
    d = srv.dir
    b = batch(run, d, model="m", count=5, expires="1s")
    time.sleep(2.2)
    pw = password_file(tmp_path, b["password"])
    p = provision(run, srv.url, d / "ca/root.pem", b["username"], pw, "S-9", "m", tmp_path / "d",
                  ok=False)
    assert "HTTP 403" in p.stderr and "expired" in p.stderr


@needs_server
def test_e2e_tls_wrong_root(run, server, deploy, tmp_path):
    srv = server()
    other = deploy("elsewhere")
    b = batch(run, srv.dir)
    pw = password_file(tmp_path, b["password"])
    p = provision(run, srv.url, other / "ca/root.pem", b["username"], pw, "S-7", "thermo-2",
                  tmp_path / "d", ok=False)
    assert "TLS" in p.stderr and "does not verify" in p.stderr
    assert sqlite(srv.dir / "ward.db", "SELECT used FROM batches").strip() == "0"


@needs_server
def test_e2e_curl_sees_the_same_est(run, server, tmp_path):
    """curl (not ward) fetches /cacerts and /crl, as ARCHITECTURE.md promises users can."""
    srv = server()
    d = srv.dir
    p = subprocess.run(["curl", "-sS", "--fail", "--cacert", str(d / "ca/root.pem"),
                        srv.url + "/.well-known/est/cacerts"], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    der = base64.b64decode(b"".join(p.stdout.split()))
    certs = pkcs7.load_der_pkcs7_certificates(der)
    assert load_cert(d / "ca/issuing.pem") in certs
