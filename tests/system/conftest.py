"""Shared fixtures of ward's system tests (pytest 7, /usr/bin/python3).

Fixtures (names are stable; other test files rely on them):

``ward_bin`` (session)
    Path of the built ``ward`` binary: ``$WARD_BUILD/cli/ward``, WARD_BUILD
    defaulting to ``<repo>/build``. A missing binary FAILS the test with the
    build command to run; it never skips.
``ward`` (function)
    ``ward(*args, timeout=60, cwd=None)`` runs ``ward_bin`` with ``args`` and
    returns the ``subprocess.CompletedProcess`` (text mode, stdout/stderr
    captured). It does not check the exit code: tests assert it.
``http_server`` (function)
    Factory: ``http_server(root)`` returns a started
    ``httpserver.LoopbackHTTPServer`` serving directory ``root`` on
    127.0.0.1; every server made is stopped when the test ends.
``tmp_dirs`` (function)
    Factory: ``tmp_dirs("name")`` returns a new empty directory
    ``<tmp_path>/name`` (a pathlib.Path), for the many directories a TUF test
    needs (repository, client metadata, download target).
``npm_js`` (session)
    Path of ``tests/system/js`` with its pinned npm dependencies installed in
    ``node_modules`` (``npm ci``, falling back to ``npm install``), done once
    per session and only when missing or not the pinned versions. If npm fails, every test that uses
    this fixture FAILS with npm's output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
JS_DIR = HERE / "js"

sys.path.insert(0, str(HERE))

from httpserver import LoopbackHTTPServer  # noqa: E402


def _ward_build_dir() -> Path:
    return Path(os.environ.get("WARD_BUILD", str(REPO_ROOT / "build")))


@pytest.fixture(scope="session")
def ward_bin() -> Path:
    path = _ward_build_dir() / "cli" / "ward"
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"ward binary not found at {path}: build it first "
            f"(meson setup {path.parent.parent} && ninja -C {path.parent.parent} cli/ward), "
            f"or point WARD_BUILD at a build directory",
            pytrace=False,
        )
    return path


@pytest.fixture
def ward(ward_bin):
    def run(*args, timeout=60, cwd=None, input=None):
        return subprocess.run(
            [str(ward_bin), *[str(a) for a in args]],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    return run


@pytest.fixture
def http_server():
    servers = []

    def make(root) -> LoopbackHTTPServer:
        srv = LoopbackHTTPServer(root).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def tmp_dirs(tmp_path):
    def make(name: str) -> Path:
        d = tmp_path / name
        d.mkdir(parents=True, exist_ok=False)
        return d

    return make


def _npm_install(js_dir: Path) -> tuple[bool, str]:
    """Install js_dir's locked dependencies; return (ok, combined output)."""
    npm = shutil.which("npm")
    if npm is None:
        return False, "npm is not installed (apt-get install npm, or nodejs from its vendor)"
    log = []
    attempts = []
    if (js_dir / "package-lock.json").is_file():
        attempts.append([npm, "ci", "--no-audit", "--no-fund"])
    attempts.append([npm, "install", "--no-audit", "--no-fund"])
    for cmd in attempts:
        try:
            p = subprocess.run(
                cmd, cwd=js_dir, capture_output=True, text=True, timeout=600,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as e:
            log.append(f"$ {' '.join(cmd)}\ntimed out after {e.timeout}s")
            continue
        log.append(f"$ {' '.join(cmd)}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}")
        if p.returncode == 0:
            return True, "\n".join(log)
    return False, "\n".join(log)


def _js_deps_present(js_dir: Path) -> bool:
    """True when node_modules holds exactly the versions package.json pins."""
    import json

    pins = json.loads((js_dir / "package.json").read_text()).get("dependencies", {})
    for name, version in pins.items():
        manifest = js_dir / "node_modules" / name / "package.json"
        try:
            if json.loads(manifest.read_text()).get("version") != version:
                return False
        except (OSError, ValueError):
            return False
    return bool(pins)


@pytest.fixture(scope="session")
def npm_js() -> Path:
    if not _js_deps_present(JS_DIR):
        ok, out = _npm_install(JS_DIR)
        if not ok or not _js_deps_present(JS_DIR):
            pytest.fail(f"npm could not install tests/system/js dependencies:\n{out}",
                        pytrace=False)
    if shutil.which("node") is None:
        pytest.fail("node is not installed", pytrace=False)
    return JS_DIR
