"""Shared helpers for the bench scripts: timing, medians, tables, servers, projects."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
PEERS = BENCH / "peers"
LOADGEN = BENCH / "loadgen.py"
PY = sys.executable
# Clients and peer tools (uvloop, cookiecutter, py-spy) have their own venv: bench/requirements.txt
BENCH_VENV = Path(os.environ.get("BENCH_VENV", BENCH / ".venv"))
CLIENT_PY = str(BENCH_VENV / "bin" / "python") if (BENCH_VENV / "bin" / "python").exists() else PY

# Every answer on: the figure "new with every module on" and the projects the servers run.
ALL_ON = {
    "project_name": "Bench App",
    "project_slug": "bench_app",
    "description": "A Tornado web application",
    "author_name": "Bench",
    "port": 8888,
    "websocket": True,
    "tcp_echo": True,
    "tcp_port": 8889,
    "auth_providers": ["google", "github", "facebook", "twitter", "oidc"],
    "docker": True,
    "ci": "github",
    "git_init": True,
}

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


# For the servers' benches: which loop the generated app (its --event_loop) and a peer run on.
EVENT_LOOP_ARG = (
    "--event_loop",
    {"choices": ["uvloop", "asyncio"], "default": "uvloop", "help": "the servers' event loop"},
)


def parse_args(doc: str, extra: Sequence[tuple[str, dict]] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves the script works")
    parser.add_argument("--runs", type=int, default=None, help="repetitions per figure")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    return parser.parse_args()


def tool(name: str) -> str | None:
    """A console script: the running environment, then the bench venv, then PATH."""
    for folder in (Path(PY).parent, BENCH_VENV / "bin"):
        if (folder / name).is_file():
            return str(folder / name)
    return shutil.which(name)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (what the smoke test and README look for)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(headers) + " |")
    print("| " + " | ".join("---" for _ in headers) + " |")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()


def note(text: str) -> None:
    print(f"- {text}", flush=True)


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPU ({model}), Python {sys.version.split()[0]}, {sys.platform}; "
        f"load average before the run {load} (other work on the machine skews figures)"
    )


def raise_nofile() -> int:
    """Soft open-files limit up to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(core: int | None) -> list[str]:
    """taskset prefix so server and client each get their own core (when there are 2+)."""
    if core is not None and (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core % (os.cpu_count() or 1))]
    return []


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_port(host: str, port: int, proc: subprocess.Popen | None, timeout: float) -> float:
    """Poll until ``port`` accepts; return when it did (perf_counter)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if port_open(host, port):
            return time.perf_counter()
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before port {port} opened")
        time.sleep(0.002)
    raise TimeoutError(f"port {port} did not open within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session, with its whole group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def spawn(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    log: Path | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None,
) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=stdin,
        stdout=stdout if stdout is not None else out,
        stderr=out,
        start_new_session=True,
    )


@contextlib.contextmanager
def server(
    cmd: Sequence[str],
    port: int,
    *,
    cwd: Path | None = None,
    env: dict | None = None,
    core: int | None = 0,
    log: Path | None = None,
    timeout: float = 20,
    host: str = "127.0.0.1",
) -> Iterator[subprocess.Popen]:
    """Start a server pinned to ``core``, wait for its port, always stop it."""
    proc = spawn([*pin(core), *cmd], cwd=cwd, env=env, log=log)
    try:
        wait_port(host, port, proc, timeout)
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def redis_server(work: Path) -> Iterator[str]:
    """A private redis-server (free port, a folder in ``work``, nothing saved): its URL.

    Yields "" when redis-server is not installed.
    """
    program = shutil.which("redis-server")
    if program is None:
        note("no redis-server on PATH (apt-get install redis-server): Redis figures left out")
        yield ""
        return
    port = free_port()
    folder = work / f"redis-{port}"
    folder.mkdir()
    cmd = [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    proc = spawn([*cmd, "--save", "", "--appendonly", "no"], log=work / "redis.log")
    try:
        wait_port("127.0.0.1", port, proc, 10)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)


def server_pid(proc: subprocess.Popen) -> int:
    """taskset execs the command, so the pid is the server's own."""
    return proc.pid


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cli_env(home: Path) -> dict[str, str]:
    """Run the checkout's generator (not whatever is installed) with its own HOME."""
    return {
        "PYTHONPATH": str(REPO / "generator"),
        "HOME": str(home),
        "NO_COLOR": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        **GIT_IDENTITY,
    }


def run(
    cmd: Sequence[str],
    *,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(cmd),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    if check and done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}{done.stderr}")
    return done


def timed(cmd: Sequence[str], **kwargs) -> float:
    start = time.perf_counter()
    run(cmd, **kwargs)
    return time.perf_counter() - start


def write_answers(path: Path, answers: dict) -> Path:
    path.write_text(json.dumps(answers))  # JSON is YAML: no PyYAML needed here
    return path


def generate(dest: Path, home: Path, answers: dict | None = None) -> Path:
    """Render a project with the checkout's CLI, as a user would."""
    answers_file = write_answers(dest.parent / f"{dest.name}-answers.yml", answers or ALL_ON)
    run(
        [PY, "-m", "tornado_scaffold", "new", str(dest), "--answers-file", str(answers_file)],
        env=cli_env(home),
    )
    return dest


@contextlib.contextmanager
def scratch(prefix: str = "bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def app_options(project: Path) -> str:
    """``python app.py --help`` of a generated project (tornado.options prints to stderr)."""
    done = run([PY, "app.py", "--help"], cwd=project, check=False, timeout=30)
    return (done.stdout + done.stderr).replace("_", "-")  # help shows --tcp-port for tcp_port


def has_option(options: str, name: str) -> bool:
    return f"--{name.replace('_', '-')} " in options


def loadgen(args: Sequence[str], core: int | None = 1, timeout: float = 120) -> dict:
    """Run the load client pinned to the other core; it prints one JSON object."""
    done = run([*pin(core), CLIENT_PY, str(LOADGEN), *args], timeout=timeout)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"
