"""Security headers on pages, static files and error pages."""

from tornado.testing import AsyncHTTPTestCase

from app import make_app
from handlers.security import SECURITY_HEADERS


class SecurityHeadersTest(AsyncHTTPTestCase):
    def get_app(self):
        return make_app(cookie_secret="test-secret")

    def assert_secured(self, path, code):
        response = self.fetch(path)
        self.assertEqual(response.code, code)
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(response.headers.get(name), value, f"{name} on {path}")

    def test_page(self):
        self.assert_secured("/", 200)

    def test_static_file(self):
        self.assert_secured("/static/css/style.css", 200)

    def test_error_page(self):
        self.assert_secured("/missing", 404)

    def test_policy_allows_only_own_files(self):
        policy = SECURITY_HEADERS["Content-Security-Policy"]
        self.assertIn("default-src 'none'", policy)
        self.assertIn("script-src 'self'", policy)
        self.assertNotIn("unsafe-inline", policy)
        self.assertNotIn("*", policy)

    def test_pages_have_no_inline_scripts_or_styles(self):
        body = self.fetch("/").body.decode()
        self.assertNotIn("<script>", body)
        self.assertNotIn(" style=", body)
        self.assertNotIn(" onclick=", body)
