"""Running a generated project in production: graceful drain, pre-fork workers, hardening."""

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import http_get, render, running_app

# Adds a slow route to the generated app, then runs it exactly as `python app.py` does.
SLOW_APP = """
import asyncio

import app
from handlers.base import BaseHandler


class SlowHandler(BaseHandler):
    async def get(self):
        await asyncio.sleep(float(self.get_argument("seconds")))
        self.write("finished")


def make_slow_app(make_app=app.make_app, **settings):
    application = make_app(**settings)
    application.add_handlers(r".*", [(r"/slow", SlowHandler)])
    return application


app.make_app = make_slow_app
app.run()
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory, home):
    project = render(tmp_path_factory.mktemp("prod") / "prod", home, websocket=True, git_init=False)
    (project / "slow_app.py").write_text(SLOW_APP)
    return project


def _get_in_background(url):
    result = {}

    def fetch():
        try:
            result["response"] = http_get(url)
        except OSError as error:  # e.g. the server closed an unfinished request
            result["error"] = error

    thread = threading.Thread(target=fetch)
    thread.start()
    return thread, result


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_in_flight_request_completes_after_sigterm(project):
    with running_app(
        project, "--shutdown_timeout=5", command=(sys.executable, "slow_app.py")
    ) as app:
        thread, result = _get_in_background(app.url + "/slow?seconds=1.5")
        time.sleep(0.5)  # the request is in flight
        started = time.monotonic()
        app.process.send_signal(15)
        time.sleep(0.3)
        assert _refused(app.port), "new connections must be refused while draining"
        thread.join(10)
        assert result["response"].status == 200 and result["response"].body == "finished"
        assert app.process.wait(5) == 0
        assert time.monotonic() - started < 3


def test_drain_is_bounded_by_the_timeout(project):
    with running_app(
        project, "--shutdown_timeout=0.5", command=(sys.executable, "slow_app.py")
    ) as app:
        thread, result = _get_in_background(app.url + "/slow?seconds=30")
        time.sleep(0.5)
        started = time.monotonic()
        assert app.stop() == 0
        assert time.monotonic() - started < 2.5
        thread.join(5)
        assert not thread.is_alive()
        assert "error" in result and "response" not in result  # cut off, not answered


def _children(pid):
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def _sockets_of(pid):
    links = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            links.append(str(fd.readlink()))
        except OSError:
            continue
    return {m.group(1) for link in links if (m := re.fullmatch(r"socket:\[(\d+)\]", link))}


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_two_worker_processes_serve_and_stop_together(project):
    # The chat needs a Redis to run on several processes (tests/test_chat.py runs one); HTTP
    # and shutdown do not: a Redis that cannot be reached will do here.
    with running_app(project, "--processes=2", env={"REDIS_URL": "redis://127.0.0.1:9/0"}) as app:
        deadline = time.monotonic() + 5
        while len(workers := _children(app.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        # Each worker binds its own socket as it starts; the app counts as started once the
        # port accepts, which the first one to bind makes true: wait for the other (a fixed
        # 0.3 s was not always enough on a loaded machine).
        deadline = time.monotonic() + 20
        while True:
            listening = _listening_inodes(app.port)
            idle = [worker for worker in workers if not _sockets_of(worker) & listening]
            if not idle or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not idle, f"workers {idle} are not listening"
        assert not _sockets_of(app.process.pid) & listening  # the parent only supervises
        for _ in range(20):
            assert http_get(app.url + "/healthz").status == 200
        assert app.stop() == 0
        for worker in workers:
            assert (
                not Path(f"/proc/{worker}").exists()
                or "Z" in Path(f"/proc/{worker}/stat").read_text().split()[2]
            )


@pytest.mark.skipif(sys.platform != "linux", reason="workers.py asks Linux's prctl for it")
def test_workers_stop_when_their_parent_is_killed_and_free_the_port(project):
    """kill -9 (or the out-of-memory killer) on the parent: its workers must not serve on
    unsupervised, holding the port that the next start needs."""
    with running_app(project, "--processes=2", env={"REDIS_URL": "redis://127.0.0.1:9/0"}) as app:
        deadline = time.monotonic() + 5
        while len(workers := _children(app.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers) == 2
        app.process.kill()
        app.process.wait()
        deadline = time.monotonic() + 30
        while any(_running(worker) for worker in workers):
            assert time.monotonic() < deadline, "workers still serving 30 s after their parent"
            time.sleep(0.05)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", app.port), timeout=5).close()


def _running(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_processes_with_debug_is_refused(project):
    done = subprocess.run(
        [sys.executable, "app.py", "--processes=2", "--debug"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "error: --processes cannot be combined with --debug: autoreload needs 1 process"
    )


def test_security_headers_on_pages_static_files_and_errors(project):
    with running_app(project) as app:
        for path, status in [
            ("/", 200),
            ("/chat", 200),
            ("/static/css/style.css", 200),
            ("/nope", 404),
        ]:
            response = http_get(app.url + path)
            assert response.status == status, path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["X-Frame-Options"] == "DENY", path
            assert response.headers["Referrer-Policy"], path
            assert "default-src 'none'" in response.headers["Content-Security-Policy"], path
        assert app.stop() == 0


def test_chat_page_loads_its_script_under_the_csp(project):
    with running_app(project) as app:
        page = http_get(app.url + "/chat")
        policy = dict(
            part.strip().split(" ", 1)
            for part in page.headers["Content-Security-Policy"].split(";")
        )
        assert policy["script-src"] == "'self'" and policy["connect-src"] == "'self'"
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page.body, re.S)
        assert scripts and all(body.strip() == "" for _, body in scripts), "inline script"
        sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]
        assert any("/static/js/chat.js" in src for src in sources)
        for src in sources:
            assert src.startswith("/static/"), src  # same origin: allowed by script-src 'self'
            script = http_get(app.url + src)
            assert script.status == 200 and "javascript" in script.headers["Content-Type"]
        assert not re.search(r"\son\w+=|\sstyle=", page.body), "inline handler or style"
        assert app.stop() == 0
