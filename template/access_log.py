"""The access log: every request accounted for, at a fraction of a line per request.

Tornado logs one line per request, and formatting and writing it costs about a tenth of a
rendered page's time (tornado-scaffold's benchmarks measured it). By default
(``--access_log=summary``) errors (4xx, 5xx) and slow requests (``--slow_request`` seconds)
still get their own line, as Tornado writes it, while the others are counted: every
``--access_log_interval`` seconds one line per status, method and handler gives their
number, mean and longest time.
Handlers that set ``summarised = False`` (the health probe) are left out of the count: only
their errors and slow requests are logged. ``--access_log=all`` writes a line for every
request instead.
"""

import logging
from typing import Any

import tornado.web
from tornado.log import access_log
from tornado.options import define


def _check_mode(mode: str) -> None:
    if mode not in ("summary", "all"):
        raise ValueError(f"expected summary or all, got {mode!r}")


define(
    "access_log",
    default="summary",
    help="summary: a line per error or slow request, the others counted; all: every request",
    callback=_check_mode,
)
define("access_log_interval", default=60.0, type=float, help="seconds between summary lines")
define("slow_request", default=1.0, type=float, help="seconds from which a request is logged alone")


class AccessLog:
    """The application's ``log_function``; ``flush()`` writes the summary lines."""

    def __init__(self, every_request: bool = False, slow: float = 1.0) -> None:
        self.every_request = every_request
        self.slow = slow
        # (status, method, handler class) -> [requests, total seconds, longest seconds]
        self.counts: dict[tuple[int, str, str], list[Any]] = {}

    def __call__(self, handler: tornado.web.RequestHandler) -> None:
        status = handler.get_status()
        request = handler.request
        seconds = request.request_time()
        if self.every_request or status >= 400 or seconds >= self.slow:
            self.line(handler, status, seconds)
            return
        if not getattr(handler, "summarised", True):
            return
        # The key names the handler, not the path: a client cannot grow this table.
        key = (status, request.method or "", type(handler).__name__)
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = [1, seconds, seconds]
        else:
            entry[0] += 1
            entry[1] += seconds
            if seconds > entry[2]:
                entry[2] = seconds

    def line(self, handler: tornado.web.RequestHandler, status: int, seconds: float) -> None:
        """Tornado's own line; the path alone for handlers whose query holds secrets."""
        level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
        if not access_log.isEnabledFor(level):
            return
        request = handler.request
        target = request.uri if getattr(handler, "log_query", True) else request.path
        access_log.log(
            level,
            "%d %s %s (%s) %.2fms",
            status,
            request.method,
            target,
            request.remote_ip,
            1000.0 * seconds,
        )

    def flush(self) -> None:
        counts, self.counts = self.counts, {}
        for (status, method, name), (requests, total, longest) in sorted(counts.items()):
            access_log.info(
                "%d %s %s: %d request%s, mean %.2fms, max %.2fms",
                status,
                method,
                name,
                requests,
                "" if requests == 1 else "s",
                1000.0 * total / requests,
                1000.0 * longest,
            )
