"""
hostile — a scriptable loopback HTTP/1.1 server for ward's attack tests.

It listens on 127.0.0.1 on an ephemeral port and answers each path with a
scripted behaviour: the bytes of a dict of files (an honest mirror), a 404 or
any status, an endless stream (close-delimited, chunked, or under a huge
Content-Length), a trickle of one byte per second (body only, or headers too),
a stall, a Content-Length that lies, or a sequence of behaviours for
successive requests. Every request is recorded with how many body bytes were
actually written to the socket and how the response ended.

Invariants: responses are written raw, byte for byte as scripted (no framework
adds or fixes anything); stop() ends every connection and joins every thread it
started, and raises if one is still alive, so a test never leaks threads.
"""

import dataclasses
import http
import http.server
import os
import socket
import socketserver
import threading
import time
import urllib.parse

KiB = 1024
MiB = 1024 * 1024


@dataclasses.dataclass
class Request:
    """One request as the server saw it, and how the response went."""
    method: str
    raw_path: str          # as sent on the request line
    path: str              # decoded, query dropped, repeated "/" collapsed
    headers: dict          # lower-case name -> value
    t_start: float
    t_end: float = 0.0
    body_sent: int = 0     # body bytes the kernel accepted
    outcome: str = "open"  # done | client-gone | stopped | cap


def _head(status, headers):
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Whatever"
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Gone(Exception):
    """The client closed the connection (or the server is stopping)."""


class Behaviour:
    def serve(self, h, req):  # pragma: no cover - interface
        raise NotImplementedError


class Bytes(Behaviour):
    """
    Serve data with status. content_length: None = the true length, an int =
    that value whatever the body (a lie), False = no header and close the
    connection after the body.
    """

    def __init__(self, data, status=200, content_length=None, headers=()):
        self.data, self.status, self.content_length, self.headers = data, status, content_length, list(headers)

    def serve(self, h, req):
        hdrs = [("Content-Type", "application/octet-stream")] + self.headers
        close = False
        if self.content_length is False:
            close = True
        elif self.content_length is None:
            hdrs.append(("Content-Length", str(len(self.data))))
        else:
            hdrs.append(("Content-Length", str(self.content_length)))
            close = True  # a lie poisons the connection either way
        if close:
            hdrs.append(("Connection", "close"))
            h.close_connection = True
        head = _head(self.status, hdrs)
        if req.method == "HEAD":
            h.send(head)
        else:  # one write: a split head/body costs a delayed-ACK round trip per request
            h.send(head + self.data)
            req.body_sent += len(self.data)


def NotFound():
    return Bytes(b"not found\n", status=404, headers=[("Content-Type", "text/plain")])


def Status(code, body=b"error\n"):
    return Bytes(body, status=code, headers=[("Content-Type", "text/plain")])


