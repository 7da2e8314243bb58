"""Tests for the pages every variant of the project serves, and for its command line."""

import asyncio
import json
import sys
import time
from unittest import mock

import pytest
import tornado.web
from tornado.escape import xhtml_escape
from tornado.options import options
from tornado.tcpclient import TCPClient
from tornado.testing import AsyncHTTPTestCase, AsyncTestCase, bind_unused_port, gen_test

import server
from access_log import AccessLog
from app import PROJECT_NAME, make_app, run
from handlers.base import BaseHandler


@pytest.mark.parametrize("arg", ["--port=http", "--no_such_option", "stray", "--port"])
def test_a_bad_command_line_stops_with_one_line_and_status_2(arg, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["app.py", arg])
    with pytest.raises(SystemExit) as stopped:
        run()
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error


class AppTestCase(AsyncHTTPTestCase):
    def get_app(self):
        return make_app(cookie_secret="test-secret")

    def test_index_renders_project_name(self):
        response = self.fetch("/")
        self.assertEqual(response.code, 200)
        self.assertIn(xhtml_escape(PROJECT_NAME), response.body.decode())  # escaped, as text

    def test_index_links_versioned_static_files(self):
        body = self.fetch("/").body.decode()
        self.assertIn("/static/css/style.css?v=", body)
        self.assertIn("/static/js/main.js?v=", body)

    def test_static_file_is_served(self):
        response = self.fetch("/static/css/style.css")
        self.assertEqual(response.code, 200)
        self.assertIn("text/css", response.headers["Content-Type"])

    def test_unknown_path_gets_custom_404(self):
        response = self.fetch("/no/such/page")
        self.assertEqual(response.code, 404)
        self.assertIn("We could not find that page", response.body.decode())

    def test_healthz(self):
        response = self.fetch("/healthz")
        self.assertEqual(response.code, 200)
        self.assertEqual(json.loads(response.body), {"status": "ok"})
        self.assertEqual(response.headers["Content-Type"], "application/json; charset=UTF-8")
        self.assertEqual(response.headers["Cache-Control"], "no-store")
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")

    def test_post_without_xsrf_token_is_refused(self):
        response = self.fetch("/", method="POST", body="")
        self.assertEqual(response.code, 403)

    def test_requests_in_flight_are_counted_for_the_drain(self):
        seen = []

        class Probe(BaseHandler):
            def get(self):
                seen.append(self.application.requests_in_flight)
                self.write("ok")

        self._app.add_handlers(r".*", [(r"/probe", Probe)])
        self.assertEqual(self.fetch("/probe").code, 200)
        self.assertEqual(seen, [1])  # counted while it runs...
        self.assertEqual(self._app.requests_in_flight, 0)  # ...and no longer once finished

    def test_access_log_counts_successes_and_logs_errors_at_once(self):
        log_function = self._app.settings["log_function"]
        with self.assertNoLogs("tornado.access", level="INFO"):
            for _ in range(3):
                self.fetch("/")
        with self.assertLogs("tornado.access", level="WARNING") as logged:
            self.fetch("/missing?q=1")
        self.assertIn("404 GET /missing?q=1 (127.0.0.1)", logged.output[0])
        with self.assertLogs("tornado.access", level="INFO") as logged:
            log_function.flush()
        self.assertEqual(len(logged.output), 1, logged.output)
        self.assertIn("200 GET MainHandler: 3 requests, mean ", logged.output[0])
        with self.assertNoLogs("tornado.access", level="INFO"):
            log_function.flush()  # counted once: nothing left

    def test_successful_health_probes_stay_out_of_the_access_log(self):
        log_function = self._app.settings["log_function"]
        with self.assertNoLogs("tornado.access", level="INFO"):
            for _ in range(3):
                self.assertEqual(self.fetch("/healthz").code, 200)
            log_function.flush()  # not counted either
        self._app.settings["log_function"] = AccessLog(slow=0.0)
        with self.assertLogs("tornado.access", level="INFO") as logged:
            self.fetch("/healthz")
        self.assertIn("200 GET /healthz (127.0.0.1)", logged.output[0])  # a slow one is

    def test_access_log_all_writes_a_line_per_request(self):
        self._app.settings["log_function"] = AccessLog(every_request=True)
        with self.assertLogs("tornado.access", level="INFO") as logged:
            self.fetch("/healthz")
            self.fetch("/?page=2")
        self.assertIn("200 GET /healthz (127.0.0.1)", logged.output[0])
        self.assertIn("200 GET /?page=2 (127.0.0.1)", logged.output[1])

    def test_slow_requests_get_their_own_line(self):
        self._app.settings["log_function"] = AccessLog(slow=0.0)
        with self.assertLogs("tornado.access", level="INFO") as logged:
            self.fetch("/")
        self.assertIn("200 GET / (127.0.0.1)", logged.output[0])

    def test_pages_have_no_etag_but_static_files_do(self):
        self.assertNotIn("Etag", self.fetch("/").headers)
        self.assertIn("Etag", self.fetch("/static/css/style.css").headers)

    def test_static_urls_are_built_once(self):
        from handlers.static import StaticFileHandler

        first = self.fetch("/").body
        with mock.patch.object(StaticFileHandler, "get_version") as get_version:
            self.assertEqual(self.fetch("/").body, first)
        get_version.assert_not_called()


