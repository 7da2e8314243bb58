"""Shared helpers: run the CLI as a user would, render variants, boot generated apps."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "generator" / "tornado_scaffold"

# CI machines may have no git identity; tests commit in generated projects.
for _var, _value in {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}.items():
    os.environ.setdefault(_var, _value)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty HOME shared by the session: a fresh machine with no template cache."""
    return tmp_path_factory.mktemp("home")


def run_cli(
    *args: str | Path,
    home: Path,
    cwd: Path | None = None,
    pythonpath: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tornado_scaffold ARGS`` with no terminal on stdin."""
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "tornado_scaffold", *map(str, args)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def render(dest: Path, home: Path, **answers: object) -> Path:
    """Generate a project with ``new --defaults`` and the given answers."""
    data = []
    for key, value in answers.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        data += ["--data", f"{key}={value}"]
    done = run_cli("new", dest, "--defaults", *data, home=home)
    assert done.returncode == 0, done.stderr
    return dest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"app exited with {process.returncode}:\n{process.stderr.read()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not open within {timeout} s")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def http_get(url: str, follow: bool = True) -> Response:
    """GET ``url`` like a browser; redirects are returned, not followed, when ``follow`` is off."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as reply:
            return Response(reply.status, dict(reply.headers), reply.read().decode())
    except urllib.error.HTTPError as error:
        with error:
            return Response(error.code, dict(error.headers), error.read().decode())


@dataclass
class RunningApp:
    process: subprocess.Popen[str]
    port: int
    tcp_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM the app and return its exit code; fail if it does not stop in time."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"app did not exit within {timeout} s of SIGTERM") from None


@contextlib.contextmanager
def running_app(
    project: Path,
    *args: str,
    env: dict[str, str] | None = None,
    command: tuple[str | Path, ...] = (sys.executable, "app.py"),
) -> Iterator[RunningApp]:
    """Start ``python app.py`` (or ``command``) in ``project`` on free ports; always stop it."""
    port, tcp_port = free_port(), free_port()
    argv = [*command, f"--port={port}", *args]
    if (project / "echo_server.py").exists():
        argv.append(f"--tcp_port={tcp_port}")
    process = subprocess.Popen(
        argv,
        cwd=project,
        env={**os.environ, "COOKIE_SECRET": "test-secret", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    app = RunningApp(process, port, tcp_port)
    try:
        wait_for_port(port, process)
        if (project / "echo_server.py").exists():
            wait_for_port(tcp_port, process)
        yield app
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its content, for before/after comparisons."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def fake_release(
    base: Path, version: str, mutate=None, *, bundle_from: Path | None = None, record: bool = False
) -> Path:
    """A copy of the package as another release would install it; returns its PYTHONPATH.

    ``mutate(template_root)`` may change its template (copier.yml and template/).
    ``bundle_from`` (another fake release) provides the earlier history; ``record`` adds
    this release to it, as the release process does.
    """
    site = base / f"release-{version}"
    package = site / "tornado_scaffold"
    shutil.copytree(
        PACKAGE,
        package,
        ignore=shutil.ignore_patterns("__pycache__", "_template", "history.bundle"),
    )
    (package / "_template").mkdir()
    shutil.copy2(REPO / "copier.yml", package / "_template" / "copier.yml")
    shutil.copytree(
        REPO / "template",
        package / "_template" / "template",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    init = package / "__init__.py"
    init.write_text(
        re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text())
    )
    if mutate is not None:
        mutate(package / "_template")
    if bundle_from is not None:
        shutil.copy2(
            bundle_from / "tornado_scaffold" / "history.bundle", package / "history.bundle"
        )
    if record:
        done = subprocess.run(
            [sys.executable, "-m", "tornado_scaffold.history", "record"],
            env={**os.environ, "PYTHONPATH": str(site)},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    return site
