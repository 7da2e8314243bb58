"""The chat page in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Two pages with names of their own exchange messages typed in the page; markup in a message
shows as text; the console shows no error and no Content-Security-Policy violation; when the
server restarts, the pages say they are reconnecting, then deliver again. Pages spread over
two worker processes on a private Redis keep one room through a worker's kill -9, a message in
flight as it dies included, and a Redis that stands still for 8 s. On a phone, by keyboard alone, and without JavaScript.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from test_chat import REDIS_PROGRAM, RedisServer, wait_for_exit
from test_production import _children
from tornado.web import create_signed_value

from browser_checks import axe_source, serious_axe_violations
from checks import render_template, require
from conftest import free_port, running_app, wait_for_port


@contextlib.contextmanager
def serving(project: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`python app.py` on ``port`` (the same port again after a restart); stopped on exit."""
    process = subprocess.Popen(
        [sys.executable, "app.py", f"--port={port}"],
        cwd=project,
        env={**os.environ, "COOKIE_SECRET": "test-secret"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        assert process.wait(10) == 0


def watch(page, problems: list[str]):
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page


def open_chat(browser, url: str, name: str, problems: list[str], **context):
    """A page of its own (own storage) on the chat, joined under ``name``."""
    from playwright.sync_api import expect

    page = watch(browser.new_context(**context).new_page(), problems)
    page.goto(url + "/chat")
    # A first visit joins no one until a name is chosen: no "Guest 1234" who then leaves.
    expect(page.locator("#chat-status")).to_have_text("Choose a name to join the chat.")
    page.fill("#chat-name", name)
    page.press("#chat-name", "Enter")  # the name form's own: no "fill out this field" popup
    expect(page.locator("#chat-status")).to_have_text(f"Connected as {name}.")
    return page


def notices(page) -> list[str]:
    return page.locator("#chat-log .chat-notice").all_inner_texts()


def messages(page) -> list[str]:
    return page.locator("#chat-log .chat-message").all_inner_texts()


def overflow(page) -> int:
    """How far the page is wider than the screen, in CSS pixels (0: it fits)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    return serious_axe_violations(page, axe_source())


def say(page, text: str) -> None:
    page.fill("#chat-text", text)
    page.press("#chat-text", "Enter")


def test_two_pages_chat_through_restarts_without_console_errors(tmp_path, browser):
    from playwright.sync_api import expect

    project = render_template(tmp_path / "chat", project_name="Chat App", websocket=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    problems: list[str] = []
    markup = "<b>bold?</b> <img src=x onerror=alert(1)> & <script>alert(2)</script>"
    with serving(project, port):
        ada = open_chat(browser, url, "Ada", problems)
        bob = open_chat(browser, url, "Bob", problems)
        expect(ada.locator("#chat-count")).to_have_text("2 in the room")
        # Whitespace alone is answered, and an error says "Not sent" once.
        say(ada, "   ")
        expect(ada.locator("#chat-log .chat-error").last).to_have_text(
            "Not sent: the message is blank."
        )
        say(ada, markup)
        line = bob.locator("#chat-log .chat-message").last
        expect(line).to_contain_text("Ada" + markup)  # as text: the name, then the message
        assert bob.locator("#chat-log b, #chat-log img, #chat-log script").count() == 0
        say(bob, "hello Ada")
        expect(ada.locator("#chat-log .chat-message").last).to_contain_text("Bobhello Ada")
        expect(ada.locator("#chat-log")).to_contain_text("Bob joined")
        assert problems == []

    # The server is down: both pages say so and keep trying.
    for page in (ada, bob):
        expect(page.locator("#chat-status")).to_contain_text("Disconnected; reconnecting in")
    with serving(project, port):
        for page, name in ((ada, "Ada"), (bob, "Bob")):
            expect(page.locator("#chat-status")).to_have_text(
                f"Connected as {name}.", timeout=10_000
            )
        say(bob, "back again")
        expect(ada.locator("#chat-log .chat-message").last).to_contain_text("Bobback again")
        shown = ada.locator("#chat-log .chat-message").all_inner_texts()
        assert sum("hello Ada" in text for text in shown) == 1  # nothing shown twice
    # While the server was down, Chromium itself logged the failed connection attempts.
    assert all(p.startswith("WebSocket connection to 'ws://") for p in problems), problems


def test_the_chat_on_a_phone_by_keyboard_alone_fits_and_is_accessible(tmp_path, browser):
    from playwright.sync_api import expect

    project = render_template(tmp_path / "chat", project_name="Chat App", websocket=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    problems: list[str] = []
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    with serving(project, port):
        page = watch(browser.new_context(**phone).new_page(), problems)
        page.goto(url + "/chat")
        # Keyboard only: Tab to the name, type it, Enter; Tab on to the message, Enter.
        for _ in range(20):
            if page.evaluate("document.activeElement.id") == "chat-name":
                break
            page.keyboard.press("Tab")
        page.keyboard.type("Grace")
        page.keyboard.press("Enter")
        expect(page.locator("#chat-status")).to_have_text("Connected as Grace.")
        page.keyboard.press("Tab")  # the Join button
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "chat-text"
        page.keyboard.type("typed on a phone")
        page.keyboard.press("Enter")
        expect(page.locator("#chat-log .chat-message").last).to_contain_text("typed on a phone")
        assert page.evaluate("document.activeElement.id") == "chat-text"  # ready for the next
        # Everything fits 390 px, the Send button included; the log scrolls by keyboard.
        assert overflow(page) <= 0, f"{overflow(page)} px too wide"
        send = page.locator("#chat-form button").bounding_box()
        assert send["x"] + send["width"] <= 390, send
        for n in range(8):  # (within --chat_rate's burst of 10)
            say(page, f"line {n} to make the log scroll " + "long" * 20)
        expect(page.locator("#chat-log .chat-message").last).to_contain_text("line 7")
        assert (
            page.evaluate(
                '(l => l.scrollHeight > l.clientHeight)(document.getElementById("chat-log"))'
            )
            is True
        )
        assert axe_violations(page) == []
        # A name as long as an e-mail address, unbroken, from a sign-in: still fits.
        long_name = "ada.lovelace.countess.of.lovelace@analytical-engine.example"
        cookie = create_signed_value("test-secret", "user", json.dumps({"name": long_name}))
        signed = browser.new_context(**phone)
        signed.add_cookies([{"name": "user", "value": cookie.decode(), "url": url}])
        page = watch(signed.new_page(), problems)
        page.goto(url + "/chat")
        expect(page.locator("#chat-status")).to_have_text(re.compile(r"Connected as ada\.lovel"))
        assert overflow(page) <= 0, f"{overflow(page)} px too wide"
        assert axe_violations(page) == []
    assert problems == [], problems


def test_a_message_unconfirmed_for_minutes_is_given_back_not_sent_late(tmp_path, browser):
    """A page keeps what it sent until the server says it is stored, and sends it again once
    reconnected: not after five minutes, when the server no longer knows its key. The clock
    is the page's own (Playwright's), moved on while the server stands still."""
    from playwright.sync_api import expect

    project = render_template(tmp_path / "chat", project_name="Chat App", websocket=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = subprocess.Popen(
        [sys.executable, "app.py", f"--port={port}"],
        cwd=project,
        env={**os.environ, "COOKIE_SECRET": "test-secret"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, first)
        page = browser.new_context().new_page()
        page.clock.install()
        page.goto(url + "/chat")
        page.fill("#chat-name", "Ada")
        page.press("#chat-name", "Enter")
        expect(page.locator("#chat-status")).to_have_text("Connected as Ada.")
        os.kill(first.pid, signal.SIGSTOP)  # it reads nothing more
        say(page, "kept for minutes")
        expect(page.locator("#chat-text")).to_have_value("")  # sent, as far as the page knows
        page.clock.fast_forward("05:00")
    finally:
        first.kill()
        first.wait()
    expect(page.locator("#chat-status")).to_contain_text("Disconnected; reconnecting in")
    with serving(project, port):
        page.clock.run_for(1000)  # the page's reconnection timer
        expect(page.locator("#chat-status")).to_have_text("Connected as Ada.")
        expect(page.locator("#chat-log .chat-error").last).to_have_text(
            "Not sent: the connection was lost for too long."
        )
        expect(page.locator("#chat-text")).to_have_value("kept for minutes")  # given back
        assert messages(page) == []


def test_without_javascript_the_chat_says_so_and_offers_no_form(tmp_path, browser):
    from playwright.sync_api import expect

    project = render_template(tmp_path / "chat", project_name="Chat App", websocket=True)
    port = free_port()
    with serving(project, port):
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"http://127.0.0.1:{port}/chat")
        expect(page.locator(".chat-noscript")).to_be_visible()
        expect(page.locator(".chat-noscript")).to_contain_text("The chat needs JavaScript")
        assert page.locator("form:visible").count() == 0
        assert page.locator("input:visible").count() == 0
        assert page.locator("#chat-status").inner_text() == ""  # no "Connecting…" forever


def pages_by_worker(redis_url: str, workers: list[int]) -> dict[int, set[str]]:
    """The names of the pages each worker process holds, as the room records them in Redis."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        held = {}
        for key in client.scan_iter(match="chat:names:*"):
            pid = int(key.split("/")[-2])  # chat:names:<host>/<pid>/<token>
            held[pid] = {field[2:] for field in client.hkeys(key) if field.startswith("n:")}
    finally:
        client.close()
    return {worker: held.get(worker, set()) for worker in workers}


@contextlib.contextmanager
def explained(pages: dict[str, object], held: dict[int, set[str]]) -> Iterator[None]:
    """A failure says what each page showed then (status, count, the end of its log) and
    which worker held it: a timing failure of several processes is read from that."""
    try:
        yield
    except AssertionError as error:
        where = {name: pid for pid, names in held.items() for name in names}
        lines = []
        for name, page in pages.items():
            try:
                status = page.locator("#chat-status").inner_text(timeout=1000)
                count = page.locator("#chat-count").inner_text(timeout=1000)
                log = page.locator("#chat-log li").all_inner_texts()[-3:]
            except Exception as unreadable:  # a closed page says why
                status, count, log = f"unreadable: {unreadable}", "", []
            lines.append(f"{name} (worker {where.get(name, '?')}): {status} | {count} | {log}")
        raise AssertionError(f"{error}\npages then:\n" + "\n".join(lines)) from None


def test_pages_on_two_workers_through_a_worker_kill_and_a_redis_stall(tmp_path, browser):
    from playwright.sync_api import expect

    require(REDIS_PROGRAM is not None, "needs redis-server on PATH (apt-get install redis-server)")
    require(Path("/proc").is_dir(), "needs Linux /proc")
    project = render_template(tmp_path / "chat", project_name="Chat App", websocket=True)
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    problems: list[str] = []
    try:
        env = {"REDIS_URL": redis_server.url}
        pages: dict[str, object] = {}
        held: dict[int, set[str]] = {}
        with running_app(project, "--processes=2", env=env) as app, explained(pages, held):
            deadline = time.monotonic() + 5
            while len(workers := _children(app.process.pid)) < 2:
                assert time.monotonic() < deadline, "two workers did not start"
                time.sleep(0.05)
            # Pages until each worker holds two (the kernel spreads connections).
            while len(pages) < 16:
                name = f"P{len(pages)}"
                pages[name] = open_chat(browser, app.url, name, problems)
                expect(pages[name].locator("#chat-count")).to_have_text(f"{len(pages)} in the room")
                held.update(pages_by_worker(redis_server.url, workers))
                if min(len(names) for names in held.values()) >= 2:
                    break
            survivor, victim = sorted(held, key=lambda worker: -len(held[worker]))
            observer = pages[sorted(held[survivor])[0]]
            # The last page's join reaches the observer with the count (one presence frame):
            # notices are counted from there, not while that one is still on its way.
            expect(observer.locator("#chat-count")).to_have_text(f"{len(pages)} in the room")
            before = len(notices(observer))

            # A message in flight as its worker dies: stopped, the worker leaves the frame
            # unread; killed, it loses it. The page sends it again once it has reconnected.
            mover = pages[sorted(held[victim])[0]]
            os.kill(victim, signal.SIGSTOP)
            say(mover, "sent as its worker died")
            expect(mover.locator("#chat-text")).to_have_value("")  # sent, as far as it knows
            with contextlib.ExitStack() as reconnecting:
                for name in held[victim]:  # each page opens a new socket by itself
                    reconnecting.enter_context(pages[name].expect_websocket(timeout=10_000))
                os.kill(victim, signal.SIGKILL)
                assert wait_for_exit(victim)
                killed = time.monotonic()
            for name in held[victim]:  # (the status of the new socket, not of the dead one)
                expect(pages[name].locator("#chat-status")).to_have_text(
                    f"Connected as {name}.", timeout=10_000
                )
            for page in pages.values():
                expect(page.locator("#chat-count")).to_have_text(
                    f"{len(pages)} in the room", timeout=10_000
                )
            healed = time.monotonic() - killed
            assert healed < 6, f"the count took {healed:.1f} s to heal"
            # Nobody came or went: no notice anywhere (before: "P3, P4 joined").
            assert notices(observer)[before:] == []
            say(mover, "back from the dead worker")
            for name, page in pages.items():
                expect(page.locator("#chat-log .chat-message").last).to_contain_text(
                    "back from the dead worker"
                )
                shown = messages(page)
                assert sum("sent as its worker died" in m for m in shown) == 1, (name, shown)

            # Redis stands still for 8 s with a message in flight.
            sender = observer
            with redis_server.frozen():
                say(sender, "sent while Redis stood still")
                time.sleep(8)
            for page in pages.values():
                expect(page.locator("#chat-log .chat-message").last).to_contain_text(
                    "sent while Redis stood still", timeout=15_000
                )
            say(mover, "after the stall")
            for name, page in pages.items():
                expect(page.locator("#chat-log .chat-message").last).to_contain_text(
                    "after the stall", timeout=10_000
                )
                shown = messages(page)
                assert sum("sent while Redis stood still" in m for m in shown) == 1, (name, shown)
                expect(page.locator("#chat-status")).to_have_text(f"Connected as {name}.")
            assert sender.locator("#chat-log .chat-error").count() == 0
            assert notices(observer)[before:] == []
    finally:
        redis_server.kill()
    # Chromium logs the failed reconnection attempts (a worker was killed); nothing else.
    assert all(p.startswith("WebSocket connection to 'ws://") for p in problems), problems
