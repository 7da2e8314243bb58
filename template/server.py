"""The HTTP server as production needs it: request limits, the access log, graceful shutdown.

``app.py`` builds the application; this module serves it. Every limit a client could push
is set here on purpose rather than inherited (Tornado accepts 100 MB bodies by default).
"""

import asyncio
import functools
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.options
import tornado.web
from tornado.ioloop import PeriodicCallback
from tornado.options import define, options

from access_log import AccessLog

define("address", default="127.0.0.1", help="address to bind (0.0.0.0 for every interface)")
define("processes", default=1, type=int, help="worker processes sharing the port; 0: one per core")
define("xheaders", default=False, type=bool, help="trust X-Real-IP/X-Forwarded-* from a proxy")
define("shutdown_timeout", default=10.0, type=float, help="seconds to drain requests on shutdown")
define("max_body_size", default=10 * 1024 * 1024, type=int, help="largest request body, bytes")
define("max_header_size", default=64 * 1024, type=int, help="largest request head, bytes")
define("body_timeout", default=60.0, type=float, help="seconds to receive a request body")
define("idle_connection_timeout", default=60.0, type=float, help="close idle keep-alive, seconds")
# Tornado's default backlog (128) drops handshakes in bursts; the kernel caps it at somaxconn.
define("backlog", default=4096, type=int, help="listen queue length for connection bursts")


try:
    # uvloop runs the same asyncio code faster: 10 to 15% more requests per second here
    # (bench/README.md). requirements.txt installs it on the platforms it supports.
    import uvloop
except ImportError:
    uvloop = None


def _check_event_loop(name: str) -> None:
    if name not in ("uvloop", "asyncio"):
        raise ValueError(f"expected uvloop or asyncio, got {name!r}")
    if name == "uvloop" and uvloop is None:
        raise ValueError("uvloop is not installed here: pip install uvloop, or pick asyncio")


define(
    "event_loop",
    default="asyncio" if uvloop is None else "uvloop",
    help="uvloop (the default where installed) or asyncio",
    callback=_check_event_loop,
)

log = logging.getLogger(__name__)


class Application(tornado.web.Application):
    """The Tornado application, counting requests in flight so shutdown can drain them."""

    requests_in_flight = 0  # kept by handlers.base.BaseHandler

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight; False if ``timeout`` ran out first."""
        deadline = time.monotonic() + timeout
        while self.requests_in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return not self.requests_in_flight


def parse_options() -> None:
    """``parse_command_line()``, refusing in one line what it would not take."""
    for arg in sys.argv[1:]:
        name = arg.lstrip("-").partition("=")[0]
        if not arg.startswith("--") or name not in options:
            raise ValueError(f"unknown option {arg!r}: `python app.py --help` lists them")
        try:
            tornado.options.parse_command_line([sys.argv[0], arg], final=False)
        except (tornado.options.Error, ValueError) as error:  # e.g. --port=http
            raise ValueError(f"--{name}: {error}") from None
    options.run_parse_callbacks()


@functools.cache  # once per process, and before forking so every worker signs alike
def cookie_secret() -> str:
    """The secret that signs cookies: from COOKIE_SECRET, else random for this process."""
    secret = os.environ.get("COOKIE_SECRET")
    if secret:
        return secret
    log.warning("COOKIE_SECRET is not set: signed cookies will not survive a restart")
    return secrets.token_urlsafe(32)


def listen(port: int) -> list[socket.socket]:
    """Bound sockets for ``port``; each worker binds its own when there are several.

    A port that is taken or reserved stops the process with one line and status 2.
    """
    try:
        return tornado.netutil.bind_sockets(
            port, options.address, backlog=options.backlog, reuse_port=options.processes != 1
        )
    except OSError as error:
        where = f"{options.address}:{port}"
        print(f"error: cannot listen on {where}: {error.strerror}", file=sys.stderr)
        sys.exit(2)


def serve(app: Application, port: int) -> tornado.httpserver.HTTPServer:
    """Start serving ``app`` on ``port`` with the limits above."""
    server = tornado.httpserver.HTTPServer(
        app,
        xheaders=options.xheaders,
        max_body_size=options.max_body_size,
        max_header_size=options.max_header_size,
        body_timeout=options.body_timeout,
        idle_connection_timeout=options.idle_connection_timeout,
    )
    server.add_sockets(listen(port))
    log_function = app.settings.get("log_function")
    if isinstance(log_function, AccessLog):  # write its summary lines as time goes by
        interval = options.access_log_interval * 1000
        PeriodicCallback(log_function.flush, interval).start()
    return server


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` to the end on the --event_loop."""
    if options.event_loop == "uvloop":
        uvloop.run(main())
    else:
        asyncio.run(main())


def stop_signal() -> asyncio.Event:
    """An event that SIGINT (Ctrl-C) or SIGTERM sets. Call it first thing in ``main()``: a
    signal that arrives while the app starts then stops it cleanly too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    return stop


async def drain(server: tornado.httpserver.HTTPServer, app: Application, timeout: float) -> None:
    """Let requests in flight finish within ``timeout`` seconds, then close every connection."""
    if not await app.drain(timeout):
        log.warning("Shutdown timeout: closing %d unfinished request(s)", app.requests_in_flight)
    await server.close_all_connections()
    log_function = app.settings.get("log_function")
    if isinstance(log_function, AccessLog):
        log_function.flush()  # what was counted since the last summary line
