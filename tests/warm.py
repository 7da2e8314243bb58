"""Generated projects' processes (their test suites, their apps) forked from one warm interpreter.

Every variant runs its project's tests as ``python -W error -m pytest`` and boots it as
``python app.py``. A fresh interpreter spends 0.2 to 0.3 s of CPU importing pytest, Tornado
and the libraries a project uses before it does anything, and the variant matrix would pay
that twice per variant. Instead each test worker keeps one interpreter (started with
``-W error``) that has imported them, and nothing of any project, and forks it per process:
the child changes into the project, puts it first on ``sys.path`` and runs
``runpy.run_module("pytest")`` or ``runpy.run_path("app.py")`` as ``__main__``, exactly what
``python -m pytest`` and ``python app.py`` run. Each child is a real process with its own
pid, sockets and signal handling, and every child starts from the same state.

``TORNADO_SCAFFOLD_COLD=1`` starts a fresh interpreter per process instead, to compare.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SERVER = r"""
import json, os, runpy, select, sys
os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
import pytest
import tornado.auth, tornado.httpclient, tornado.httpserver, tornado.options, tornado.process
import tornado.simple_httpclient, tornado.tcpclient, tornado.tcpserver, tornado.testing
import tornado.web, tornado.websocket
import _pytest.config, pdb, secrets, unittest.mock, xml.etree.ElementTree
for plugin in _pytest.config.default_plugins:  # what each run loads: import it once here
    __import__(f"_pytest.{plugin}")
for optional in ("tomllib", "uvloop", "jwt", "cryptography.hazmat.primitives.asymmetric.ec",
                 "redis.asyncio"):
    try:
        __import__(optional)
    except ImportError:
        pass


def child(run):
    out = os.open(run["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.setsid()  # like a process of its own: the test may signal it and its children
    os.chdir(run["cwd"])
    sys.path[0] = run["cwd"]
    os.environ.update(run["env"])
    sys.argv = [run["main"], *run["args"]]
    try:
        if run["main"] == "pytest":
            runpy.run_module("pytest", run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(run["main"], run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


pending = b""
while True:
    readable, _, _ = select.select([0], [], [], 0.01)
    if readable:
        data = os.read(0, 65536)
        if not data:
            break
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            pid = os.fork()
            if pid == 0:
                child(json.loads(line))
            os.write(1, json.dumps({"started": pid}).encode() + b"\n")
    while True:  # report every child that ended
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        code = os.waitstatus_to_exitcode(status)
        os.write(1, json.dumps({"ended": pid, "code": code}).encode() + b"\n")
"""


class _Warm:
    """The warm interpreter of this test worker, and what it has said so far."""

    def __init__(self) -> None:
        # The environment of a fresh process: none of this run's pytest settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-W", "error", "-c", _SERVER],
            env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        atexit.register(self.process.kill)
        self.pending = b""
        self.ended: dict[int, int] = {}

    def start(self, request: dict) -> int:
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        while True:
            message = self.next_message(30)
            if message is None:
                raise RuntimeError("the warm interpreter did not fork in 30 s")
            if "started" in message:
                return message["started"]

    def next_message(self, timeout: float) -> dict | None:
        """The next line it wrote (exits are kept in ``ended``); None after ``timeout``."""
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self.pending:
                if not selector.select(timeout):
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("the warm interpreter stopped")
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        message = json.loads(line)
        if "ended" in message:
            self.ended[message["ended"]] = message["code"]
        return message


_warm: _Warm | None = None


def _interpreter() -> _Warm:
    global _warm
    if _warm is None or _warm.process.poll() is not None:
        _warm = _Warm()
    return _warm


class Process:
    """A forked child with the parts of Popen's interface the tests use. Its standard output
    and error go to one file: ``communicate()`` returns (that text, "")."""

    def __init__(self, cwd: Path, main: str, args: list[str], env: dict[str, str]) -> None:
        self.returncode: int | None = None
        self.args = [main, *args]
        self._output = Path(tempfile.mkstemp(prefix="warm-", suffix=".txt")[1])
        self._warm = _interpreter()
        self.pid = self._warm.start(
            {"cwd": str(cwd), "main": main, "args": args, "env": env, "output": str(self._output)}
        )

    def poll(self) -> int | None:
        while self.returncode is None and self.pid not in self._warm.ended:
            if self._warm.next_message(0) is None:
                break
        if self.returncode is None and self.pid in self._warm.ended:
            self.returncode = self._warm.ended.pop(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = time.monotonic() + (3600 if timeout is None else timeout)
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._warm.next_message(min(left, 0.05))
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """Kill it and whatever it started (its own session: a Redis, a worker)."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def output(self) -> str:
        return self._output.read_text(errors="replace")

    def wait_while_printing(self, silence: float, timeout: float) -> int:
        """Wait as long as it keeps printing, up to ``timeout`` seconds: TimeoutExpired once
        it has printed nothing for ``silence`` seconds. A test run prints a mark per test,
        so silence is a stall however loaded the machine is, where a tight deadline on the
        whole run also fails a slow one; ``timeout`` bounds a run that hangs printing."""
        start = time.monotonic()
        size, since = -1, start
        while self.poll() is None:
            printed = self._output.stat().st_size
            if printed != size:
                size, since = printed, time.monotonic()
            elif time.monotonic() - since > silence:
                raise subprocess.TimeoutExpired(self.args, silence)
            if time.monotonic() - start > timeout:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._warm.next_message(0.05)
        return self.returncode

    def communicate(
        self, timeout: float | None = None, silence: float | None = None
    ) -> tuple[str, str]:
        """Its output once it ends, within ``timeout`` seconds; with ``silence`` too, only
        for as long as it goes on printing (wait_while_printing)."""
        try:
            if silence is None:
                self.wait(timeout)
            else:
                self.wait_while_printing(silence, 3600 if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.wait(30)
            raise
        text = self.output()
        self._output.unlink(missing_ok=True)
        return text, ""


def available() -> bool:
    return os.environ.get("TORNADO_SCAFFOLD_COLD") != "1" and hasattr(os, "fork")
