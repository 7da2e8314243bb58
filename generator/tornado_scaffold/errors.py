"""The two ways a command stops early; the CLI turns either into one line and an exit code."""

from __future__ import annotations

import signal


class ScaffoldError(Exception):
    """A problem the user can fix; ``str(error)`` says what and how."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, SIGTERM or SIGHUP. A KeyboardInterrupt, so that code catching ``Exception``
    (Copier's included) lets it through and every ``finally`` and ``with`` cleans up."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
