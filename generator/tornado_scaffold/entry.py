"""The ``tornado-scaffold`` program: signals are handled before anything slow is imported.

Importing the CLI (Typer, Rich...) takes a good part of a second. A Ctrl-C, SIGTERM or
SIGHUP in that time, or once the command has finished, must still end in one line and
128 + the signal, never a traceback: this module, which imports nothing slow, installs
the handlers first and reports an interrupt that arrives outside a command.
"""

from __future__ import annotations

import sys

from tornado_scaffold import interrupts


def main() -> None:
    interrupts.install()
    try:
        try:
            from tornado_scaffold.cli import run

            code = run()
        finally:
            interrupts.ignore()  # finished (or interrupted): a late signal changes nothing
    except KeyboardInterrupt as interrupt:
        sys.stderr.write("error: interrupted\n")
        code = getattr(interrupt, "exit_code", 130)
    sys.stdout.flush()
    sys.exit(code)
