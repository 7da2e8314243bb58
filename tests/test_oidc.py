"""OpenID Connect sign-in against a real OpenID Provider, and added to a project by ``update``.

The provider is panva's certified ``oidc-provider`` (Node.js, pinned in tests/oidc_provider/),
started once per test session on a free port. A generated project with
``auth_providers=oidc`` is booted as ``python app.py`` and driven like a browser through the
provider's own login, consent and logout pages. The refusals a certified provider never causes
(forged, expired or foreign ID tokens...) are the generated project's own tests, against the
fake issuer in its tests/oidc_fake.py.
"""

from __future__ import annotations

import contextlib
import html
import html.parser
import http.cookiejar
import json
import re
import selectors
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from browser_checks import npm_install
from checks import render_template, require
from conftest import RunningApp, free_port, render, run_cli, running_app

FIXTURE = Path(__file__).parent / "oidc_provider"
AUTH_LINE = re.compile(r"^\[[WE] \S+ \S+ (flow|oidc):\d+\] (.*)$", re.MULTILINE)


@dataclass
class OpenIDProvider:
    issuer: str
    client_id: str
    client_secret: str


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenIDProvider]:
    """The real OpenID provider, one process per test session (and xdist worker)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    require(bool(node and npm), "needs node and npm: the OpenID provider is oidc-provider")
    folder = npm_install(FIXTURE, ("package.json", "package-lock.json", "provider.mjs"))
    log = tmp_path_factory.mktemp("oidc-provider") / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [node, "provider.mjs"], cwd=folder, stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout=30)
        line = process.stdout.readline() if ready else ""
        if not line:
            raise AssertionError(f"oidc-provider did not start:\n{log.read_text()[-2000:]}")
        yield OpenIDProvider(**json.loads(line))
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("oidc") / "proj"
    return render_template(folder, project_name="OIDC App", auth_providers=["oidc"])


@contextlib.contextmanager
def app_for(project: Path, provider: OpenIDProvider, **env: str) -> Iterator[RunningApp]:
    settings = {
        "OIDC_ISSUER": provider.issuer,
        "OIDC_CLIENT_ID": provider.client_id,
        "OIDC_CLIENT_SECRET": provider.client_secret,
    }
    with running_app(project, env={**settings, **env}) as app:
        yield app


def stop(app: RunningApp) -> str:
    """Stop the app and return its log, which must hold no traceback."""
    assert app.stop() == 0
    log = app.process.stderr.read()
    assert "Traceback" not in log, log
    return log


def auth_lines(log: str) -> list[str]:
    """The warnings and errors of the sign-in code (auth/flow.py, auth/oidc.py) in ``log``."""
    return [match.group(2) for match in AUTH_LINE.finditer(log)]


@dataclass
class Page:
    url: str
    status: int
    location: str  # absolute, for redirects
    body: str

    def form(self) -> tuple[str, dict[str, str]]:
        """The first form of the page: its absolute action and its fields' values."""
        parser = FormParser()
        parser.feed(self.body)
        assert parser.action is not None, self.body[:2000]
        return urllib.parse.urljoin(self.url, parser.action), parser.fields


class FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = values.get("action", "")
        elif tag == "input" and self.action is not None and not self.done and "name" in values:
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        self.done = self.done or tag == "form"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """A browser as far as sign-in needs: cookies for every host, redirects followed by hand."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def open(self, url: str, form: dict[str, str] | None = None) -> Page:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            reply = self.opener.open(url, data, timeout=10)
        except urllib.error.HTTPError as error:
            reply = error
        with reply:
            location = urllib.parse.urljoin(url, reply.headers.get("Location", ""))
            return Page(url, reply.status, location, reply.read().decode())

    def follow(self, url: str, form: dict[str, str] | None = None, until: str = "") -> Page:
        """Open ``url``, then follow redirects, except one to ``until`` (returned as is)."""
        page = self.open(url, form)
        while page.status in (301, 302, 303, 307) and not page.location.startswith(until or "\0"):
            page = self.open(page.location)
        return page

    def sign_in_at_provider(self, start: str, app: RunningApp) -> str:
        """Start a login at ``start``, sign in as ada and consent; return the callback URL."""
        page = self.follow(start, until=app.url)
        for _ in range(3):  # the login form, then the consent form (each only when needed)
            if page.status != 200:
                break
            action, fields = page.form()
            if fields.get("prompt") == "login":
                fields.update(login="ada", password="any password")
            page = self.follow(action, fields, until=app.url)
        assert page.status in (302, 303) and page.location.startswith(app.url), page
        return page.location


def with_params(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = {**dict(urllib.parse.parse_qsl(parts.query)), **changes}
    return parts._replace(query=urllib.parse.urlencode(query)).geturl()


def test_sign_in_and_out_at_a_real_provider(project, provider):
    with app_for(project, provider) as app:
        browser = Browser()
        callback = browser.sign_in_at_provider(f"{app.url}/auth/oidc/login?next=%2Fprofile", app)
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))
        assert params["iss"] == provider.issuer and params["code"] and params["state"]

        signed_in = browser.open(callback)
        assert (signed_in.status, signed_in.location) == (302, f"{app.url}/profile")
        profile = browser.open(f"{app.url}/profile")
        assert profile.status == 200 and "Ada Lovelace" in profile.body  # from UserInfo

        logout, fields = profile.form()  # the header's log-out form, with its XSRF token
        out = browser.open(logout, fields)
        # A page that moves on to the provider by itself (a redirect would break CSP's
        # form-action in browsers: see test_pages_browser.py, which clicks this through).
        onward = html.unescape(re.search(r'id="sign-out-next" href="([^"]+)"', out.body)[1])
        assert out.status == 200 and onward.startswith(f"{provider.issuer}/session/end?")
        assert f'content="0; url={html.escape(onward)}"' in out.body  # the meta refresh
        confirm, fields = browser.follow(onward).form()  # the provider asks to confirm
        back = browser.follow(confirm, {**fields, "logout": "yes"}, until=app.url)
        assert back.location == f"{app.url}/"
        assert browser.open(f"{app.url}/profile").status == 302  # signed out here...
        again = browser.follow(f"{app.url}/auth/oidc/login", until=app.url)
        assert again.status == 200 and again.form()[1]["prompt"] == "login"  # ...and there
        log = stop(app)
    assert "OpenID Connect user ada signed in" in log
    assert auth_lines(log) == []


def test_replays_are_refused_by_the_app_then_by_the_provider(project, provider):
    with app_for(project, provider) as app:
        browser = Browser()
        start = f"{app.url}/auth/oidc/login"
        used = browser.sign_in_at_provider(start, app)
        cookies = list(browser.jar)  # the login cookie included, as an attacker might copy it
        assert browser.open(used).status == 302

        for cookie in cookies:
            browser.jar.set_cookie(cookie)
        replay = browser.open(used)
        assert replay.status == 403 and "used already" in replay.body

        # A new login carrying the used code: this process has not seen that login, the
        # provider has seen the code. (What holds across processes and machines.)
        fresh = with_params(browser.sign_in_at_provider(start, app), code=used_code(used))
        refused = browser.open(fresh)
        assert refused.status == 403 and "OpenID Connect refused the sign-in" in refused.body
        log = stop(app)
    lines = auth_lines(log)
    assert len(lines) == 2, lines
    assert "callback replayed" in lines[0] and "400" in lines[1]


def used_code(callback: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]


@pytest.mark.parametrize(
    ("setting", "consent", "status", "page", "line"),
    [
        pytest.param(
            # the same provider under another name: it calls itself 127.0.0.1
            lambda provider: {"OIDC_ISSUER": provider.issuer.replace("127.0.0.1", "localhost")},
            False,
            403,
            "OpenID Connect sign-in failed",
            "discovery names issuer",
            id="issuer-mismatch",
        ),
        pytest.param(
            lambda provider: {"OIDC_ISSUER": f"http://127.0.0.1:{free_port()}"},
            False,
            502,
            "Could not reach OpenID Connect",
            "Could not reach OpenID Connect",
            id="provider-down-at-discovery",
        ),
        pytest.param(
            lambda provider: {"OIDC_CLIENT_SECRET": "wrong-secret"},
            True,  # refused at the token endpoint, after the user consented
            403,
            "OpenID Connect refused the sign-in",
            "HTTP 401",
            id="wrong-client-secret",
        ),
    ],
)
def test_refusals_are_clean_pages_with_one_log_line(
    project, provider, setting, consent, status, page, line
):
    with app_for(project, provider, **setting(provider)) as app:
        browser = Browser()
        start = f"{app.url}/auth/oidc/login"
        answer = browser.open(browser.sign_in_at_provider(start, app) if consent else start)
        assert answer.status == status and page in answer.body
        assert "user" not in {cookie.name for cookie in browser.jar}
        log = stop(app)
    lines = auth_lines(log)
    assert len(lines) == 1 and line in lines[0], lines


def test_update_adds_oidc_to_an_existing_project(tmp_path, home):
    project = render(tmp_path / "app", home, project_name="Shop", auth_providers=["github"])
    assert not (project / "auth" / "oidc.py").exists()

    done = run_cli("update", "--data", "auth_providers=github,oidc", home=home, cwd=project)

    assert done.returncode == 0, done.stderr
    assert "auth/oidc.py" in done.stdout and "tests/test_auth_oidc.py" in done.stdout
    assert "- oidc" in (project / ".copier-answers.yml").read_text()
    # The same files as a project made with oidc from the start (whose own tests pass: see
    # test_variants.py), with no conflict left.
    fresh = render_template(
        tmp_path / "fresh", project_name="Shop", auth_providers=["github", "oidc"]
    )
    for name in ("auth/providers.py", "requirements.txt", "tests/test_auth.py", "README.md"):
        assert (project / name).read_text() == (fresh / name).read_text(), name
