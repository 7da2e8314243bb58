"""Static files: the pages' security headers, and versioned URLs built once per file."""

from typing import Any

import tornado.web

from handlers.security import SecurityHeadersMixin


class StaticFileHandler(SecurityHeadersMixin, tornado.web.StaticFileHandler):
    _urls: dict[tuple[str, str, str, bool], str] = {}

    @classmethod
    def make_static_url(
        cls, settings: dict[str, Any], path: str, include_version: bool = True
    ) -> str:
        # Pages call static_url() several times per render, and a file's version cannot change
        # before a restart unless debug mode turns the hash cache off: build each URL once.
        if not settings.get("static_hash_cache", True):
            return super().make_static_url(settings, path, include_version)
        prefix = settings.get("static_url_prefix", "/static/")
        key = (settings.get("static_path", ""), prefix, path, include_version)
        url = cls._urls.get(key)
        if url is None:
            url = cls._urls[key] = super().make_static_url(settings, path, include_version)
        return url
