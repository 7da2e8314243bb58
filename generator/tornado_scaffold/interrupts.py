"""Stopping cleanly on Ctrl-C, SIGTERM and SIGHUP: no scratch folder may outlive a command.

The CLI turns each of these signals into an ``Interrupted`` exception, so every
``finally`` and ``with`` block runs. What remains is the moment between creating a
folder and noting it for clean-up: ``scratch_folder`` defers signals across it.

An exception raised inside a ``__del__`` method or a weakref callback is printed and
dropped by Python: a signal arriving there is only noted, and ``checkpoint()``, called
where a command commits to its result, raises it. So no interrupt is ever lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
import types
import weakref
from collections.abc import Iterator
from pathlib import Path

from tornado_scaffold.errors import Interrupted

SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


received: int | None = None  # the signal that interrupted this process, once one has


def install() -> None:
    """Make the signals raise Interrupted (the CLI's exit code is then 128 + signal)."""
    global received
    received = None
    for signum in SIGNALS:
        signal.signal(signum, _interrupt)


def ignore() -> None:
    """From now on the signals change nothing (the command has finished)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def checkpoint() -> None:
    """Raise the interrupt that arrived where it could not be raised (see above)."""
    if received is not None:
        raise Interrupted(received)


def _interrupt(signum: int, frame: types.FrameType | None) -> None:
    """Children (git, run by Copier or by us) are waited for first: one still writing
    into a scratch folder would leave files behind once it was removed. Later signals
    are ignored so that the clean-up runs to its end."""
    global received
    ignore()
    received = signum
    # A terminal that closed fails prompt_toolkit's clean-up inside asyncio.run, which
    # would log it: the one line the CLI prints says what happened.
    logging.getLogger("asyncio").disabled = True
    deadline = time.monotonic() + 10
    with contextlib.suppress(ChildProcessError):
        while time.monotonic() < deadline:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
    if not _in_finalizer(frame):
        raise Interrupted(signum)


def _in_finalizer(frame: types.FrameType | None) -> bool:
    """Whether Python would drop an exception raised here: a ``__del__`` method or a
    weakref callback (``weakref.finalize``) on the stack."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (
            code.co_name == "__call__" and code.co_filename == weakref.__file__
        ):
            return True
        frame = frame.f_back
    return False


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
