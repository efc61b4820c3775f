"""fleet — one ward deployment and its ward-server, for ward-server's system tests.

A ``Fleet`` is a deployment directory made by ``ward init DIR --unencrypted-keys``
whose ``[database] uri`` is SQLite (the default ``sqlite:ward.db``) or a
PostgreSQL URI written into ward.conf before anything else touches the
registry; ``fleet.set_conf()`` rewrites other keys the same way. ``Server`` runs
``ward-server -c CONF --listen 127.0.0.1:0 --workers N`` in a session (process
group) of its own, waits for its "listening on https://127.0.0.1:PORT" line,
and keeps its stderr in a log file so a test can look for "worker ... ended"
(a crashed worker) afterwards. ``stop()`` is SIGTERM, ``kill9()`` is SIGKILL to
the whole process group.

Clients are independent of ward: Python's ``ssl``/``http.client`` speak TLS and
HTTP, ``cryptography`` writes CSRs and reads PKCS#7 and certificates, the
sqlite3 and psql CLIs read the registry. Nothing here retries or hides an
error: a refused TLS handshake comes back as ``Response(status=None,
tls_error=...)`` so an authorization matrix can show it as a cell.

Binaries: $WARD_BUILD/cli/ward and $WARD_BUILD/server/ward-server (WARD_BUILD
defaults to <repo>/build).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import http.client
import json
import os
import re
import resource
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
BUILD = Path(os.environ.get("WARD_BUILD", str(REPO_ROOT / "build")))
WARD = BUILD / "cli" / "ward"
WARD_SERVER = BUILD / "server" / "ward-server"

LISTEN_RE = re.compile(r"ward-server: listening on https://127\.0\.0\.1:(\d+) with (\d+) workers?")
WORKER_DIED_RE = re.compile(r"worker \d+ ended")


def raise_nofile(want: int = 16384) -> int:
    """Raise this process's RLIMIT_NOFILE soft limit (children inherit it); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ---- HTTP(S) clients ------------------------------------------------------------


@dataclasses.dataclass
class Response:
    status: int | None          # None: the TLS handshake or the connection was refused
    headers: dict               # lower-case name -> value
    body: bytes
    tls_error: str = ""         # why, when status is None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cell(self) -> str:
        """Short form for a matrix: '200', '403', 'TLS refused'."""
        return str(self.status) if self.status is not None else "TLS refused"


def tls_context(root: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client context that trusts exactly `root` and, given cert/key, presents them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(root))
    ctx.check_hostname = True
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class Conn:
    """One keep-alive HTTPS connection to ward-server (not thread-safe: one per thread)."""

    def __init__(self, port: int, ctx: ssl.SSLContext, timeout: float = 15):
        self.port, self.ctx, self.timeout = port, ctx, timeout
        self.c: http.client.HTTPSConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> Response:
        if self.c is None:
            # 127.0.0.1 is in the server certificate's subjectAltName (ward init)
            self.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                 timeout=self.timeout)
        try:
            self.c.request(method, path, body=body, headers=headers or {})
            r = self.c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get("connection", "").lower() == "close":
                self.close()
            return Response(r.status, hdrs, data)
        except (ssl.SSLError, ConnectionError, http.client.RemoteDisconnected,
                http.client.BadStatusLine, socket.timeout, OSError) as e:
            self.close()
            return Response(None, {}, b"", f"{type(e).__name__}: {e}")

    def close(self) -> None:
        if self.c is not None:
            self.c.close()
            self.c = None


def request(port: int, ctx: ssl.SSLContext, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None, timeout: float = 15) -> Response:
    """One request on a new connection."""
    c = Conn(port, ctx, timeout)
    try:
        return c.request(method, path, body, headers)
    finally:
        c.close()


