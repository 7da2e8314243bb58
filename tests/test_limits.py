"""A generated app at its limits: connection floods under a small file limit (RLIMIT_NOFILE),
request heads too large, a worker process stopped behind the supervisor's back.

With ``ulimit -n`` 256 the defaults derived from it (connections.py) are: 160 connections in
all, HTTP 120 (30 per address), TCP echo 40 (10 per address). Loopback gives every test its
own client addresses: 127.0.0.1 floods, 127.0.0.2 and up are other clients.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import free_port, http_get, render, running_app

resource = pytest.importorskip("resource", reason="needs POSIX resource limits")
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads CPU time from Linux /proc"
)

FILE_LIMIT = 256
FLOOD = 400  # connections from one client: more than the process may open


@pytest.fixture(scope="module")
def project(tmp_path_factory, home):
    return render(tmp_path_factory.mktemp("limits") / "limits", home, tcp_echo=True, git_init=False)


@dataclass
class App:
    process: subprocess.Popen[bytes]
    port: int
    tcp_port: int
    log: Path

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _lower_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


@contextlib.contextmanager
def limited_app(project: Path, tmp_path: Path, *args: str) -> Iterator[App]:
    """``python app.py`` with RLIMIT_NOFILE at FILE_LIMIT, its log in a file (a pipe nobody
    reads could block it)."""
    port, tcp_port = free_port(), free_port()
    log = tmp_path / "app.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "app.py", f"--port={port}", f"--tcp_port={tcp_port}", *args],
            cwd=project,
            env={**os.environ, "COOKIE_SECRET": "test-secret"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_lower_file_limit,
        )
    try:
        for listening in (port, tcp_port):  # from an address no test uses: its caps stay free
            deadline = time.monotonic() + 15
            while True:
                assert process.poll() is None, log.read_text()
                with contextlib.suppress(OSError), connect(listening, "127.0.0.254"):
                    break
                assert time.monotonic() < deadline, f"port {listening} did not open"
                time.sleep(0.05)
        yield App(process, port, tcp_port, log)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST on close
    return sock


def request(port: int, path: str, source: str = "127.0.0.1") -> bytes:
    """One HTTP/1.1 request on a new connection; the whole answer (the server closes)."""
    with connect(port, source) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def echo(port: int, source: str) -> bytes:
    with connect(port, source) as sock:
        sock.sendall(b"still here\n")
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            answer += chunk
        return answer


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_tcp_flood_from_one_client_leaves_others_and_healthz_served(project, tmp_path):
    with limited_app(project, tmp_path) as app:
        flood = [connect(app.tcp_port) for _ in range(FLOOD)]
        try:
            # The echo server keeps 10 of them (the per-address cap) and closes the others.
            for sock in flood[:10]:
                sock.sendall(b"kept\n")
                assert sock.recv(16) == b"kept\n"
            assert closed_by_server(flood[-1])
            assert request(app.port, "/healthz").startswith(b"HTTP/1.1 200 OK")
            assert echo(app.tcp_port, "127.0.0.2") == b"still here\n"
            started = app.cpu_seconds()
            time.sleep(1.5)  # the flood still open: nothing to do, so nothing done
            assert app.cpu_seconds() - started < 0.3
        finally:
            for sock in flood:
                sock.close()
        assert request(app.port, "/healthz").startswith(b"HTTP/1.1 200 OK")
    log = app.log.read_text()
    assert len(log) < 4000, log[:4000]  # a few summary lines, no tracebacks
    assert "Traceback" not in log
    refused = re.findall(
        r"TCP echo server, in the last second: (\d+) connection\(s\) refused: "
        r"over --tcp_max_connections_per_ip \(10 from one address\)",
        log,
    )
    assert sum(map(int, refused)) == FLOOD - 10, log


def test_http_caps_refuse_one_address_then_answer_503_and_keep_healthz(project, tmp_path):
    with limited_app(project, tmp_path) as app:
        held = [connect(app.port) for _ in range(40)]  # 30 kept (per address), 10 closed
        assert closed_by_server(held[-1])
        assert request(app.port, "/healthz", "127.0.0.2").startswith(b"HTTP/1.1 200 OK")
        # Up to the total cap (120) from more addresses: then 503, but /healthz still answers.
        for n in range(3, 6):
            held += [connect(app.port, f"127.0.0.{n}") for _ in range(30)]
        # The server has accepted them all once it answers a later connection.
        assert request(app.port, "/healthz", "127.0.0.6").startswith(b"HTTP/1.1 200 OK")
        refused = request(app.port, "/", "127.0.0.6")
        assert refused.startswith(b"HTTP/1.1 503 Service Unavailable"), refused
        assert b"Retry-After: 1" in refused
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 5
        while not request(app.port, "/", "127.0.0.6").startswith(b"HTTP/1.1 200 OK"):
            assert time.monotonic() < deadline, "the caps did not free up"
            time.sleep(0.05)
    log = app.log.read_text()
    assert "Traceback" not in log
    assert "refused: over --max_connections_per_ip (30 from one address)" in log
    assert "connection(s) over --max_connections (120) answered 503 (or /healthz)" in log


def test_out_of_file_descriptors_without_caps_pauses_accepting_quietly(project, tmp_path):
    """No caps: the flood takes every file descriptor and accept() fails with EMFILE."""
    no_caps = ("--tcp_max_connections=0", "--tcp_max_connections_per_ip=0")
    with limited_app(project, tmp_path, *no_caps) as app:
        flood = [connect(app.tcp_port) for _ in range(FLOOD)]
        try:
            flood[-1].sendall(b"last\n")  # waits in the listen queue: no descriptor to take it
            _wait_for(
                lambda: len(list(Path(f"/proc/{app.process.pid}/fd").iterdir())) == FILE_LIMIT
            )
            started = app.cpu_seconds()
            time.sleep(1.5)
            assert app.cpu_seconds() - started < 0.3, "accept() spins on EMFILE"
            assert app.log.stat().st_size < 4000, app.log.read_text()[:4000]
            for sock in flood[:-1]:
                sock.close()
            assert flood[-1].recv(16) == b"last\n"  # accepted once descriptors are free again
        finally:
            for sock in flood:
                sock.close()
        assert request(app.port, "/healthz").startswith(b"HTTP/1.1 200 OK")
    log = app.log.read_text()
    assert "Traceback" not in log
    assert "accept() failure(s): Too many open files (paused 0.1 s each)" in log


def test_a_request_head_over_64_kib_gets_431_then_the_connection_closes(project, tmp_path):
    with limited_app(project, tmp_path) as app:
        for size in (70_000, 1_000_000):  # just over, and far over: both read the answer
            with connect(app.port) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer
        assert request(app.port, "/healthz").startswith(b"HTTP/1.1 200 OK")


def _children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(stat.parent.name))
    return children


def _wait_for(condition, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)
    return value


def test_a_worker_sent_sigterm_alone_is_replaced_and_the_log_names_workers(project):
    with running_app(project, "--processes=2") as app:
        workers = _wait_for(lambda: len(found := _children(app.process.pid)) == 2 and found)
        stopped = min(workers)
        os.kill(stopped, signal.SIGTERM)
        replaced = _wait_for(
            lambda: len(found := _children(app.process.pid) - workers) == 1 and found
        )
        assert stopped not in _children(app.process.pid)
        (new,) = replaced
        # The new worker serves: its own socket on the port, and the port answers throughout.
        _wait_for(lambda: _listens(new, app.port))
        for _ in range(10):
            assert http_get(app.url + "/healthz").status == 200
        assert app.stop() == 0
        log = app.process.stderr.read()
    assert re.search(rf"Worker \d \(pid {stopped}\) exited with 0: restarting it", log), log
    serving = re.findall(r"\] worker (\d): Serving ", log)
    assert sorted(serving) in (["0", "0", "1"], ["0", "1", "1"]), log  # the restarted one twice


def _fd_links(pid: int) -> list[str]:
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            links.append(str(fd.readlink()))
    return links


def _listens(pid: int, port: int) -> bool:
    """Whether ``pid`` holds a socket listening on ``port`` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    return bool(inodes & set(_fd_links(pid)))
