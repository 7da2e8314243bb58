"""Every page of an every-module project, judged in Chromium as a person would see it.

At 1280x800 and 390x844, signed out and signed in (long names included), each page must fit
its width, log no console error, break no Content-Security-Policy rule and have no serious or
critical axe-core violation (tests/browser_checks.py). Then the whole OpenID Connect sign-in
and sign-out, clicked through against the real provider of tests/oidc_provider/.
"""

from __future__ import annotations

import json
import re

import pytest
import tornado.web

from browser_checks import look_at, new_context, open_page, problems
from checks import NEEDS_DATABASE, SIGN_IN_PROVIDERS, render_template
from conftest import running_app
from test_oidc import app_for, provider  # noqa: F401  (provider: the session's OpenID provider)

LONG_NAMES = {
    "e-mail": "ada.lovelace.countess-of-lovelace@analytical-engine.example.org",
    "unbroken": "A" * 66,
}
SIGNED_OUT = ["/", "/chat", "/auth/login", "/no/such/page", "/auth/github/login"]
SIGNED_IN = ["/", "/chat", "/profile", "/auth/login"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    return render_template(
        tmp_path_factory.mktemp("pages") / "every",
        project_name="Every Module",
        websocket=True,
        tcp_echo=True,
        # Password sign-in needs the database module, which this project leaves out.
        auth_providers=[name for name in SIGN_IN_PROVIDERS if name not in NEEDS_DATABASE],
    )


@pytest.fixture(scope="module")
def app(project):
    with running_app(project) as app:
        yield app


def chat_ready(page) -> None:
    from playwright.sync_api import expect

    if not page.url.endswith("/chat"):
        return
    status = page.locator("#chat-status")
    # A signed-in visitor joins under their name; anyone else chooses one first.
    expect(status).to_contain_text(re.compile("Connected as|Choose a name"))
    if "Choose a name" in status.inner_text():
        page.fill("#chat-name", "A visitor with a rather long name to show")
        page.press("#chat-name", "Enter")
    expect(status).to_contain_text("Connected as")


def user_cookie(url: str, name: str) -> dict[str, str]:
    """The cookie the app sets once ``name`` signed in with GitHub (its secret is known here)."""
    user = json.dumps({"provider": "github", "id": "1", "name": name})
    value = tornado.web.create_signed_value("test-secret", "user", user).decode()
    return {"name": "user", "value": value, "url": url}


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("path", SIGNED_OUT)
def test_signed_out_pages_fit_and_are_clean(app, browser, axe, path, size):
    assert look_at(browser, app.url + path, size, axe, ready=chat_ready) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("name", list(LONG_NAMES))
@pytest.mark.parametrize("path", SIGNED_IN)
def test_signed_in_pages_fit_and_are_clean(app, browser, axe, path, name, size):
    cookies = [user_cookie(app.url, LONG_NAMES[name])]
    assert look_at(browser, app.url + path, size, axe, cookies, ready=chat_ready) == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_chat_with_a_long_log_is_clean(app, browser, axe, size):
    """Once the log scrolls, it must still be reachable by keyboard (axe:
    scrollable-region-focusable) and the page must still fit."""
    from playwright.sync_api import expect

    context = new_context(browser, size)
    watched = open_page(context)
    page = watched.page
    page.goto(app.url + "/chat")
    chat_ready(page)
    lines = page.locator("#chat-log .chat-message")
    # Each shown before the next is sent; eight stay within the chat's burst (--chat_rate 5
    # a second, bursts of 10), long enough that the log scrolls.
    for number in range(8):
        text = f"Message {number} on a {size}:" + " long enough to make the log scroll." * 8
        page.fill("#chat-text", text)
        page.press("#chat-text", "Enter")
        expect(lines.filter(has_text=text)).to_have_count(1)
    log = page.locator("#chat-log")
    assert log.evaluate("log => log.scrollHeight > log.clientHeight")  # it does scroll
    assert problems(watched, axe) == []
    context.close()


def test_login_page_offers_only_configured_providers(project, browser, axe):
    env = {"GITHUB_CLIENT_ID": "id", "GITHUB_CLIENT_SECRET": "secret"}
    with running_app(project, env=env) as app:
        context = new_context(browser, "phone")
        watched = open_page(context)
        watched.page.goto(app.url + "/auth/login")
        links = watched.page.locator("a.provider").all_inner_texts()
        assert links == ["Continue with GitHub"]
        assert problems(watched, axe) == []
        context.close()
    with running_app(project) as app:
        context = new_context(browser, "phone")
        watched = open_page(context)
        watched.page.goto(app.url + "/auth/login")
        assert watched.page.locator("a.provider").count() == 0
        text = watched.page.locator("main").inner_text()
        assert "Sign-in is not configured yet" in text and "GITHUB_CLIENT_SECRET" in text
        context.close()


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_the_content(app, browser):
    from playwright.sync_api import expect

    context = new_context(browser, "desktop")
    page = open_page(context).page
    page.goto(app.url + "/")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    context.close()


def sign_in_at_provider(page) -> None:
    """On the provider's login page: sign in as ada, then consent."""
    from playwright.sync_api import expect

    page.fill("input[name=login]", "ada")
    page.fill("input[name=password]", "any password")
    page.locator("button[type=submit]").click()
    consent = page.get_by_role("button", name="Continue")
    expect(consent).to_be_visible()
    consent.click()


def test_openid_connect_sign_in_and_out_clicked_through(project, provider, browser, axe):  # noqa: F811
    from playwright.sync_api import expect

    with app_for(project, provider) as app:
        for size in ("desktop", "phone"):
            context = new_context(browser, size)
            watched = open_page(context)
            page = watched.page
            page.goto(app.url + "/auth/login")
            assert problems(watched, axe) == []
            page.get_by_role("link", name="Continue with OpenID Connect").click()
            sign_in_at_provider(page)
            expect(page.locator("nav a.user")).to_have_text("Ada Lovelace")
            watched.errors.clear()  # the provider's pages load fonts from the internet
            page.goto(app.url + "/profile")
            expect(page.locator("h1")).to_have_text("Ada Lovelace")
            assert problems(watched, axe) == []

            watched.errors.clear()
            page.get_by_role("button", name="Log out").click()
            # The provider asks to confirm the sign-out; yes, then back home, signed out.
            page.wait_for_url(
                re.compile(re.escape(provider.issuer) + "/session/end"), timeout=10_000
            )
            # No CSP violation on the way (the bug: form-action blocked the redirect).
            assert [e for e in watched.errors if "Content Security Policy" in e] == []
            page.get_by_role("button", name=re.compile("Yes", re.I)).click()
            page.wait_for_url(app.url + "/")
            watched.errors.clear()
            expect(page.get_by_role("link", name="Log in")).to_be_visible()
            assert problems(watched, axe) == []

            # The next person at this computer must give the password again.
            page.goto(app.url + "/auth/login")
            page.get_by_role("link", name="Continue with OpenID Connect").click()
            expect(page.locator("input[name=password]")).to_be_visible()
            context.close()
