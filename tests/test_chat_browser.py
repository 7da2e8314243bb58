"""The chat page in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright.

Two pages with names of their own exchange messages typed in the page; markup in a message
shows as text; the console shows no error and no Content-Security-Policy violation; when the
server restarts, the pages say they are reconnecting, then deliver again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import render_template, require
from conftest import free_port, wait_for_port

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require(sync_playwright is not None, "needs playwright: pip install -e '.[test]'")
    require(Path(CHROMIUM).is_file(), f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_chat(browser, url: str, name: str, problems: list[str]):
    """A page of its own (own storage) on the chat, joined under ``name``."""
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(url + "/chat")
    expect(page.locator("#chat-status")).to_have_text(
        "Connected as " + page.locator("#chat-name").input_value() + "."
    )
    page.fill("#chat-name", name)
    page.press("#chat-name", "Tab")  # a new name: the page joins again under it
    expect(page.locator("#chat-status")).to_have_text(f"Connected as {name}.")
    return page


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
