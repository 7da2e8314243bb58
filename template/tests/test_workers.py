"""--processes: how many workers, and the combinations that are refused."""

import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time

import pytest
import tornado.process

from workers import fork_workers, how_it_ended, worker_count


def test_one_process_by_default():
    assert worker_count(1, debug=False) == 1
    assert worker_count(1, debug=True) == 1


def test_zero_means_one_per_core():
    assert worker_count(0, debug=False) == tornado.process.cpu_count()


@pytest.mark.parametrize(("processes", "debug"), [(2, True), (-1, False)])
def test_refused_naming_the_option(processes, debug):
    with pytest.raises(ValueError, match="^--processes"):
        worker_count(processes, debug=debug)


def test_refused_where_processes_cannot_fork(monkeypatch):
    monkeypatch.delattr(os, "fork")
    with pytest.raises(ValueError, match="needs os.fork"):
        worker_count(2, debug=False)


SUPERVISED = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)  # the signals the parent handles

# A worker of the scripts below: it blocks SIGTERM and waits for it with sigwait(), since a
# handler could miss one that lands just before a sleep starts (the race workers.py avoids).
WORKER = (
    "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})\n"
    "logging.getLogger('app').info('serving as pid %d', os.getpid())\n"
    "os.write(1, f'ready {number} {os.getpid()}\\n'.encode())  # one write: a shared pipe\n"
    "signal.sigwait({signal.SIGTERM})\n"
    "sys.exit(0)\n"
)


@contextlib.contextmanager
def supervised(tmp_path, script: str):
    """Run ``script`` (which calls fork_workers) as a parent with workers; yields the parent,
    whose stdout lines are read with ``line_of``; every process is ended after."""
    path = tmp_path / "supervised.py"
    path.write_text(
        "import logging, os, signal, sys\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "from workers import fork_workers\n" + script + WORKER
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen(
        [sys.executable, str(path)],
        env={**os.environ, "PYTHONPATH": root},
        start_new_session=True,  # its own process group: ended below with every worker
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in parent.stdout])
    reader.start()
    parent.line_of = lambda: lines.get(timeout=30).split()  # a hang fails, not blocks
    try:
        yield parent
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)  # workers left behind
        reader.join()
        parent.stdout.close()
        parent.stderr.close()


def stopped(parent: subprocess.Popen[str], pids: list[int]) -> int:
    """The parent's exit status once SIGTERM stopped it; if it does not, who is left, and
    where each waits, with its signal masks (Linux /proc)."""
    parent.send_signal(signal.SIGTERM)
    try:
        return parent.wait(30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"not stopped in 30 s: {where([parent.pid, *pids])}") from None


def where(pids: list[int]) -> str:
    said = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as status, open(f"/proc/{pid}/wchan") as wchan:
                masks = [line for line in status if line.startswith(("State", "Sig", "ShdPnd"))]
                said.append(f"{pid} in {wchan.read()}: {' '.join(' '.join(masks).split())}")
        except OSError:
            said.append(f"{pid} gone")
    return "; ".join(said)


def test_a_crashed_worker_is_restarted_and_sigterm_stops_all(tmp_path):
    """Fork for real: worker 0 crashes once, is restarted, then SIGTERM stops everything."""
    marker = tmp_path / "crashed-once"
    script = (
        "number = fork_workers(2)\n"
        f"if number == 0 and not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    os._exit(3)\n"
    )
    with supervised(tmp_path, script) as parent:
        ready = dict(parent.line_of()[1:] for _ in range(2))
        assert sorted(ready) == ["0", "1"]  # worker 0 came back after its crash
        assert marker.exists()
        assert stopped(parent, [int(pid) for pid in ready.values()]) == 0


