"""Every combination of the optional modules: rendered, linted, booted and probed; own tests run.

websocket x tcp_echo x every subset of the sign-in providers of copier.yml that work without
a database (128 variants); then a few variants with the database module (with and without its
blog and password sign-in, on SQLite and on PostgreSQL), which changes how sign-in and pages are
stored rather than how the other modules work. Every variant is rendered, checked, linted,
booted as ``python app.py`` and probed as real clients would; its own test suite is collected
(every test module imports), and run in full in the variants of ``OWN_TESTS_RUN``, which
hold every combination of any three of the seven answers (see there), while the variant is
booted and probed in another process: the suite spends much of its time waiting on sockets, so
the two overlap. ``TORNADO_SCAFFOLD_FULL_MATRIX=1`` runs every variant's own tests (before a
release, or after a change to how modules combine: about 280 s more of CPU on 2 cores).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from checks import (
    NEEDS_DATABASE,
    POSTGRESQL_SERVER,
    SIGN_IN_PROVIDERS,
    assert_lint_clean,
    assert_markdown_tables_end,
    assert_no_copier_leftovers,
    assert_own_tests_passed,
    assert_tornado_templates_compile,
    render_template,
    require_postgresql,
    start_own_tests,
    stopped_on_failure,
    throw_away_postgresql_database,
    upgrade_database,
)
from conftest import http_get, running_app

# The product leaves out the providers that need the database module (password): the
# database variants below and the every-module project have them.
PROVIDERS = tuple(name for name in SIGN_IN_PROVIDERS if name not in NEEDS_DATABASE)
VARIANTS = [
    (websocket, tcp_echo, providers)
    for websocket, tcp_echo in itertools.product((False, True), repeat=2)
    for size in range(len(PROVIDERS) + 1)
    for providers in itertools.combinations(PROVIDERS, size)
]


def variant_id(variant: tuple[bool, bool, tuple[str, ...]]) -> str:
    websocket, tcp_echo, providers = variant
    parts = ["ws" if websocket else "", "tcp" if tcp_echo else "", "+".join(providers)]
    return "-".join(p for p in parts if p) or "base"


def answers_of(variant: tuple[bool, bool, tuple[str, ...]]) -> tuple[bool, ...]:
    """A variant as its seven yes/no answers: websocket, tcp_echo, then each provider."""
    websocket, tcp_echo, providers = variant
    return (websocket, tcp_echo, *(provider in providers for provider in PROVIDERS))


def combinations_of(variant, strength: int) -> set[tuple[tuple[int, ...], tuple[bool, ...]]]:
    """The (which answers, their values) pairs a variant holds, ``strength`` answers at a time."""
    answers = answers_of(variant)
    return {
        (chosen, tuple(answers[i] for i in chosen))
        for chosen in itertools.combinations(range(len(answers)), strength)
    }


def covering_variants(strength: int, first: list) -> list:
    """Variants that together hold every combination of values of any ``strength`` answers
    (a covering array, built greedily: each next variant is the first of ``VARIANTS`` that
    adds the most combinations still missing), starting from ``first``."""
    missing = set().union(*(combinations_of(v, strength) for v in VARIANTS))
    chosen = []
    for variant in first:
        chosen.append(variant)
        missing -= combinations_of(variant, strength)
    while missing:
        best = max(VARIANTS, key=lambda v: len(combinations_of(v, strength) & missing))
        chosen.append(best)
        missing -= combinations_of(best, strength)
    return chosen


# The variants whose own tests run in full (13 of 128). Running them in all 128 cost about 280 s
# of CPU, 40% of the suite's, to run the same generated tests again: a module's tests and code
# are the same files in every variant, and what changes with the answers is how modules meet
# (the app's routes and settings, the pages' links, the sign-in page's providers, the chat's
# signed-in names). Those meetings involve two or three answers at a time, so these variants
# hold every combination of any three: each provider with and without each other and with and
# without the chat or the echo server, each pair of them both on and both off. They start
# from nothing on, the chat alone (where the chat's Redis-trouble cases run: REDIS_TROUBLE)
# and everything on. Every variant still imports all of its own tests (collected).
NOTHING, CHAT_ALONE = (False, False, ()), (True, False, ())
EVERYTHING = (True, True, PROVIDERS)
OWN_TESTS_RUN = covering_variants(3, [NOTHING, CHAT_ALONE, EVERYTHING])
FULL_MATRIX = os.environ.get("TORNADO_SCAFFOLD_FULL_MATRIX") == "1"


def probe_websocket(app) -> None:
    """Two clients of an independent library join under their names; one speaks, both hear."""
    from websockets.sync.client import connect

    url = app.url.replace("http", "ws") + "/ws?name="
    with connect(url + "first", open_timeout=5) as first, connect(url + "second") as second:
        for client, name in ((first, "first"), (second, "second")):
            welcome = json.loads(client.recv(timeout=5))
            assert (welcome["type"], welcome["name"], welcome["available"]) == (
                "welcome",
                name,
                True,
            )
        first.send(json.dumps({"text": "hello from a real client"}))
        for client in (first, second):
            frame = json.loads(client.recv(timeout=5))
            while frame["type"] == "presence":
                frame = json.loads(client.recv(timeout=5))
            assert frame["type"] == "message", frame
            assert (frame["name"], frame["text"]) == ("first", "hello from a real client")


def probe_tcp_echo(app) -> None:
    with socket.create_connection(("127.0.0.1", app.tcp_port), timeout=5) as sock:
        sock.sendall(b"ping \xc3\xa9\r\n")
        received = b""
        while not received.endswith(b"\n"):
            chunk = sock.recv(1024)
            assert chunk, "echo server closed the connection"
            received += chunk
        assert received == b"ping \xc3\xa9\r\n"


@contextlib.contextmanager
def provider_host() -> Iterator[str]:
    """One local host standing in for every provider (``--<provider>_url``, ``--oidc_issuer``).

    A login redirects the browser there without calling it, except where the protocol makes
    the app ask first: Twitter's OAuth 1.0a fetches a request token, OpenID Connect the
    discovery document (which names this host as the issuer).
    """

    class Provider(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path.startswith("/oauth/request_token"):
                body = b"oauth_token=req&oauth_token_secret=sec&oauth_callback_confirmed=true"
                self.send_response(200)
            elif self.path == "/.well-known/openid-configuration":
                endpoints = {"authorization_endpoint": "/authorize", "token_endpoint": "/token"}
                document = {"issuer": base, "jwks_uri": base + "/jwks"}
                document.update({name: base + path for name, path in endpoints.items()})
                body = json.dumps(document).encode()
                self.send_response(200)
            else:
                body = b"not found"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Provider) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def provider_env(providers: tuple[str, ...], base: str) -> dict[str, str]:
    """Each provider's variables: its fake client, and ``base`` for its hosts or issuer."""
    env = {}
    for provider in providers:
        env[f"{provider.upper()}_URL"] = base  # OpenID Connect has none: it is ignored
        for setting in SIGN_IN_PROVIDERS[provider]["required"]:  # the variable <P>_<SETTING>
            suffix = setting.rsplit("_", 1)[-1]  # id, secret, issuer
            value = base if suffix == "issuer" else f"{provider}-{suffix}"
            env[f"{provider}_{setting}".upper()] = value
    return env


