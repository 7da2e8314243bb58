"""Stopping cleanly on Ctrl-C, SIGTERM and SIGHUP: no scratch folder may outlive a command.

The CLI turns each of these signals into an ``Interrupted`` exception, so every
``finally`` and ``with`` block runs. What remains is the moment between creating a
folder and noting it for clean-up: ``scratch_folder`` defers signals across it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tornado_scaffold.errors import Interrupted

SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


def install() -> None:
    """Make the signals raise Interrupted (the CLI's exit code is then 128 + signal)."""
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    """Children (git, run by Copier or by us) are waited for first: one still writing
    into a scratch folder would leave files behind once it was removed. Later signals
    are ignored so that the clean-up runs to its end."""
    for other in SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    deadline = time.monotonic() + 10
    with contextlib.suppress(ChildProcessError):
        while time.monotonic() < deadline:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
    raise Interrupted(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Signals that arrive inside this block take effect at its end."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def scratch_folder(prefix: str, parent: Path | None = None) -> Iterator[Path]:
    """A new folder (in ``parent``, or the temporary folder), removed at the end whatever
    happens; its mode is 0700 as for any temporary folder."""
    folder: Path | None = None
    try:
        with deferred():  # created and noted as one step
            folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        yield folder
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