def test_a_worker_sent_sigterm_on_its_own_is_replaced_and_logs_carry_worker_ids(tmp_path):
    """Fork for real: SIGTERM to one worker (not the parent) stops it cleanly, exit 0, as the
    app's workers do; the parent starts a new one in its place and says so. Then SIGTERM to
    the parent, just after that restart, stops them all."""
    with supervised(tmp_path, "number = fork_workers(2)\n") as parent:
        ready = dict(parent.line_of()[1:] for _ in range(2))
        assert sorted(ready) == ["0", "1"]
        os.kill(int(ready["1"]), signal.SIGTERM)
        line = parent.line_of()
        assert line[:2] == ["ready", "1"] and line[2] != ready["1"]  # a new worker 1
        assert stopped(parent, [int(ready["0"]), int(line[2])]) == 0
        log = parent.stderr.read().splitlines()
    assert f"Worker 1 (pid {ready['1']}) exited with 0: restarting it" in log
    for number, pid in [("0", ready["0"]), ("1", ready["1"]), ("1", line[2])]:
        assert f"worker {number}: serving as pid {pid}" in log


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (not ended, nor a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_workers_stop_when_the_parent_is_killed(tmp_path):
    """Fork for real, then SIGKILL the parent (kill -9, the out-of-memory killer): its workers
    must not serve on unsupervised, holding the port. The kernel sends each SIGTERM."""
    with supervised(tmp_path, "number = fork_workers(2)\n") as parent:
        pids = [int(pid) for _, pid in (parent.line_of()[1:] for _ in range(2))]
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while left := [pid for pid in pids if running(pid)]:
            assert time.monotonic() < deadline, f"running 30 s after the parent: {where(left)}"
            time.sleep(0.05)


def test_a_stop_signal_just_after_a_fork_reaches_the_new_worker(monkeypatch):
    """SIGTERM between fork() and the parent noting the new pid: the worker must get it too.

    The supervision logic alone, with fork/wait/kill replaced and the signal raised for real.
    """
    killed = []

    def fork():
        signal.raise_signal(signal.SIGTERM)  # before fork_workers knows the pid it returns
        return 101

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(os, "waitpid", lambda pid, options: (101, 0))
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(signal, "set_wakeup_fd", lambda *args, **kwargs: -1)
    # fork_workers installs its own handlers for real: put back this process's after.
    handlers = {signum: signal.getsignal(signum) for signum in SUPERVISED}
    try:
        with pytest.raises(SystemExit) as stopped:
            fork_workers(2)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert killed == [(101, signal.SIGTERM)]
    assert stopped.value.code == 0


def test_how_a_worker_ended_in_words():
    assert how_it_ended(0) == "exited with 0"
    assert how_it_ended(-signal.SIGKILL) == "was killed by SIGKILL"


def test_a_worker_that_cannot_start_stops_them_all_with_status_2(monkeypatch):
    """Exit status 2 means refused (e.g. its port is taken): restarting would fail alike.

    The supervision logic alone, with the process calls replaced: worker 1 exits with 2.
    """
    pids = iter([101, 102])
    exits = iter([(102, 2 << 8), (101, 0)])  # wait statuses: exit codes 2, then 0
    killed = []
    monkeypatch.setattr(os, "fork", lambda: next(pids))
    monkeypatch.setattr(os, "waitpid", lambda pid, options: next(exits))
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    monkeypatch.setattr(signal, "set_wakeup_fd", lambda *args, **kwargs: -1)
    with pytest.raises(SystemExit) as stopped:
        fork_workers(2)
    assert stopped.value.code == 2
    assert (101, signal.SIGTERM) in killed  # the other worker was told to stop


def test_a_stop_signal_just_before_the_parent_sleeps_still_wakes_it(monkeypatch):
    """A signal that lands after the parent looked for ended workers and before it sleeps:
    the sleep must end at once, or the stop waits until some worker happens to exit.

    The supervision logic alone, with fork/waitpid/kill replaced: the signal is real, and so
    are the wake-up pipe and the parent's select() on it (bounded here, to fail, not hang).
    """
    killed = []
    woken = []
    select_for_real = select.select

    def waitpid(pid, options):
        if not killed:  # nothing has ended yet; the stop lands now, before the sleep
            signal.raise_signal(signal.SIGTERM)
            return 0, 0
        return 101, 0

    def bounded_select(read, write, error):
        woken.append(bool(select_for_real(read, write, error, 5)[0]))
        return read, write, error

    monkeypatch.setattr(os, "fork", lambda: 101)
    monkeypatch.setattr(os, "waitpid", waitpid)
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(select, "select", bounded_select)
    handlers = {signum: signal.getsignal(signum) for signum in SUPERVISED}
    wakeup = signal.set_wakeup_fd(-1)
    try:
        with pytest.raises(SystemExit) as stopped:
            fork_workers(1)
    finally:
        signal.set_wakeup_fd(wakeup)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert woken == [True]
    assert killed == [(101, signal.SIGTERM)]
    assert stopped.value.code == 0