# The providers whose login must carry a PKCE challenge (RFC 7636, S256).
PKCE = {"google", "github", "oidc"}


def probe_login(app, provider: str, base: str) -> None:
    """The login redirects the browser to the provider, with this app's client and callback."""
    login = http_get(f"{app.url}/auth/{provider}/login", follow=False)
    assert login.status == 302, (provider, login.status, login.body[:300])
    location = login.headers["Location"]
    assert location.startswith(base + "/"), (provider, location)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    if "oauth_token" in query:  # OAuth 1.0a: the request token names the app and callback
        assert query["oauth_token"] == ["req"], location
    else:
        assert query["client_id"] == [f"{provider}-id"], location
        assert query["redirect_uri"] == [f"{app.url}/auth/{provider}/login"], location
        assert query["state"][0], location
        assert (query.get("code_challenge_method") == ["S256"]) == (provider in PKCE), location
    if provider == "oidc":
        assert location.startswith(base + "/authorize?"), location
        assert query["nonce"][0] and "openid" in query["scope"][0].split(), location


def assert_static_checks(project) -> None:
    assert_no_copier_leftovers(project)
    assert_markdown_tables_end(project)
    assert_tornado_templates_compile(project)
    assert_lint_clean(project)


@pytest.mark.parametrize("variant", VARIANTS, ids=map(variant_id, VARIANTS))
def test_variant(variant, tmp_path):
    websocket, tcp_echo, providers = variant
    project = render_template(
        tmp_path / "proj",
        project_name="Variant App",
        websocket=websocket,
        tcp_echo=tcp_echo,
        auth_providers=list(providers),
    )
    assert (project / "chat").is_dir() == websocket
    assert (project / "echo").is_dir() == tcp_echo
    assert (project / "auth").is_dir() == bool(providers)
    assert not (project / "db").exists() and not (project / "alembic.ini").exists()
    assert_static_checks(project)

    # Its own tests run on uvloop, the loop the app runs on where it is installed (asyncio:
    # test_every_module_on_the_asyncio_loop), while the app is booted and probed; in full in
    # OWN_TESTS_RUN, else collected only (each test module imports, with the project's code).
    # Its pages in Chromium: in test_every_module_on_the_asyncio_loop and test_base_project;
    # its Redis-trouble cases where the chat runs without sign-in, and the every-module project.
    in_full = FULL_MATRIX or variant in OWN_TESTS_RUN
    own_tests = start_own_tests(
        project,
        {"EVENT_LOOP": "uvloop"},
        browser=False,
        redis_trouble=not providers,
        collect_only=not in_full,
    )
    with (
        stopped_on_failure(own_tests),
        provider_host() as base,
        running_app(project, env=provider_env(providers, base), forked=True) as app,
    ):
        index = http_get(app.url + "/")
        assert index.status == 200 and "Variant App" in index.body
        if websocket:
            probe_websocket(app)
        if tcp_echo:
            probe_tcp_echo(app)
        for provider in providers:
            probe_login(app, provider, base)
        assert app.stop() == 0
    assert_own_tests_passed(own_tests, collected=not in_full)