class HeaderTestCase(AsyncHTTPTestCase):
    """The header shows, after its links, the UI modules the enabled modules name in it."""

    def get_app(self):
        class Greeting(tornado.web.UIModule):
            def render(self) -> str:
                return '<span class="greeting">Hi</span>'

        app = make_app(cookie_secret="test-secret")
        app.ui_modules["Greeting"] = Greeting
        app.settings["header"] = [*app.settings["header"], "Greeting"]
        return app

    def test_a_module_adds_its_part_to_the_header(self):
        body = self.fetch("/").body.decode()
        nav = body[body.index("<nav>") : body.index("</nav>")]
        self.assertTrue(nav.rstrip().endswith('<span class="greeting">Hi</span>'), nav)


class CookieFlagsTestCase(AsyncHTTPTestCase):
    """Every cookie the app sets: SameSite=Lax, HttpOnly but _xsrf, Secure over HTTPS."""

    def get_app(self):
        class Cookies(BaseHandler):
            def get(self):
                self.set_cookie("plain", "1")
                self.write(self.xsrf_token)  # sets the _xsrf cookie

        app = make_app(cookie_secret="test-secret")
        app.add_handlers(r".*", [(r"/cookies", Cookies)])
        return app

    def get_httpserver_options(self):
        return {"xheaders": True}  # as behind a TLS proxy run with --xheaders

    def cookies(self, **headers):
        response = self.fetch("/cookies", headers=headers)
        self.assertEqual(response.code, 200)
        found = response.headers.get_list("Set-Cookie")
        return {line.split("=", 1)[0]: line.lower() for line in found}

    def test_flags_over_http(self):
        cookies = self.cookies()
        self.assertIn("samesite=lax", cookies["plain"])
        self.assertIn("httponly", cookies["plain"])
        self.assertIn("samesite=lax", cookies["_xsrf"])
        self.assertNotIn("httponly", cookies["_xsrf"])  # a script may need to send it back
        self.assertNotIn("secure", cookies["plain"] + cookies["_xsrf"])

    def test_secure_over_https(self):
        cookies = self.cookies(**{"X-Forwarded-Proto": "https"})
        self.assertIn("; secure", cookies["plain"])
        self.assertIn("; secure", cookies["_xsrf"])


class ServerLimitsTestCase(AsyncTestCase):
    """The server as server.serve() starts it, with the limits of server.py."""

    @gen_test
    async def test_a_body_that_never_comes_is_cut_off(self):
        sock, port = bind_unused_port()
        sock.close()  # serve() binds the port itself
        with mock.patch.object(options.mockable(), "body_timeout", 0.2):
            http = server.serve(make_app(cookie_secret="test-secret"), port)
        try:
            stream = await TCPClient().connect("127.0.0.1", port)
            await stream.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart")
            started = time.monotonic()
            await asyncio.wait_for(stream.read_until_close(), 5)  # the server hangs up
            self.assertLess(time.monotonic() - started, 2)
        finally:
            http.stop()
            await http.close_all_connections()