def early_reply_request(port: int, ctx: ssl.SSLContext, method: str, path: str, body: bytes,
                        headers: dict | None = None, timeout: float = 15) -> Response:
    """One request whose body is sent in pieces while watching for an early reply, as curl
    does: a server that answers 413 and closes before the whole body arrived is seen
    answering, not as a reset connection."""
    import select

    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
        hdrs = {"Host": f"127.0.0.1:{port}", "Content-Length": str(len(body)), **(headers or {})}
        s.sendall((f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                   + "\r\n").encode("latin-1"))
        sent = 0
        try:
            while sent < len(body):
                r, _, _ = select.select([s], [], [], 0)
                if r or s.pending():
                    break
                n = s.send(body[sent:sent + 4096])
                sent += n
        except (ssl.SSLError, OSError):
            pass
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, rest = data.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
        except (ssl.SSLError, OSError) as e:
            if not data:
                return Response(None, {}, b"", f"{type(e).__name__}: {e}")
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1."):
            return Response(None, {}, b"", f"no HTTP reply: {data[:80]!r}")
        hd = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hd[k.strip().lower()] = v.strip()
        return Response(int(lines[0].split()[1]), hd, rest)
    finally:
        s.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- keys, CSRs, certificates ---------------------------------------------------


def new_key(kind: str = "p256"):
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(kind)


def make_csr(serial: str | None, model: str | None = None, key=None) -> tuple[object, bytes]:
    """(key, DER CSR) with subject CN=serial, serialNumber=serial, OU=model (each when given)."""
    key = key or new_key()
    attrs = []
    if model is not None:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, model))
    if serial is not None:
        attrs += [x509.NameAttribute(NameOID.COMMON_NAME, serial),
                  x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)]
    else:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, "no-serial"))
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.DER)


def b64_lines(der: bytes) -> bytes:
    """base64 with a line break every 64 characters (what RFC 8951 says to tolerate)."""
    flat = base64.b64encode(der)
    return b"\n".join(flat[i:i + 64] for i in range(0, len(flat), 64)) + b"\n"


def p7_certs(body: bytes) -> list:
    """Certificates of a base64 (line breaks allowed) PKCS#7 certs-only body."""
    return pkcs7.load_der_pkcs7_certificates(base64.b64decode(b"".join(body.split())))


