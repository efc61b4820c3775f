"""Throwaway PostgreSQL servers for ward's system tests.

ward-server runs on SQLite or PostgreSQL (ARCHITECTURE.md, "Storage and
scale"); the system tests run the PostgreSQL variant against a server of
their own, started here and deleted afterwards. Nothing touches a system
cluster, a fixed port or systemd: ``scripts/pg-throwaway`` (the one
implementation, shared with the C unit tests) runs initdb into a temporary
directory under /tmp, starts the server on 127.0.0.1 at a free port with its
unix socket inside that directory (as the ``postgres`` system user when run as
root: PostgreSQL refuses to run as root), and creates database ``ward``.

Fixtures (use them from a test module with
``from pg import pg_server, pg_uri  # noqa: F401``, or list ``"pg"`` in
conftest.py's ``pytest_plugins``):

``pg_server`` (session)
    A started ``ThrowawayPostgres``; stopped and deleted when the session
    ends. If PostgreSQL is not installed or will not start, every test using
    it FAILS with the reason (it never skips).
``pg_uri`` (function)
    ``"postgresql://ward@127.0.0.1:PORT/ward"`` for a database ``ward`` that
    is dropped and created afresh for each test.

Without pytest::

    with ThrowawayPostgres() as pg:
        print(pg.uri)
        pg.psql("SELECT 1")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO_ROOT / "scripts" / "pg-throwaway"
PSQL = shutil.which("psql") or "/usr/bin/psql"


class PostgresError(RuntimeError):
    """The throwaway server could not be started, stopped or queried."""


class ThrowawayPostgres:
    """One disposable PostgreSQL server: ``start()``, ``uri``, ``psql()``, ``stop()``."""

    def __init__(self, dbname: str = "ward"):
        self.dbname = dbname
        self.dir: Path | None = None  # the server's directory while it runs
        self.uri: str | None = None   # postgresql://ward@127.0.0.1:PORT/ward
        self.user: str | None = None
        self.port: int | None = None

    def start(self) -> str:
        # /tmp, not pytest's tmp_path: the postgres user must be able to reach it
        self.dir = Path(tempfile.mkdtemp(prefix="ward-pg-", dir="/tmp"))
        proc = subprocess.run(
            ["sh", str(SCRIPT), "start", str(self.dir)],
            capture_output=True, text=True, timeout=180,
        )
        if proc.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            raise PostgresError(
                "cannot start a throwaway PostgreSQL server (scripts/pg-throwaway start): "
                + (proc.stderr.strip() or proc.stdout.strip() or "exit %d" % proc.returncode)
            )
        self.uri = proc.stdout.strip().splitlines()[-1]
        # postgresql://USER@127.0.0.1:PORT/ward
        rest = self.uri.split("://", 1)[1]
        self.user, hostport = rest.split("/", 1)[0].split("@", 1)
        self.port = int(hostport.rsplit(":", 1)[1])
        return self.uri

    def stop(self) -> None:
        if self.dir is None:
            return
        proc = subprocess.run(
            ["sh", str(SCRIPT), "stop", str(self.dir)],
            capture_output=True, text=True, timeout=120,
        )
        self.dir, self.uri = None, None
        if proc.returncode != 0:
            raise PostgresError("cannot stop the throwaway PostgreSQL server: " + proc.stderr.strip())

    def uri_for(self, dbname: str) -> str:
        """URI of another database on this server."""
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, dbname)

    def psql(self, sql: str, dbname: str | None = None) -> str:
        """Run SQL with psql (unaligned, tuples only); return its stdout. Fails on any error."""
        if self.uri is None:
            raise PostgresError("the throwaway PostgreSQL server is not running")
        proc = subprocess.run(
            [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-d", self.uri_for(dbname or self.dbname), "-c", sql],
            capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PGCONNECT_TIMEOUT="10"),
        )
        if proc.returncode != 0:
            raise PostgresError("psql: %s: %s" % (sql, proc.stderr.strip()))
        return proc.stdout

    def reset_database(self) -> str:
        """Drop database ``dbname`` (closing its connections) and create it empty; return its URI."""
        self.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname, dbname="postgres")
        self.psql("CREATE DATABASE %s" % self.dbname, dbname="postgres")
        return self.uri_for(self.dbname)

    def __enter__(self) -> "ThrowawayPostgres":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def pg_server():
    server = ThrowawayPostgres()
    try:
        server.start()
    except (PostgresError, OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_uri(pg_server) -> str:
    try:
        return pg_server.reset_database()
    except (PostgresError, subprocess.TimeoutExpired) as e:
        pytest.fail(str(e), pytrace=False)
