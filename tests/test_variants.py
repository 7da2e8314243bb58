"""Every combination of the optional modules: rendered, linted, its own tests run, booted and probed.

2 (websocket) x 2 (tcp_echo) x 16 (subsets of auth_providers) = 64 variants.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from checks import (
    assert_lint_clean,
    assert_no_copier_leftovers,
    assert_own_tests_pass,
    assert_tornado_templates_compile,
)
from conftest import http_get, render, running_app

PROVIDERS = ("google", "github", "facebook", "twitter")
AUTHORIZE_URLS = {
    "google": "https://accounts.google.com/o/oauth2/v2/auth?",
    "github": "https://github.com/login/oauth/authorize?",
    "facebook": "https://www.facebook.com/dialog/oauth?",
}
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


def probe_websocket(app) -> None:
    from websockets.sync.client import connect

    url = app.url.replace("http", "ws") + "/ws"
    with connect(url, open_timeout=5) as first, connect(url, open_timeout=5) as second:
        first.send(json.dumps({"text": "hello from a real client"}))
        for client in (first, second):
            frame = json.loads(client.recv(timeout=5))
            assert frame["type"] == "message"
            assert frame["text"] == "hello from a real client"


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
def fake_twitter() -> Iterator[str]:
    """Twitter's OAuth 1.0a login first fetches a request token: serve one locally."""

    class RequestToken(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"oauth_token=req-token&oauth_token_secret=sec&oauth_callback_confirmed=true"
            self.send_response(200 if self.path.startswith("/oauth/request_token") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestToken) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()


def credentials(providers: tuple[str, ...]) -> dict[str, str]:
    env = {}
    for provider in providers:
        env[f"{provider.upper()}_CLIENT_ID"] = f"{provider}-id"
        env[f"{provider.upper()}_CLIENT_SECRET"] = f"{provider}-secret"
    return env


@pytest.mark.parametrize("variant", VARIANTS, ids=map(variant_id, VARIANTS))
def test_variant(variant, tmp_path, home):
    websocket, tcp_echo, providers = variant
    project = render(
        tmp_path / "proj",
        home,
        project_name="Variant App",
        websocket=websocket,
        tcp_echo=tcp_echo,
        auth_providers=list(providers),
    )
    assert (project / "handlers" / "chat.py").exists() == websocket
    assert (project / "echo_server.py").exists() == tcp_echo
    assert_no_copier_leftovers(project)
    assert_tornado_templates_compile(project)
    assert_lint_clean(project)
    assert_own_tests_pass(project)

    with (
        fake_twitter() as twitter_url,
        running_app(project, env={**credentials(providers), "TWITTER_URL": twitter_url}) as app,
    ):
        index = http_get(app.url + "/")
        assert index.status == 200 and "Variant App" in index.body
        if websocket:
            probe_websocket(app)
        if tcp_echo:
            probe_tcp_echo(app)
        authorize_urls = {**AUTHORIZE_URLS, "twitter": f"{twitter_url}/oauth/authorize?"}
        for provider in providers:
            login = http_get(f"{app.url}/auth/{provider}/login", follow=False)
            assert login.status == 302, (provider, login.status, login.body[:300])
            assert login.headers["Location"].startswith(authorize_urls[provider])
        assert app.stop() == 0