def cert_serial_hex(cert) -> str:
    """A certificate's serial the way the registry stores it: lower-case hex of its bytes
    (big-endian, no sign byte: lib/crypto/x509.c serial_to_hex), so always an even length."""
    n = cert.serial_number
    return format(n, "0%dx" % (2 * max(1, (n.bit_length() + 7) // 8)))


def pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def pem_cert(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_pem_cert(path: Path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def load_pem_key(path: Path):
    return serialization.load_pem_private_key(Path(path).read_bytes(), None)


def load_ward_keyfile(path: Path):
    """The private key of an UNENCRYPTED ward key file (lib/keyfile.c: 44-byte header, PKCS#8)."""
    rec = base64.b64decode(Path(path).read_text().splitlines()[1])
    assert rec[:8] == b"WARDKEY1" and rec[8] == 0, f"{path} is not an unencrypted ward key file"
    return serialization.load_der_private_key(rec[44:], None)


def forge_device_cert(ca_cert, ca_key, serial: str, model: str, key=None,
                      not_before: datetime.datetime | None = None,
                      not_after: datetime.datetime | None = None):
    """A device certificate made with `cryptography` (not ward), in ward's device profile
    (KU digitalSignature, EKU clientAuth, subject CN/serialNumber/OU), signed by ca_key."""
    key = key or new_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    nb = not_before or now - datetime.timedelta(minutes=5)
    na = not_after or now + datetime.timedelta(days=30)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, model),
                         x509.NameAttribute(NameOID.COMMON_NAME, serial),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, serial)])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return key, cert


@dataclasses.dataclass
class Device:
    """A device identity on disk: key.pem, cert.pem (what curl/openssl/ssl take)."""
    serial: str
    dir: Path
    key_path: Path
    cert_path: Path

    @property
    def cert(self):
        return load_pem_cert(self.cert_path)

    @property
    def cert_serial(self) -> str:
        return cert_serial_hex(self.cert)

    @classmethod
    def save(cls, directory: Path, serial: str, key, cert) -> "Device":
        directory.mkdir(parents=True, exist_ok=True)
        kp, cp = directory / "key.pem", directory / "cert.pem"
        kp.write_bytes(pem_key(key))
        kp.chmod(0o600)
        cp.write_bytes(pem_cert(cert))
        return cls(serial, directory, kp, cp)


@dataclasses.dataclass
class Batch:
    id: str
    username: str
    password: str
    model: str
    count: int
    expires: str

    @property
    def auth(self) -> str:
        return basic(self.username, self.password)


# ---- the deployment and its server ---------------------------------------------


def _run(args: list, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL,
                          env={k: v for k, v in os.environ.items() if k != "WARD_PASSPHRASE_FILE"})


class Fleet:
    """A deployment directory (ward init) on SQLite or PostgreSQL."""

    def __init__(self, directory: Path, backend: str = "sqlite", db_uri: str | None = None,
                 pg=None, pg_db: str | None = None):
        self.dir = Path(directory)
        self.backend = backend
        self.pg, self.pg_db = pg, pg_db   # pg.ThrowawayPostgres and database name, for psql
        self.servers: list[Server] = []
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        p = _run([WARD, "init", self.dir, "--unencrypted-keys"])
        assert p.returncode == 0, f"ward init {self.dir}: {p.stdout}{p.stderr}"
        if backend == "postgresql":
            assert db_uri and db_uri.startswith("postgresql://"), db_uri
            self.set_conf("database", "uri", db_uri)
        else:
            assert backend == "sqlite"

    # paths
    @property
    def conf(self) -> Path:
        return self.dir / "ward.conf"

    @property
    def root(self) -> Path:
        return self.dir / "ca" / "root.pem"

    @property
    def issuing(self) -> Path:
        return self.dir / "ca" / "issuing.pem"

    @property
    def issuing_key(self) -> Path:
        return self.dir / "ca" / "issuing.key"

    def set_conf(self, section: str, key: str, value, conf: Path | None = None,
                 src: Path | None = None) -> Path:
        """Set [section] key = value in ward.conf (or write a copy to `conf`); return the file."""
        lines = Path(src or self.conf).read_text().splitlines()
        out, cur, done = [], None, False
        for line in lines:
            m = re.match(r"\s*\[(\w+)\]\s*$", line)
            if m:
                if cur == section and not done:
                    out.append(f"{key} = {value}")
                    done = True
                cur = m.group(1)
            elif cur == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
                line, done = f"{key} = {value}", True
            out.append(line)
        if not done:
            if cur != section:
                out.append(f"[{section}]")
            out.append(f"{key} = {value}")
        target = Path(conf or self.conf)
        target.write_text("\n".join(out) + "\n")
        return target

    # the CLI
    def ward(self, *args, ok: bool | None = True, timeout: float = 120) -> subprocess.CompletedProcess:
        p = _run([WARD, *args], timeout=timeout)
        if ok is True:
            assert p.returncode == 0, f"ward {args} failed ({p.returncode}): {p.stdout}{p.stderr}"
        elif ok is False:
            assert p.returncode != 0, f"ward {args} should have failed: {p.stdout}{p.stderr}"
        return p

    def batch(self, model: str = "thermo-2", count: int = 5, expires: str = "1d") -> Batch:
        p = self.ward("batch", "create", "-c", self.conf, "--model", model, "--count", count,
                      "--expires", expires, "--json")
        return Batch(**json.loads(p.stdout))

    def audit_verify(self) -> int:
        """`ward audit verify`; asserts it succeeds and returns the record count."""
        p = self.ward("audit", "verify", "-c", self.conf, ok=None)
        assert p.returncode == 0, f"audit log does not verify: {p.stdout}{p.stderr}"
        m = re.fullmatch(r"audit log intact: (\d+) records", p.stdout.strip())
        assert m, p.stdout
        return int(m.group(1))

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query, every column as text, through sqlite3 or psql."""
        if self.backend == "sqlite":
            p = _run(["sqlite3", "-batch", "-separator", "\x1f", self.dir / "ward.db", query], timeout=60)
            assert p.returncode == 0, f"sqlite3 {query}: {p.stderr}"
            out = p.stdout
        else:
            p = _run(["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                      "-d", self.pg.uri_for(self.pg_db), "-c", query], timeout=60)
            assert p.returncode == 0, f"psql {query}: {p.stderr}"
            out = p.stdout
        return [line.split("\x1f") for line in out.splitlines()]

    def scalar(self, query: str) -> str:
        rows = self.sql(query)
        assert len(rows) == 1 and len(rows[0]) == 1, (query, rows)
        return rows[0][0]

    def audit(self, after_seq: int = 0) -> list[dict]:
        rows = self.sql(f"SELECT seq, event, subject, detail FROM audit WHERE seq > {after_seq} ORDER BY seq")
        return [{"seq": int(r[0]), "event": r[1], "subject": r[2],
                 "detail": json.loads(r[3]) if r[3] else None} for r in rows]

    def audit_head(self) -> int:
        return int(self.scalar("SELECT COALESCE(MAX(seq), 0) FROM audit"))

    # the server
    def start(self, workers: int = 2, conf: Path | None = None, name: str = "server",
              nofile: int | None = None) -> "Server":
        s = Server(conf or self.conf, workers, self.dir / f"{name}-{len(self.servers)}.log", nofile=nofile)
        self.servers.append(s)
        return s

    def stop_all(self) -> None:
        for s in self.servers:
            s.stop()

    # devices
    def enroll(self, server: "Server", batch: Batch, serial: str, model: str | None = None,
               key=None) -> Device:
        """Enrol over EST (Python client) and save the identity; asserts 200."""
        key, der = make_csr(serial, batch.model if model is None else model, key)
        r = request(server.port, tls_context(self.root), "POST", "/.well-known/est/simpleenroll",
                    b64_lines(der), {"Content-Type": "application/pkcs10", "Authorization": batch.auth})
        assert r.status == 200, f"enrolment of {serial}: {r.status} {r.text or r.tls_error}"
        certs = p7_certs(r.body)
        assert len(certs) == 1
        return Device.save(self.dir / "devices" / serial, serial, key, certs[0])

    def renew(self, server: "Server", dev: Device, new_key: bool = True) -> Device:
        key = None if new_key else load_pem_key(dev.key_path)
        key, der = make_csr(dev.serial, None, key)
        ctx = tls_context(self.root, dev.cert_path, dev.key_path)
        r = request(server.port, ctx, "POST", "/.well-known/est/simplereenroll", b64_lines(der),
                    {"Content-Type": "application/pkcs10"})
        assert r.status == 200, f"renewal of {dev.serial}: {r.status} {r.text or r.tls_error}"
        certs = p7_certs(r.body)
        n = len(list((self.dir / "devices").glob(f"{dev.serial}*")))
        return Device.save(self.dir / "devices" / f"{dev.serial}.{n}", dev.serial, key, certs[0])

    def client(self, server: "Server", dev: Device | None = None) -> Conn:
        ctx = tls_context(self.root, dev.cert_path if dev else None, dev.key_path if dev else None)
        return Conn(server.port, ctx)


class Server:
    """ward-server in a process group of its own, on an ephemeral loopback port."""

    def __init__(self, conf: Path, workers: int, log: Path, timeout: float = 30,
                 nofile: int | None = None):
        """nofile: the server's RLIMIT_NOFILE soft limit (default: this process's, raised)."""
        raise_nofile()

        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE,
                                   (nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        self.log_path = Path(log)
        self.out_path = self.log_path.with_suffix(".out")
        with open(self.out_path, "wb") as out, open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                [str(WARD_SERVER), "-c", str(conf), "--listen", "127.0.0.1:0", "--workers",
                 str(workers)],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=limit)
        self.port = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = LISTEN_RE.search(self.out_path.read_text(errors="replace"))
            if m:
                self.port, self.workers = int(m.group(1)), int(m.group(2))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            self.kill9()
            raise AssertionError(f"ward-server did not report its address: "
                                 f"{self.out_path.read_text(errors='replace')!r} {self.log()!r}")
        assert self.workers == workers
        self.url = f"https://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def worker_deaths(self) -> list[str]:
        return [l for l in self.log().splitlines() if WORKER_DIED_RE.search(l)]

    def worker_pids(self) -> list[int]:
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(k) for k in kids]

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()
        # nothing of its process group may outlive it
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def kill9(self) -> None:
        """SIGKILL the whole process group (parent and workers) at once."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and group_alive(self.proc.pid):
            time.sleep(0.02)


def group_alive(pgid: int) -> list[int]:
    """Processes of process group pgid that are still running (zombies do not count)."""
    alive = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(p.name))
    return alive