class Endless(Behaviour):
    """
    Stream without end: prefix, then fill repeated. mode "close": no length,
    body ends at connection close; "chunked": endless chunks; "length": a huge
    Content-Length (declared). Stops at cap bytes (outcome "cap"), when the
    client goes away, or when the server stops.
    """

    def __init__(self, mode="close", prefix=b"", fill=b" ", chunk=64 * KiB, cap=256 * MiB,
                 declared=1 << 40):
        assert mode in ("close", "chunked", "length")
        self.mode, self.prefix, self.cap, self.declared = mode, prefix, cap, declared
        self.block = (fill * (chunk // len(fill) + 1))[:chunk]

    def serve(self, h, req):
        # A small send buffer keeps "bytes sent" close to "bytes the client took".
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * KiB)
        hdrs = [("Content-Type", "application/octet-stream")]
        if self.mode == "close":
            hdrs.append(("Connection", "close"))
        elif self.mode == "chunked":
            hdrs.append(("Transfer-Encoding", "chunked"))
        else:
            hdrs.append(("Content-Length", str(self.declared)))
        h.close_connection = True
        h.send(_head(200, hdrs))
        first = self.prefix + self.block
        while req.body_sent < self.cap:
            block = first if req.body_sent == 0 and self.prefix else self.block
            if self.mode == "chunked":
                h.send(b"%x\r\n" % len(block))
                h.send_body(req, block)
                h.send(b"\r\n")
            else:
                h.send_body(req, block)
            if h.owner.stopping.is_set():
                raise _Gone("stopped")
        req.outcome = "cap"


class Trickle(Behaviour):
    """
    Send data `step` bytes every `interval` seconds. headers=True: the head
    (with a true Content-Length) goes at once and the body trickles;
    headers=False: the head trickles too.
    """

    def __init__(self, data, interval=1.0, step=1, headers=True):
        self.data, self.interval, self.step, self.headers = data, interval, step, headers

    def serve(self, h, req):
        head = _head(200, [("Content-Type", "application/octet-stream"),
                           ("Content-Length", str(len(self.data)))])
        h.close_connection = True
        if self.headers:
            h.send(head)
            pending, counted = [self.data], True
        else:
            pending, counted = [head, self.data], False
        for part in pending:
            for i in range(0, len(part), self.step):
                if counted:
                    h.send_body(req, part[i:i + self.step])
                else:
                    h.send(part[i:i + self.step])
                if h.owner.stopping.wait(self.interval):
                    raise _Gone("stopped")
            counted = True


class Stall(Behaviour):
    """Read the request, then say nothing until the client leaves or the server stops."""

    def serve(self, h, req):
        h.close_connection = True
        h.connection.settimeout(0.2)
        while not h.owner.stopping.is_set():
            try:
                if h.connection.recv(1, socket.MSG_PEEK) == b"":
                    raise _Gone("client closed")
            except socket.timeout:
                continue
            except OSError:
                raise _Gone("client closed")
            time.sleep(0.2)
        raise _Gone("stopped")


class Seq(Behaviour):
    """The i-th request for the path gets behaviours[i]; the last one repeats."""

    def __init__(self, *behaviours):
        self.behaviours = [b if isinstance(b, Behaviour) else Bytes(b) for b in behaviours]
        self.count = 0
        self.lock = threading.Lock()

    def serve(self, h, req):
        with self.lock:
            i = min(self.count, len(self.behaviours) - 1)
            self.count += 1
        self.behaviours[i].serve(h, req)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # no connection may outlive a test by much, even if stop() is never called

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.owner = self.server.owner
        self.owner._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.owner._track(self.connection, False)

    def log_message(self, fmt, *args):
        pass

    def send(self, data):
        """Write raw bytes; _Gone when the client is gone."""
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError) as e:
            raise _Gone(str(e))

    def send_body(self, req, data):
        self.send(data)
        req.body_sent += len(data)

    def do_GET(self):
        self.owner._dispatch(self, "GET")

    def do_HEAD(self):
        self.owner._dispatch(self, "HEAD")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True   # a safety net only: HostileServer.stop() joins every thread
    block_on_close = False
    allow_reuse_address = True

    def process_request(self, request, client_address):
        t = threading.Thread(target=self.process_request_thread, args=(request, client_address),
                             name="hostile-conn", daemon=True)
        self.owner._threads.append(t)
        t.start()


def _normalize(raw):
    p = urllib.parse.urlsplit(raw).path
    p = urllib.parse.unquote(p)
    while "//" in p:
        p = p.replace("//", "/")
    return p


class HostileServer:
    """
    with HostileServer(files) as srv:
        srv.route("/metadata/timestamp.json", Endless())
        url = srv.url("/metadata/")

    files: a dict URL path -> bytes served honestly (read at request time, so a
    test may change it); route() overrides a path with any behaviour.
    """

    def __init__(self, files=None):
        self.files = files if files is not None else {}
        self.routes = {}
        self.requests = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns = set()
        self._threads = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._loop = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                      name="hostile-accept", daemon=True)
        self._loop.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path, behaviour):
        if isinstance(behaviour, (bytes, bytearray)):
            behaviour = Bytes(bytes(behaviour))
        self.routes[path] = behaviour

    def unroute(self, path):
        self.routes.pop(path, None)

    def requests_for(self, path):
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def paths(self):
        with self._lock:
            return [r.path for r in self.requests]

    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _dispatch(self, h, method):
        req = Request(method=method, raw_path=h.path, path=_normalize(h.path),
                      headers={k.lower(): v for k, v in h.headers.items()}, t_start=time.monotonic())
        with self._lock:
            self.requests.append(req)
        behaviour = self.routes.get(req.path)
        if behaviour is None:
            data = self.files.get(req.path)
            behaviour = NotFound() if data is None else Bytes(data)
        try:
            behaviour.serve(h, req)
            if req.outcome == "open":
                req.outcome = "done"
        except _Gone:
            req.outcome = "stopped" if self.stopping.is_set() else "client-gone"
            h.close_connection = True
        finally:
            req.t_end = time.monotonic()

    def stop(self, timeout=5.0):
        """End every connection and join every thread; raise if one survives."""
        if self.stopping.is_set() and not self._loop.is_alive():
            return
        self.stopping.set()
        self._httpd.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        deadline = time.monotonic() + timeout
        self._loop.join(max(0.0, deadline - time.monotonic()))
        for t in list(self._threads):
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()] + ([self._loop] if self._loop.is_alive() else [])
        if alive:
            raise RuntimeError(f"hostile server: {len(alive)} thread(s) still running after stop()")


def random_bytes(n):
    return os.urandom(n)
