"""Screenshots of a generated project for the README: home, chat, sign-in and profile pages,
at a desktop size (1280x800) and a phone size (390x844), into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py            # after `pip install -e '.[test]'`

It generates a real project with every module (``python -m tornado_scaffold new``), boots it
with ``python app.py``, and drives it in headless Chromium through Playwright: Debian's
``chromium`` where installed (or set CHROMIUM), else Playwright's own. Two visitors exchange a
few chat messages first; the profile is that of a visitor signed in with GitHub (the cookie
is signed with the COOKIE_SECRET this script gives the app). Rerun it at each release.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
SECRET = "screenshots-secret"
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
# Sign-in configured for three providers, so the login page shows what a real one does.
PROVIDERS_ENV = {
    "GITHUB_CLIENT_ID": "screenshots",
    "GITHUB_CLIENT_SECRET": "screenshots",
    "GOOGLE_CLIENT_ID": "screenshots",
    "GOOGLE_CLIENT_SECRET": "screenshots",
    "OIDC_ISSUER": "https://sso.example.com/realms/main",
    "OIDC_CLIENT_ID": "screenshots",
    "OIDC_CLIENT_SECRET": "screenshots",
}


def generate(folder: Path) -> Path:
    project = folder / "my-app"
    answers = [
        "project_name=My App",
        "websocket=true",
        "tcp_echo=true",
        "auth_providers=google,github,facebook,twitter,oidc",
        "git_init=false",
    ]
    argv = [sys.executable, "-m", "tornado_scaffold", "new", str(project), "--defaults"]
    for answer in answers:
        argv += ["--data", answer]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(project: Path) -> Iterator[str]:
    port, tcp_port = free_port(), free_port()
    env = {**os.environ, "COOKIE_SECRET": SECRET, **PROVIDERS_ENV}
    process = subprocess.Popen(
        [sys.executable, "app.py", f"--port={port}", f"--tcp_port={tcp_port}"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("error: the generated app did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def signed_in_cookie(base: str, name: str) -> dict[str, str]:
    import tornado.web

    user = json.dumps({"provider": "github", "id": "583231", "name": name})
    value = tornado.web.create_signed_value(SECRET, "user", user).decode()
    return {"name": "user", "value": value, "url": base}


def chat(browser, base: str, name: str, size: str = "desktop", cookies=()):
    from playwright.sync_api import expect

    context = browser.new_context(**SIZES[size])
    context.add_cookies(list(cookies))
    page = context.new_page()
    page.goto(base + "/chat")
    if not cookies:
        page.fill("#chat-name", name)
        page.press("#chat-name", "Tab")
    expect(page.locator("#chat-status")).to_have_text(f"Connected as {name}.")
    return page


def say(page, text: str) -> None:
    from playwright.sync_api import expect

    count = page.locator("#chat-log .chat-message").count()
    page.fill("#chat-text", text)
    page.press("#chat-text", "Enter")
    expect(page.locator("#chat-log .chat-message")).to_have_count(count + 1)


def shoot(browser, base: str) -> list[Path]:
    from playwright.sync_api import expect

    OUT.mkdir(parents=True, exist_ok=True)
    ada = [signed_in_cookie(base, "Ada Lovelace")]
    bob = chat(browser, base, "Bob")
    first = chat(browser, base, "Ada Lovelace", cookies=ada)
    say(bob, "Hello Ada! Is the engine running?")
    say(first, "It is: one Tornado process, and Redis when it grows.")
    say(bob, "And on a phone?")
    say(first, "Same page: the log scrolls, the form stays at hand.")
    saved = []
    for size in SIZES:
        pages = {
            "home": ("/", []),
            "sign-in": ("/auth/login", []),
            "profile": ("/profile", ada),
        }
        for name, (path, cookies) in pages.items():
            context = browser.new_context(**SIZES[size])
            context.add_cookies(cookies)
            page = context.new_page()
            page.goto(base + path)
            saved.append(save(page, f"{name}-{size}"))
            context.close()
        page = chat(browser, base, "Ada Lovelace", size, ada)
        expect(page.locator("#chat-log .chat-message")).to_have_count(4)  # the history
        saved.append(save(page, f"chat-{size}"))
        page.context.close()
    return saved


def save(page, name: str) -> Path:
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path))  # the viewport, as a person first sees it
    return path


def main() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SystemExit("error: needs playwright: pip install -e '.[test]'") from None
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium")
    with tempfile.TemporaryDirectory(prefix="screenshots-") as scratch:
        project = generate(Path(scratch))
        with serving(project) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable)
            try:
                saved = shoot(browser, base)
            finally:
                browser.close()
    for path in saved:
        print(f"{path.relative_to(REPO)}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
