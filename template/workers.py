"""Pre-fork workers: several processes serving one port, started and stopped together.

Each worker runs its own event loop and binds the port with SO_REUSEPORT, so the kernel
spreads connections across them. The parent only supervises: it forwards SIGTERM and
SIGINT to every worker, restarts a worker that stops without being asked to (it crashed, or
something sent it SIGTERM on its own), and exits once all have stopped. Each worker's log
lines start with "worker N:", so that a person can tell them apart.

A worker whose parent is gone stops too (Linux): killed outright (``kill -9``, the
out-of-memory killer), the parent cannot forward a signal, and its workers would serve on
unsupervised, holding the port the next start needs. The kernel sends them SIGTERM instead
(``prctl(PR_SET_PDEATHSIG)``), and they stop as they do when told to.

The parent never blocks in ``os.wait()``: a signal that lands after Python last checked for
signals and before the call would be noted but not acted on until some worker exited, and
a stop would be lost (seen under load, for a stop sent just after a restart). It
sleeps in ``select()`` on a pipe instead, which Python's signal handling writes a byte to
(``signal.set_wakeup_fd``), and SIGCHLD tells it that a worker has ended.
"""

import collections
import contextlib
import ctypes
import logging
import os
import select
import signal
import sys
import time
from typing import Any

import tornado.process

log = logging.getLogger(__name__)
MAX_RESTARTS = 10  # restarts within RESTART_WINDOW seconds before the parent gives up
RESTART_WINDOW = 60.0
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent ends (Linux)


def worker_count(processes: int, debug: bool) -> int:
    """How many processes ``--processes`` asks for; ValueError when it cannot be."""
    if processes == 1:
        return 1
    if processes < 0:
        raise ValueError("--processes must be 0 (one per CPU core) or a positive number")
    if debug:
        raise ValueError("--processes cannot be combined with --debug: autoreload needs 1 process")
    if not hasattr(os, "fork"):
        raise ValueError("--processes needs os.fork, which this platform lacks: use --processes=1")
    return processes or tornado.process.cpu_count()


def how_it_ended(code: int) -> str:
    """``os.waitstatus_to_exitcode()`` in words: "exited with 3", "was killed by SIGKILL"."""
    if code >= 0:
        return f"exited with {code}"
    try:
        return f"was killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"was killed by signal {-code}"


def name_log_lines(prefix: str) -> None:
    """Start every log message of this process with ``prefix``, whatever its handler."""
    make_record = logging.getLogRecordFactory()

    def named_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.msg = f"{prefix}{record.msg}"
        return record

    logging.setLogRecordFactory(named_record)


def stop_when_orphaned(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when ``parent`` (its supervisor) ends, however
    it ends. Linux only: elsewhere a worker whose parent was killed runs until stopped."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        log.warning("Cannot ask to stop with the parent: %s", os.strerror(ctypes.get_errno()))
    elif os.getppid() != parent:  # it ended before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def fork_workers(count: int) -> int:
    """Fork ``count`` workers; returns the worker's number (0..count-1) in each worker.

    The parent never returns: it supervises the workers, then exits with status 0 when
    they stopped cleanly after a signal, 2 when one could not start, 1 otherwise.
    """
    workers: dict[int, int] = {}  # pid -> worker number
    supervisor = os.getpid()
    stopping = False
    wake_read, wake_write = os.pipe()  # a byte per signal received: see the module's comment
    for fd in (wake_read, wake_write):
        os.set_blocking(fd, False)

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(pid, signum)

    def start(number: int) -> bool:
        # A stop signal is held back until the new worker is in ``workers``: forwarded any
        # earlier, it would miss the worker, which would then run on alone.
        stop_signals = {signal.SIGTERM, signal.SIGINT}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            pid = os.fork()
            if pid == 0:  # the worker: leave signals to its event loop
                signal.set_wakeup_fd(-1)
                os.close(wake_read)
                os.close(wake_write)
                for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(signum, signal.SIG_DFL)
                name_log_lines(f"worker {number}: ")
                stop_when_orphaned(supervisor)
                return True
            workers[pid] = number
            return False
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)

    def next_ended() -> tuple[int, int]:
        """The pid and wait status of a worker that has ended, sleeping until there is one."""
        while True:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
            if pid:
                return pid, wait_status
            select.select([wake_read], [], [])  # until a signal: SIGCHLD, or a stop
            with contextlib.suppress(BlockingIOError):
                os.read(wake_read, 512)

    # Installed before forking, so a signal that arrives in between is not lost.
    signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)  # full: a wake-up is due anyway
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that it writes the byte
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for number in range(count):
        if stopping:  # a stop signal during start-up: start no more workers
            break
        if start(number):
            return number
    log.info("Started %d worker processes", len(workers))

    crashes: collections.deque[float] = collections.deque(maxlen=MAX_RESTARTS + 1)
    status = 0
    while workers:
        pid, wait_status = next_ended()
        number = workers.pop(pid, None)
        if number is None:
            continue
        code = os.waitstatus_to_exitcode(wait_status)
        if stopping:  # killed by the forwarded signal before its loop took over is clean too
            clean = code in (0, -signal.SIGTERM, -signal.SIGINT)
            status = status or (0 if clean else 1)
            continue
        if code == 2:  # refused at start-up (its port is taken...): a restart would fail alike
            log.error("Worker %d could not start: stopping all workers", number)
            forward(signal.SIGTERM, None)
            status = 2
            continue
        crashes.append(time.monotonic())
        if len(crashes) > MAX_RESTARTS and crashes[-1] - crashes[0] < RESTART_WINDOW:
            log.error(
                "Worker %d keeps stopping (it %s): stopping all workers", number, how_it_ended(code)
            )
            forward(signal.SIGTERM, None)
            status = 1
            continue
        log.warning("Worker %d (pid %d) %s: restarting it", number, pid, how_it_ended(code))
        if start(number):
            return number
    sys.exit(status)
