"""Tests for the pages every variant of the project serves."""

import json

from tornado.testing import AsyncHTTPTestCase

from app import PROJECT_NAME, make_app
from handlers.base import BaseHandler


class AppTestCase(AsyncHTTPTestCase):
    def get_app(self):
        return make_app(cookie_secret="test-secret")

    def test_index_renders_project_name(self):
        response = self.fetch("/")
        self.assertEqual(response.code, 200)
        self.assertIn(PROJECT_NAME, response.body.decode())

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

    def test_healthz_successes_stay_out_of_the_access_log(self):
        with self.assertNoLogs("tornado.access", level="INFO"):
            self.fetch("/healthz")
        with self.assertLogs("tornado.access", level="INFO") as logged:
            self.fetch("/")
        self.assertIn("200 GET /", logged.output[0])

    def test_pages_have_no_etag_but_static_files_do(self):
        self.assertNotIn("Etag", self.fetch("/").headers)
        self.assertIn("Etag", self.fetch("/static/css/style.css").headers)

    def test_static_urls_are_built_once(self):
        from unittest import mock

        from handlers.static import StaticFileHandler

        first = self.fetch("/").body
        with mock.patch.object(StaticFileHandler, "get_version") as get_version:
            self.assertEqual(self.fetch("/").body, first)
        get_version.assert_not_called()
