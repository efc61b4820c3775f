"""A small threaded HTTP server on the loopback interface, for system tests.

It serves one directory read-only on 127.0.0.1 with a port the kernel picks,
records every request so that a test can assert which files a client fetched
(and which it did not), and honours single-range ``Range: bytes=...`` requests
(206 / 416) so that resumable downloads can be tested. It listens on
127.0.0.1 only and never contacts anything else.

Usage::

    from httpserver import LoopbackHTTPServer

    with LoopbackHTTPServer("/path/to/repo") as srv:       # started on entry
        url = srv.url                                       # "http://127.0.0.1:40123"
        ...run a client against url + "/metadata"...
        assert "/metadata/timestamp.json" in srv.paths()   # paths in request order
        assert srv.count("/targets/fw/app.bin") == 1
        srv.clear()                                         # forget the log so far
    # stopped on exit; srv.stop() does the same and may be called twice

In pytest, use the ``http_server`` factory fixture from ``conftest.py``
instead: ``srv = http_server(root)`` returns a started server that is stopped
when the test ends.

API (everything else is private):

``LoopbackHTTPServer(root)``
    ``root`` is the directory served; request paths are URL-decoded and
    resolved inside it (``..`` and symlinks out of it give 404).
``start()`` / ``stop()``
    Start serving in a daemon thread (returns self) / shut down and close the
    socket. ``stop()`` is idempotent. The object is also a context manager.
``url``, ``port``
    ``"http://127.0.0.1:<port>"`` with no trailing slash, and the port.
``requests()``
    A copy of the log: a list of ``Request(method, path, range, status)``,
    oldest first. ``path`` is the raw request path without the query string
    (still percent-encoded as the client sent it), ``range`` the ``Range``
    header or None, ``status`` the status code sent.
``paths()``
    ``[r.path for r in requests()]``.
``count(path)``
    How many requests were made for ``path``.
``clear()``
    Empty the log.
``set_response(path, status=200, body=b"", headers=None)``
    Answer requests for exactly ``path`` with this canned response instead of
    the file (for tests of clients facing a lying or failing server).
    ``clear_responses()`` removes all canned responses.

Only GET and HEAD are served; anything else gets 405.
"""

from __future__ import annotations

import collections
import http.server
import os
import re
import sys
import threading
import urllib.parse

__all__ = ["LoopbackHTTPServer", "Request"]

Request = collections.namedtuple("Request", "method path range status")

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "ward-test-httpd/1"
    protocol_version = "HTTP/1.1"

    # The owning LoopbackHTTPServer, set on the per-server subclass.
    owner: "LoopbackHTTPServer"

    def log_message(self, format, *args):  # noqa: A002 - base class signature
        pass  # the request log replaces stderr chatter

    def do_GET(self):
        self._serve(send_body=True)

    def do_HEAD(self):
        self._serve(send_body=False)

    def _other(self):
        self._send(405, b"method not allowed\n", {"Allow": "GET, HEAD"}, True)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _send(self, status, body, headers, send_body):
        self.owner._log(self.command, self._raw_path(), self.headers.get("Range"), status)
        self.send_response(status)
        hdrs = {"Content-Length": str(len(body))}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if send_body and body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    def _raw_path(self):
        return self.path.split("?", 1)[0].split("#", 1)[0]

    def _serve(self, send_body):
        raw = self._raw_path()
        canned = self.owner._canned(raw)
        if canned is not None:
            status, body, headers = canned
            self._send(status, body, headers, send_body)
            return
        fs_path = self.owner._resolve(raw)
        if fs_path is None:
            self._send(404, b"not found\n", {"Content-Type": "text/plain"}, send_body)
            return
        with open(fs_path, "rb") as f:
            data = f.read()
        size = len(data)
        rng = self.headers.get("Range")
        base = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
        if rng is not None:
            m = _RANGE_RE.match(rng.strip())
            if m is None:
                # Multiple ranges or another unit: ignoring Range is allowed
                # (RFC 9110 14.2), so send the whole representation.
                self._send(200, data, base, send_body)
                return
            first, last = m.group(1), m.group(2)
            if first == "" and last == "":
                self._send(200, data, base, send_body)
                return
            if first == "":  # suffix range: the last N bytes
                n = int(last)
                if n == 0:
                    start, end = size, size - 1
                else:
                    start, end = max(0, size - n), size - 1
            else:
                start = int(first)
                end = size - 1 if last == "" else min(int(last), size - 1)
                if last != "" and int(last) < start:
                    # syntactically invalid range: ignore it
                    self._send(200, data, base, send_body)
                    return
            if start >= size or end < start:
                hdrs = dict(base)
                hdrs["Content-Range"] = f"bytes */{size}"
                self._send(416, b"", hdrs, send_body)
                return
            hdrs = dict(base)
            hdrs["Content-Range"] = f"bytes {start}-{end}/{size}"
            self._send(206, data[start : end + 1], hdrs, send_body)
            return
        self._send(200, data, base, send_body)


class _ThreadingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that hangs up early (say, a TUF client refusing a file
        # longer than its signed length) is normal in these tests.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackHTTPServer:
    """Serve ``root`` on 127.0.0.1:<ephemeral port>; see the module docstring."""

    def __init__(self, root):
        self.root = os.path.realpath(os.fspath(root))
        if not os.path.isdir(self.root):
            raise ValueError(f"not a directory: {self.root}")
        self._lock = threading.Lock()
        self._log_entries: list[Request] = []
        self._responses: dict[str, tuple[int, bytes, dict]] = {}
        handler = type("_BoundHandler", (_Handler,), {"owner": self})
        self._httpd = _ThreadingServer(("127.0.0.1", 0), handler)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = None
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"httpserver:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=10)
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- request log -------------------------------------------------------
    def requests(self):
        with self._lock:
            return list(self._log_entries)

    def paths(self):
        return [r.path for r in self.requests()]

    def count(self, path):
        return sum(1 for r in self.requests() if r.path == path)

    def clear(self):
        with self._lock:
            self._log_entries.clear()

    # -- canned responses ----------------------------------------------------
    def set_response(self, path, status=200, body=b"", headers=None):
        with self._lock:
            self._responses[path] = (int(status), bytes(body), dict(headers or {}))

    def clear_responses(self):
        with self._lock:
            self._responses.clear()

    # -- used by the handler -----------------------------------------------
    def _log(self, method, path, rng, status):
        with self._lock:
            self._log_entries.append(Request(method, path, rng, status))

    def _canned(self, path):
        with self._lock:
            return self._responses.get(path)

    def _resolve(self, raw_path):
        rel = urllib.parse.unquote(raw_path).lstrip("/")
        if "\0" in rel:
            return None
        full = os.path.realpath(os.path.join(self.root, rel))
        if full != self.root and not full.startswith(self.root + os.sep):
            return None
        if not os.path.isfile(full):
            return None
        return full
