"""The ``tornado-scaffold`` program: signals are handled before anything slow is imported.

Importing the CLI (Typer, Rich...) takes a good part of a second. A Ctrl-C, SIGTERM or
SIGHUP in that time, or once the command has finished, must still end in one line and
128 + the signal, never a traceback. This module imports nothing but ``signal`` and
``sys`` before its first handler is in place; ``interrupts`` takes over once imported,
and an interrupt that arrives outside a command is reported here.
"""

from __future__ import annotations

import signal
import sys

_SIGNALS = [
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
]


_received: int | None = None  # the signal that arrived while the program started


class _Started(KeyboardInterrupt):
    """A signal while the program starts: nothing has been done yet."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.exit_code = 128 + signum


def _starting(signum: int, frame: object) -> None:
    global _received
    _ignore()
    _received = signum
    raise _Started(signum)


def _ignore() -> None:
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def main() -> None:
    for signum in _SIGNALS:
        signal.signal(signum, _starting)
    try:
        try:
            from tornado_scaffold import interrupts

            interrupts.install()
            from tornado_scaffold.cli import run

            code = run()
        finally:
            _ignore()  # finished (or interrupted): a late signal changes nothing
    except KeyboardInterrupt as interrupt:
        sys.stderr.write("error: interrupted\n")
        code = getattr(interrupt, "exit_code", 130)
    except Exception:
        # Python 3.11 wraps an exception raised in a class's ``__set_name__`` in a
        # RuntimeError: a signal there, in an import, arrives in disguise.
        signum = _signal()
        if signum is None:
            raise
        sys.stderr.write("error: interrupted\n")
        code = 128 + signum
    sys.stdout.flush()
    sys.exit(code)


def _signal() -> int | None:
    """The signal this process received, if one did: whatever fails after it is its doing."""
    interrupts = sys.modules.get("tornado_scaffold.interrupts")
    return _received if interrupts is None or interrupts.received is None else interrupts.received
