"""The log lines a person reads, as a running generated app writes them to standard error."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator

from test_chat import REDIS_PROGRAM, RedisServer

from checks import render_template, require
from conftest import running_app


class Lines:
    """The app's standard error, line by line, read by a thread as the app writes it."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put("")  # end of output

    def wait_for(self, done: Callable[[list[str]], bool], timeout: float = 15) -> None:
        """Read on until ``done(lines so far)``; fail if the app ends or goes quiet first."""
        while not done(self.seen):
            line = self._queue.get(timeout=timeout)
            assert line, "the app stopped before:\n" + "".join(self.seen)
            self.seen.append(line)

    def rest(self) -> str:
        """Everything, once the app (and every worker holding the pipe) has exited."""
        self._reader.join(timeout=10)
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


@contextlib.contextmanager
def logging_app(project, *args) -> Iterator[tuple[object, Lines]]:
    with running_app(project, *args) as app:
        yield app, Lines(app.process.stderr)


def count(text: str) -> Callable[[list[str]], int]:
    return lambda lines: sum(text in line for line in lines)


def test_each_sign_in_warning_comes_once_however_many_workers(tmp_path):
    project = render_template(
        tmp_path / "signin", project_name="Sign In", auth_providers=["github", "oidc"]
    )
    with logging_app(project, "--processes=2") as (app, lines):
        lines.wait_for(lambda seen: count("Serving ")(seen) == 2)  # both workers started
        assert app.stop() == 0
        log = lines.rest()
    assert log.count("sign-in is off") == 2, log  # one line per provider
    assert log.count("GitHub sign-in is off: set GITHUB_CLIENT_ID and ") == 1, log
    assert log.count("OpenID Connect sign-in is off: set OIDC_ISSUER") == 1, log


def test_the_redis_line_names_the_database_and_never_a_password(tmp_path):
    project = render_template(tmp_path / "chat", project_name="Chat", websocket=True)

    # No Redis there: the line that says so names it as the app would reach it.
    unreachable = "--redis_url=redis://:s3cret@127.0.0.1:9/5"
    with logging_app(project, unreachable) as (app, lines):
        lines.wait_for(count("Chat: lost Redis at "))
        assert app.stop() == 0
        log = lines.rest()
    assert "Chat: lost Redis at redis://127.0.0.1:9/5 (" in log, log
    assert "s3cret" not in log

    require(REDIS_PROGRAM is not None, "needs redis-server on PATH (Debian: redis-server)")
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        with logging_app(project, f"--redis_url=unix://{redis.path}?db=3") as (app, lines):
            lines.wait_for(count("Chat: connected to Redis at "))
            assert app.stop() == 0
            log = lines.rest()
    finally:
        redis.kill()
    assert f"Chat: connected to Redis at unix://{redis.path}?db=3\n" in log, log