def render_every_module(dest, project_name: str):
    """A project with every optional module and every sign-in provider on."""
    return render_template(
        dest,
        project_name=project_name,
        websocket=True,
        tcp_echo=True,
        database=True,
        blog=True,
        auth_providers=list(SIGN_IN_PROVIDERS),
    )


def probe_database(app, blog: bool) -> None:
    """/readyz: the database answers; the blog's pages read it (or are not there)."""
    ready = http_get(app.url + "/readyz")
    assert ready.status == 200 and json.loads(ready.body) == {"status": "ready"}, ready.body
    blog_page = http_get(app.url + "/blog")
    assert blog_page.status == (200 if blog else 404), blog_page.body[:300]


def test_every_module_on_the_asyncio_loop(tmp_path):
    """Where uvloop is missing, or with --event_loop=asyncio, the same project runs on asyncio:
    its own tests, and the app booted (on the SQLite file `alembic upgrade head` makes in
    data/, as its README says) and probed, saying which loop it serves on."""
    providers = list(SIGN_IN_PROVIDERS)
    project = render_every_module(tmp_path / "proj", "Asyncio App")
    own_tests = start_own_tests(project, {"EVENT_LOOP": "asyncio"})
    with stopped_on_failure(own_tests):
        upgrade_database(project)
        with (
            provider_host() as base,
            running_app(
                project,
                "--event_loop=asyncio",
                env={"DATABASE_URL": "", **provider_env(providers, base)},
            ) as app,
        ):
            probe_websocket(app)
            probe_tcp_echo(app)
            probe_database(app, blog=True)
            for provider in providers:
                if provider not in NEEDS_DATABASE:  # redirects to a provider, unlike these
                    probe_login(app, provider, base)
            assert app.stop() == 0
            log = app.process.stderr.read()
    assert "Serving Asyncio App on http://127.0.0.1:" in log and "/ (asyncio)" in log, log
    assert_own_tests_passed(own_tests)


# The database module's variants: (answers, the database they are booted and tested on).
# The module changes where accounts and pages are kept, not how the other modules work, so
# a few combinations stand for the product: the module alone; its defaults (the blog, whose
# authors sign in with a password) on PostgreSQL, booted with two worker processes; and with
# the chat and sign-in providers of both kinds. The every-module project has all of it.
DATABASE_VARIANTS = {
    "db": ({"blog": False}, "sqlite"),
    "db-blog-postgresql": ({}, "postgresql"),
    "ws-db-blog-password+github+oidc": (
        {"websocket": True, "auth_providers": ["password", "github", "oidc"]},
        "sqlite",
    ),
}


