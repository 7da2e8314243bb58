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

import checks
import warm

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "generator" / "tornado_scaffold"

# Every render in a test process (new, update, the variants) compiles each Jinja source once
# (unless TORNADO_SCAFFOLD_NO_JINJA_CACHE=1: see there).
checks.cache_jinja_compilation()

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


def invoke(*args: str | Path, home: Path, input: str | None = None):
    """Run the CLI in this process (no Copier import per call), as ``run_cli`` would:
    HOME set to ``home`` (Copier expands ``~`` in the template source with it), no
    terminal on stdin. Returns Typer's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from tornado_scaffold.cli import app

    return CliRunner().invoke(
        app,
        [str(arg) for arg in args],
        input=input,
        env={"HOME": str(home), "NO_COLOR": "1"},
        catch_exceptions=False,
    )


def interrupt_when(
    ready, signum: int, *args: str, cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tornado_scaffold ARGS``; send ``signum`` as soon as ``ready()``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tornado_scaffold", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def render(dest: Path, home: Path, **answers: object) -> Path:
    """Generate a project with ``new --defaults`` and the given answers."""
    data = []
    for key, value in answers.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = str(value).lower()
        data += ["--data", f"{key}={value}"]
    done = invoke("new", dest, "--defaults", *data, home=home)
    assert done.exit_code == 0, done.stderr
    return dest


def _port_slice() -> Iterator[int]:
    """The ports this test process hands out: its own slice of 20000 up to the kernel's
    ephemeral range, which no other worker of this run uses (PYTEST_XDIST_WORKER)."""
    low, high = 20000, 32768
    with contextlib.suppress(OSError, ValueError):
        high = min(high, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]))
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    number = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % count
    size = (high - low) // count
    while True:
        yield from range(low + number * size, low + (number + 1) * size)


_PORTS = _port_slice()


def free_port() -> int:
    """A port that is free now and that no other test of this run will be handed.

    Not bind(("127.0.0.1", 0)): a port found that way and closed again may be handed to another
    worker before this test's app binds it, and that test then talks to the wrong app.
    """
    for port in _PORTS:
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port))
            return port
    raise AssertionError("unreachable: the slice of ports repeats")


def wait_for_port(port: int, process: subprocess.Popen[str], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = process.output() if isinstance(process, warm.Process) else process.stderr.read()
            raise AssertionError(f"app exited with {process.returncode}:\n{said}")
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
    forked: bool = False,
) -> Iterator[RunningApp]:
    """Start ``python app.py`` (or ``command``) in ``project`` on free ports; always stop it.

    ``forked``: ``app.py`` run in a fork of the warm interpreter (tests/warm.py), which
    saves the start-up of a new interpreter where many projects are booted.
    """
    port, tcp_port = free_port(), free_port()
    argv = [*command, f"--port={port}", *args]
    if (project / "echo").is_dir():
        argv.append(f"--tcp_port={tcp_port}")
    extra_env = {"COOKIE_SECRET": "test-secret", **(env or {})}
    process: subprocess.Popen[str] | warm.Process
    if forked and warm.available() and list(command) == [sys.executable, "app.py"]:
        process = warm.Process(project, "app.py", argv[2:], extra_env)
    else:
        process = subprocess.Popen(
            argv,
            cwd=project,
            env={**os.environ, **extra_env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    app = RunningApp(process, port, tcp_port)
    try:
        wait_for_port(port, process)
        if (project / "echo").is_dir():
            wait_for_port(tcp_port, process)
        yield app
    finally:
        if process.poll() is None:
            # SIGTERM first: with --processes the parent stops its workers cleanly (killed,
            # it leaves that to the kernel: workers.py's PR_SET_PDEATHSIG, Linux only).
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if isinstance(process, warm.Process):
            process.communicate()  # removes its output file
        else:
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
    if record:  # as `python -m tornado_scaffold.release record` does for the repository
        from tornado_scaffold import history

        history.record(package / "history.bundle", package / "_template", version)
    return site


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium for a module's browser tests (browser_checks.chromium)."""
    from browser_checks import chromium

    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def axe() -> str:
    """axe-core's source, to evaluate in pages (browser_checks.axe_source)."""
    from browser_checks import axe_source

    return axe_source()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: three workers per core. The variant tests wait on sockets, sleeps and
    child processes much of their time: 162 s with 6 workers against 174 to 198 s with 4 on
    this project's 2-core machine (README, "How long")."""
    return 3 * (os.cpu_count() or 1)


# The longest tests (30 to 90 s each: a project with every module running its whole suite, the
# bench scripts, the README's commands in a new venv, installs and release updates), started
# first: xdist hands out tests in order, and one of them started last would run alone at the end
# while the other workers sit idle.
LONGEST_FIRST = (
    "tests/test_variants.py::test_every_module_on_the_asyncio_loop",
    "tests/test_bench_smoke.py::",
    "tests/test_base_project.py::test_the_readme_commands",
    "tests/test_installed.py::",
    "tests/test_variants.py::test_database_variant",
    "tests/test_release_upgrade.py::",
    "tests/test_properties.py::test_the_nastiest",
    "tests/test_chat_browser.py::",
)


def longest_first(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quick tier: ``pytest -m unit`` runs the in-process tests of the generator's own
    modules (files named ``test_*_unit.py``), which start no process and no server. Then the
    longest tests go first (`LONGEST_FIRST`); the others keep their order."""
    for item in items:
        if item.path.stem.endswith("_unit"):
            item.add_marker(pytest.mark.unit)
    items.sort(key=longest_first)  # stable
