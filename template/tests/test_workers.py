"""--processes: how many workers, and the combinations that are refused."""

import contextlib
import os
import signal
import subprocess
import sys
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


def test_a_crashed_worker_is_restarted_and_sigterm_stops_all(tmp_path):
    """Fork for real: worker 0 crashes once, is restarted, then SIGTERM stops everything."""
    script = tmp_path / "supervised.py"
    marker = tmp_path / "crashed-once"
    script.write_text(
        "import os, signal, sys, time\n"
        "from workers import fork_workers\n"
        "number = fork_workers(2)\n"
        f"if number == 0 and not os.path.exists({str(marker)!r}):\n"
        f"    open({str(marker)!r}, 'w').close()\n"
        "    os._exit(3)\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "os.write(1, f'ready {number}\\n'.encode())  # one write: workers share the pipe\n"
        "time.sleep(600)  # until SIGTERM; the test ends its process group whatever happens\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": root},
        start_new_session=True,  # its own process group: the finally below ends every worker
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [parent.stdout.readline() for _ in range(2)]
        assert all(lines), f"workers ended early: {parent.wait(10)} {parent.stderr.read()}"
        assert sorted(lines) == ["ready 0\n", "ready 1\n"]  # worker 0 came back after its crash
        assert marker.exists()
        time.sleep(0.1)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(10) == 0
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)  # workers left behind
        parent.stdout.close()
        parent.stderr.close()


def where(pids: list[int]) -> str:
    """Each process's state and the kernel function it waits in (Linux /proc), for a report."""
    said = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat, open(f"/proc/{pid}/wchan") as wchan:
                said.append(f"{pid} {stat.read().split(') ')[1].split()[0]} {wchan.read()}")
        except OSError:
            said.append(f"{pid} gone")
    return "; ".join(said)


def test_a_worker_sent_sigterm_on_its_own_is_replaced_and_logs_carry_worker_ids(tmp_path):
    """Fork for real: SIGTERM to one worker (not the parent) stops it cleanly, exit 0, as the
    app's workers do; the parent starts a new one in its place and says so."""
    script = tmp_path / "supervised.py"
    script.write_text(
        "import logging, os, signal, sys, time\n"
        "logging.basicConfig(level=logging.INFO, format='%(message)s')\n"
        "from workers import fork_workers\n"
        "number = fork_workers(2)\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "logging.getLogger('app').info('serving as pid %d', os.getpid())\n"
        "os.write(1, f'ready {number} {os.getpid()}\\n'.encode())  # one write: a shared pipe\n"
        "time.sleep(600)  # until SIGTERM; the test ends its process group whatever happens\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": root},
        start_new_session=True,  # its own process group: the finally below ends every worker
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = dict(parent.stdout.readline().split()[1:] for _ in range(2))
        assert sorted(ready) == ["0", "1"], f"workers ended early: {parent.stderr.read()}"
        os.kill(int(ready["1"]), signal.SIGTERM)
        line = parent.stdout.readline().split()
        assert line[:2] == ["ready", "1"] and line[2] != ready["1"]  # a new worker 1
        parent.send_signal(signal.SIGTERM)
        try:
            status = parent.wait(30)
        except subprocess.TimeoutExpired:  # seen once under CI load: say who is left, and where
            pids = [parent.pid, int(ready["0"]), int(line[2])]
            raise AssertionError(f"not stopped in 30 s: {where(pids)}") from None
        assert status == 0
        log = parent.stderr.read().splitlines()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)  # workers left behind
        parent.stdout.close()
        parent.stderr.close()
    assert f"Worker 1 (pid {ready['1']}) exited with 0: restarting it" in log
    for number, pid in [("0", ready["0"]), ("1", ready["1"]), ("1", line[2])]:
        assert f"worker {number}: serving as pid {pid}" in log


def test_a_stop_signal_just_after_a_fork_reaches_the_new_worker(monkeypatch):
    """SIGTERM between fork() and the parent noting the new pid: the worker must get it too.

    The supervision logic alone, with fork/wait/kill replaced and the signal raised for real.
    """
    killed = []

    def fork():
        signal.raise_signal(signal.SIGTERM)  # before fork_workers knows the pid it returns
        return 101

    monkeypatch.setattr(os, "fork", fork)
    monkeypatch.setattr(os, "wait", lambda: (101, 0))
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    # fork_workers installs its own handlers for real: put back this process's after.
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
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
    exits = iter([(102, 2 << 8), (101, 0)])  # os.wait() statuses: exit codes 2, then 0
    killed = []
    monkeypatch.setattr(os, "fork", lambda: next(pids))
    monkeypatch.setattr(os, "wait", lambda: next(exits))
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    with pytest.raises(SystemExit) as stopped:
        fork_workers(2)
    assert stopped.value.code == 2
    assert (101, signal.SIGTERM) in killed  # the other worker was told to stop