@pytest.mark.parametrize("name", DATABASE_VARIANTS)
def test_database_variant(name, tmp_path):
    answers, database = DATABASE_VARIANTS[name]
    if database == "postgresql":
        require_postgresql()  # before rendering: a machine without one skips at once
    project = render_template(
        tmp_path / "proj", project_name="Database App", database=True, **answers
    )
    websocket = answers.get("websocket", False)
    blog = answers.get("blog", True)  # copier.yml's default, asked with the database
    # Without answers for them, a blog's authors sign in with a password (copier.yml).
    providers = answers.get("auth_providers", ["password"] if blog else [])
    assert (project / "db").is_dir() and (project / "alembic.ini").is_file()
    assert (project / "blog").is_dir() == blog
    assert (project / "auth").is_dir() == bool(providers)
    assert_static_checks(project)

    on_postgresql = {"TEST_DATABASE_URL": POSTGRESQL_SERVER} if database == "postgresql" else {}
    own_tests = start_own_tests(
        project, {"EVENT_LOOP": "uvloop", **on_postgresql}, browser=False, redis_trouble=False
    )
    with stopped_on_failure(own_tests), contextlib.ExitStack() as stack:
        url, args = "", ()  # SQLite: the file `alembic upgrade head` makes in data/
        if database == "postgresql":
            url, args = (
                stack.enter_context(throw_away_postgresql_database()),
                ("--processes=2",),
            )
        upgrade_database(project, url)
        base = stack.enter_context(provider_host())
        env = {"DATABASE_URL": url, **provider_env(tuple(providers), base)}
        app = stack.enter_context(running_app(project, *args, env=env, forked=True))
        index = http_get(app.url + "/")
        assert index.status == 200 and "Database App" in index.body
        for _ in range(4 if args else 1):  # with two workers: likely each of them
            probe_database(app, blog)
        if websocket:
            probe_websocket(app)
        for provider in providers:
            if provider not in NEEDS_DATABASE:
                probe_login(app, provider, base)
        assert app.stop() == 0
    assert_own_tests_passed(own_tests, postgresql=database == "postgresql")
    if database == "sqlite":
        assert (project / "data" / "app.sqlite3").is_file()  # the README's default database


def test_variants_cover_every_sign_in_provider_of_copier_yml(tmp_path):
    """The product has every provider but those needing a database, which the database
    variants have; copier.yml refuses exactly those without the database module."""
    covered = {provider for _, _, providers in VARIANTS for provider in providers}
    assert covered == set(SIGN_IN_PROVIDERS) - set(NEEDS_DATABASE)
    assert len(VARIANTS) == 4 * 2 ** len(PROVIDERS)
    with_database = {
        provider
        for answers, _ in DATABASE_VARIANTS.values()
        for provider in answers.get("auth_providers", ["password"])
    }
    assert set(NEEDS_DATABASE) <= with_database
    for provider in NEEDS_DATABASE:
        with pytest.raises(ValueError, match="also answer database=true"):
            render_template(tmp_path / provider, project_name="No DB", auth_providers=[provider])
        assert not (tmp_path / provider).exists()


def test_own_tests_run_where_every_three_answers_meet_in_each_way():
    """OWN_TESTS_RUN holds, for any three of the seven yes/no answers, each of their eight
    combinations of values in some variant (checked here by brute force, apart from the greedy
    search), the three variants it starts from, and far fewer variants than the matrix."""
    chosen = [answers_of(variant) for variant in OWN_TESTS_RUN]
    for positions in itertools.combinations(range(2 + len(PROVIDERS)), 3):
        for values in itertools.product((False, True), repeat=3):
            held = any(
                all(a[p] == v for p, v in zip(positions, values, strict=True)) for a in chosen
            )
            assert held, (positions, values)
    assert {NOTHING, CHAT_ALONE, EVERYTHING} <= set(OWN_TESTS_RUN)
    assert len(set(OWN_TESTS_RUN)) == len(OWN_TESTS_RUN) <= len(VARIANTS) // 8


def imported_at_start(project) -> set[str]:
    """The modules ``import app`` loads in a fresh interpreter, as the app's start-up does."""
    code = "import sys, app; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_start_up_imports_only_what_the_chosen_modules_need(tmp_path):
    """Issue 13, start-up: a module's imports come with the module; the Redis client and
    PyJWT (about 30 ms with cryptography) wait until a Redis URL or a sign-in needs them."""
    bare = render_template(tmp_path / "bare", project_name="Bare App")
    loaded = imported_at_start(bare)
    assert "tornado.web" in loaded
    assert not {"tornado.auth", "tornado.websocket", "tornado.httpclient"} & loaded

    every = render_every_module(tmp_path / "every", "Every App")
    loaded = imported_at_start(every)
    assert {"auth.oidc", "chat.room", "echo.tcp_server", "tornado.websocket", "db.engine"} <= loaded
    # Alembic comes with the revision check of `python app.py`, a driver with a connection.
    assert not {"redis", "jwt", "cryptography", "alembic", "asyncpg", "aiosqlite"} & loaded
