"""Signals in the first second and at the edges of a command, in real processes: each one
ends in one ``error:`` line and 128 + the signal, never a traceback, never lost."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "NO_COLOR": "1"}


def _signal_after_import(
    module: str, signum: int, args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[int, list[str]]:
    """Run the CLI with ``-X importtime``; send ``signum`` as soon as ``module`` has been
    imported (Python reports each import as it ends). Returns the exit code and the
    stderr lines that are not import timings."""
    with subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "tornado_scaffold", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        lines = []
        try:
            for line in process.stderr:
                lines.append(line)
                if line.startswith("import time:") and line.split("|")[-1].strip() == module:
                    process.send_signal(signum)
                    break
            else:
                pytest.fail(f"{module} was never imported: {''.join(lines)[-2000:]}")
            lines += process.stderr.readlines()
            code = process.wait(60)
        finally:
            process.kill()
    said = [line.rstrip("\n") for line in lines if not line.startswith("import time:")]
    return code, [line for line in said if line.strip()]


@pytest.mark.parametrize(
    ("module", "signum"),
    [
        pytest.param("tempfile", signal.SIGINT, id="INT-importing-the-handlers"),
        pytest.param("typer._click.core", signal.SIGINT, id="INT-importing-typer"),
        pytest.param("typer", signal.SIGTERM, id="TERM-importing-the-cli"),
        pytest.param("typer", signal.SIGHUP, id="HUP-importing-the-cli"),
    ],
)
def test_a_signal_while_the_cli_starts_is_one_line(tmp_path, home, module, signum):
    code, said = _signal_after_import(module, signum, ["questions"], tmp_path, _env(home))

    assert code == 128 + signum, said
    assert said == ["error: interrupted"], said


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_a_signal_while_a_command_module_is_imported_is_one_line(tmp_path, home, signum):
    """`new` imports its module (answers, YAML...) inside its reporting: the line says
    what was (not) done, and nothing was written."""
    work = tmp_path / "work"
    work.mkdir()

    code, said = _signal_after_import(
        "yaml", signum, ["new", "app", "--defaults"], work, _env(home)
    )

    assert code == 128 + signum, said
    assert said == ["error: interrupted: nothing was written"], said
    assert list(work.iterdir()) == []


_SIGNAL_IN_SET_NAME = """
import signal, sys

class Descriptor:
    def __set_name__(self, owner, name):
        signal.raise_signal(signal.SIGINT)
        self.name = name  # the handler runs here, inside the class statement

class Finder:  # when {module} is first imported, a class is made first
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(Finder)
            type("Made", (), {{"attribute": Descriptor()}})

sys.meta_path.insert(0, Finder)
sys.argv = ["tornado-scaffold", *{args!r}]
from tornado_scaffold.entry import main
main()
"""


@pytest.mark.parametrize(
    ("module", "args", "line"),
    [
        pytest.param("typer", ["questions"], "error: interrupted", id="importing-the-cli"),
        pytest.param(
            "yaml",
            ["new", "app", "--defaults"],
            "error: interrupted: nothing was written",
            id="importing-a-command-module",
        ),
    ],
)
def test_a_signal_while_an_imported_class_is_made_is_one_line(tmp_path, home, module, args, line):
    """Seen once in CI: a Ctrl-C while a class that has a ``functools.cached_property``
    was made. Python 3.11 hands the interrupt on inside a RuntimeError."""
    script = _SIGNAL_IN_SET_NAME.format(module=module, args=args)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(home),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (done.returncode, done.stderr) == (130, line + "\n"), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_closing_the_terminal_at_a_prompt_exits_129(tmp_path, home):
    """The terminal is the process's controlling terminal, as in a terminal window: closing
    it sends SIGHUP and breaks every later read and write on it."""
    master, slave = pty.openpty()
    errors_read, errors_write = os.pipe()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    process = subprocess.Popen(
        [sys.executable, "-m", "tornado_scaffold", "new", str(tmp_path / "app")],
        stdin=slave,
        stdout=slave,
        stderr=errors_write,
        env={**_env(home), "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"},
        preexec_fn=controlling_terminal,
    )
    os.close(slave)
    os.close(errors_write)
    try:
        screen, deadline = b"", time.monotonic() + 60
        while b"project name" not in screen:  # the first prompt waits
            assert time.monotonic() < deadline, screen
            if select.select([master], [], [], 1)[0]:
                screen += os.read(master, 65536)
        os.close(master)  # the window closes
        code = process.wait(30)
        with os.fdopen(errors_read) as errors:
            said = errors.read()
    finally:
        process.kill()

    assert code == 128 + signal.SIGHUP, said
    assert said.strip().splitlines() == ["error: interrupted: nothing was written"], said
    assert list(tmp_path.iterdir()) == []


def test_a_signal_dropped_in_a_finalizer_is_raised_after_copier_returns(tmp_path):
    """Python drops an exception raised in ``__del__`` (or a weakref callback): Copier's
    objects are finalised while it runs, so a Ctrl-C there once let an update complete.
    The signal is noted there and raised when Copier returns."""
    script = textwrap.dedent(
        """
        import gc, os, signal, sys, weakref
        from tornado_scaffold import copier_adapter, interrupts
        from tornado_scaffold.errors import Interrupted

        interrupts.install()

        class Resource:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGINT)  # handled at the next instruction
                sum(range(1000))

        def render():
            Resource()  # finalised here, while "Copier" runs
            return "rendered"

        try:
            copier_adapter._run(render, {}, {})
        except Interrupted as interrupt:
            print("interrupted", interrupt.exit_code)
        else:
            print("completed")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO / "generator")},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.stdout.split() == ["interrupted", "130"], done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
