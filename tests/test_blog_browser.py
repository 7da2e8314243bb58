"""The data layer's pages in Chromium, as a person meets them in a new blog project.

A visitor signs up with a password, composes an entry in another script, with a script tag
and a javascript: link in its Markdown, reads it back on the home page, the archive and its
own page, and changes the password: at 1280x800 and on a phone (390x844), by label as a
screen reader names the fields, every page fitting its width, with no console error, no
Content-Security-Policy violation and no serious axe-core violation (tests/browser_checks.py).
"""

from __future__ import annotations

import re
import urllib.parse

import pytest

from browser_checks import new_context, open_page, problems
from checks import HASHING_WAIT, render_template, upgrade_database
from conftest import running_app

TITLE = "Привет, мир: a first entry"  # Cyrillic and Latin: its address keeps both
HASHED = HASHING_WAIT * 1000  # Playwright counts milliseconds
MARKDOWN = (
    "Hello **world**.\n\n<script>document.title = 'owned'</script>\n\n"
    "[a trap](javascript:alert(1)) and [Tornado](https://www.tornadoweb.org/)\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory):
    # The defaults with the database: its blog, and password sign-in for its authors.
    project = render_template(
        tmp_path_factory.mktemp("blog-pages") / "blog", project_name="Blog Pages", database=True
    )
    upgrade_database(project)  # the SQLite file in data/, as the README says
    return project


@pytest.fixture(scope="module")
def app(project):
    with running_app(project) as app:
        yield app


def clean(watched, axe) -> None:
    found = problems(watched, axe)
    assert found == [], (watched.page.url, found)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_sign_up_compose_read_and_change_password(app, browser, axe, size):
    from playwright.sync_api import expect

    context = new_context(browser, size)
    watched = open_page(context)
    page = watched.page
    name, password = f"Ada on a {size}", "correct horse battery staple"

    page.goto(app.url + "/blog")
    clean(watched, axe)
    page.goto(app.url + "/blog/compose")  # signed out: the login page, coming back after
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))
    clean(watched, axe)
    page.get_by_role("link", name=re.compile("Password")).click()
    clean(watched, axe)
    page.get_by_role("link", name=re.compile("Sign up|Create", re.I)).click()
    clean(watched, axe)
    page.get_by_label(re.compile("name", re.I)).fill(name)
    page.get_by_label(re.compile("password", re.I)).fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("nav a.user")).to_contain_text(name, timeout=HASHED)

    page.goto(app.url + "/blog/compose")
    clean(watched, axe)
    page.get_by_label(re.compile("title", re.I)).fill(f"{TITLE} ({size})")
    page.get_by_label(re.compile("text|markdown|entry", re.I)).fill(MARKDOWN)
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("h1")).to_have_text(f"{TITLE} ({size})")
    assert "/blog/entry/привет-мир-a-first-entry" in urllib.parse.unquote(page.url), page.url
    article = page.locator("main")
    expect(article.locator("strong")).to_have_text("world")
    expect(article.get_by_role("link", name="Tornado")).to_have_attribute(
        "href", "https://www.tornadoweb.org/"
    )
    hrefs = article.locator("a").evaluate_all("links => links.map(link => link.href)")
    assert not [href for href in hrefs if not href.startswith("http")], hrefs  # no javascript:
    assert article.locator("script").count() == 0
    assert page.title() != "owned"
    clean(watched, axe)

    for path in ("/blog", "/blog/archive"):
        page.goto(app.url + path)
        expect(page.get_by_role("link", name=f"{TITLE} ({size})", exact=True)).to_be_visible()
        clean(watched, axe)

    page.goto(app.url + "/auth/password/change")
    clean(watched, axe)
    page.get_by_label(re.compile("current", re.I)).fill(password)
    page.get_by_label(re.compile("new", re.I)).fill(password + " again")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("nav a.user")).to_contain_text(name, timeout=HASHED)  # still signed in
    clean(watched, axe)
    context.close()


def test_the_compose_form_is_usable_by_keyboard(app, browser, axe):
    """Signed up, the compose form is reached and sent with the keyboard alone, and a title
    over the limit comes back with its message tied to the field."""
    from playwright.sync_api import expect

    context = new_context(browser, "phone")
    watched = open_page(context)
    page = watched.page
    page.goto(app.url + "/auth/password/signup")
    page.get_by_label(re.compile("name", re.I)).fill("Keyboard Author")
    page.get_by_label(re.compile("password", re.I)).fill("a long enough password")
    page.keyboard.press("Enter")
    expect(page.locator("nav a.user")).to_contain_text("Keyboard Author", timeout=HASHED)

    page.goto(app.url + "/blog/compose")
    title = page.get_by_label(re.compile("title", re.I))
    title.focus()
    # The browser's maxlength stops typing at the limit: remove it, as a script could.
    title.evaluate("field => field.removeAttribute('maxlength')")
    page.keyboard.insert_text("x" * 10_000)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Markdown")).to_be_focused()  # help, in the label
    page.keyboard.press("Tab")
    expect(page.locator("#entry-markdown")).to_be_focused()
    page.keyboard.insert_text("Some text.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Publish")).to_be_focused()
    page.keyboard.press("Enter")
    error = page.locator("#compose-error")
    expect(error).to_be_visible()
    described = page.get_by_label(re.compile("title", re.I)).get_attribute("aria-describedby")
    assert described == "compose-error"
    clean(watched, axe)
    context.close()
