"""The HTTP server as production needs it: request limits, the access log, graceful shutdown.

``app.py`` builds the application; this module serves it. Every limit a client could push
is set here on purpose rather than inherited (Tornado accepts 100 MB bodies by default).
"""

import asyncio
import contextlib
import copy
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
import tornado.httputil
import tornado.netutil
import tornado.options
import tornado.web
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import UnsatisfiableReadError
from tornado.options import define, options

import connections
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


def _check_cap(cap: int) -> None:
    if cap < 0:
        raise ValueError(f"expected 0 (no cap) or more, got {cap}")


# Three quarters of the file descriptors left for connections (connections.py); the TCP echo
# server, where there is one, has the last quarter.
define(
    "max_connections",
    default=connections.connection_budget() * 3 // 4,
    type=int,
    help="open HTTP and WebSocket connections per process (default from ulimit -n); 0: no cap",
    callback=_check_cap,
)
define(
    "max_connections_per_ip",
    default=connections.connection_budget() * 3 // 16,
    type=int,
    help="open HTTP connections per client address (IPv6: per /64); 0: no cap; off with --xheaders",
    callback=_check_cap,
)


try:
    # uvloop runs the same asyncio code faster: 10 to 15% more requests per second in
    # tornado-scaffold's benchmarks. requirements.txt installs it where it is supported.
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
    modules: tuple[Any, ...] = ()  # the optional modules (app.py's MODULES), for /readyz

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


# A request head over --max_header_size gets this answer before the connection closes.
HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"Content-Type: text/plain; charset=UTF-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\n"
    b"431: request header fields too large"
)
LINGER = 2.0  # seconds to discard what a client still sends after a 431, so it reads the 431
OVER_CAP_TIMEOUT = 5.0  # seconds for a connection over --max_connections to send its request


class HTTPConnection(connections.Connection):
    """A client connection of the HTTP server: a request head too large is answered with 431.

    Tornado closes such a connection without a word: the head read fails inside the stream.
    Here the stream answers as it closes, then reads and discards for a moment what the client
    still sends: closing with unread data resets the connection, losing the 431.
    """

    reading_head = False
    lingering = False

    def read_until_regex(self, regex: bytes, max_bytes: int | None = None) -> Any:
        self.reading_head = True  # Tornado reads request heads, and only them, this way
        return super().read_until_regex(regex, max_bytes)

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> Any:
        self.reading_head = False  # the framing of a chunked body
        return super().read_until(delimiter, max_bytes)

    def close(self, exc_info: Any = False) -> None:
        if (
            isinstance(exc_info, UnsatisfiableReadError)
            and self.reading_head
            and not self.closed()
            and not self.writing()  # nothing of an earlier response still to send
        ):
            try:
                self.socket.send(HEAD_TOO_LARGE)
                self.socket.shutdown(socket.SHUT_WR)
                self.lingering = True
            except OSError:
                pass  # the client is gone
        super().close(exc_info)

    def close_fd(self) -> None:
        if not self.lingering:
            return super().close_fd()
        sock, self.socket = self.socket, None
        release, self.release = self.release, None
        loop = IOLoop.current()

        def done() -> None:
            loop.remove_handler(sock)
            timeout.cancel()  # or it ran
            sock.close()
            if release is not None:
                release(self)

        def discard(_fd: Any, _events: int) -> None:
            for _ in range(16):  # then let other work run
                try:
                    if not sock.recv(65536):
                        break  # the client closed its side
                except BlockingIOError:
                    return
                except OSError:
                    break
            else:
                return
            done()

        timeout = asyncio.get_running_loop().call_later(LINGER, done)
        loop.add_handler(sock, discard, IOLoop.READ)


class OverCapDelegate(tornado.httputil.HTTPMessageDelegate):
    """A request on a connection over --max_connections: the health probe is answered as
    usual, anything else with 503; the connection then closes."""

    def __init__(
        self, delegate: tornado.httputil.HTTPMessageDelegate, connection: Any, health: str
    ):
        self.delegate = delegate
        self.connection = connection
        self.health = health
        self.passing = False

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Any:
        if start_line.path.partition("?")[0] == self.health:
            self.passing = True
            return self.delegate.headers_received(start_line, headers)
        body = b"503: too many connections, try again later"
        self.connection.write_headers(
            tornado.httputil.ResponseStartLine("HTTP/1.1", 503, "Service Unavailable"),
            tornado.httputil.HTTPHeaders(
                {
                    "Content-Type": "text/plain; charset=UTF-8",
                    "Content-Length": str(len(body)),
                    "Retry-After": "1",
                }
            ),
            body,
        )
        self.connection.finish()
        return None

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk) if self.passing else None

    def finish(self) -> None:
        if self.passing:
            self.delegate.finish()

    def on_connection_close(self) -> None:
        if self.passing:
            self.delegate.on_connection_close()


class HTTPServer(connections.LimitedServer, tornado.httpserver.HTTPServer):
    """Tornado's HTTPServer with connection caps (--max_connections...) and 431 answers.

    WebSockets are HTTP connections upgraded: the caps count them too. Over the total cap, a
    few connections more (the reserve) are read: /healthz is answered, anything else gets 503.
    """

    stream_class = HTTPConnection
    health_path = "/healthz"

    def over_cap(self, stream: connections.Connection, address: Any) -> None:
        # One request, read within a few seconds, then closed: the reserve frees up quickly.
        params, self.conn_params = self.conn_params, copy.copy(self.conn_params)
        self.conn_params.no_keep_alive = True
        self.conn_params.header_timeout = self.conn_params.body_timeout = OVER_CAP_TIMEOUT
        try:
            self.handle_stream(stream, address)
        finally:
            self.conn_params = params

    def start_request(self, server_conn: Any, request_conn: Any) -> Any:
        delegate = super().start_request(server_conn, request_conn)
        if server_conn.stream.over_cap:
            return OverCapDelegate(delegate, request_conn, self.health_path)
        return delegate


def serve(app: Application, port: int) -> HTTPServer:
    """Start serving ``app`` on ``port`` with the limits above."""
    server = HTTPServer(
        app,
        xheaders=options.xheaders,
        max_body_size=options.max_body_size,
        max_header_size=options.max_header_size,
        body_timeout=options.body_timeout,
        idle_connection_timeout=options.idle_connection_timeout,
    )
    # Behind a proxy every connection comes from the proxy: the proxy caps clients instead.
    per_ip = 0 if options.xheaders else options.max_connections_per_ip
    total = options.max_connections
    reserve = max(4, min(64, total // 32))  # over the cap: /healthz and 503 answers
    server.limit("HTTP server", total, per_ip, reserve)
    with contextlib.suppress(KeyError):  # the route app.py names "health"
        server.health_path = app.reverse_url("health")
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


async def drain(server: HTTPServer, app: Application, timeout: float) -> None:
    """Let requests in flight finish within ``timeout`` seconds, then close every connection."""
    if not await app.drain(timeout):
        log.warning("Shutdown timeout: closing %d unfinished request(s)", app.requests_in_flight)
    await server.close_all_connections()
    log_function = app.settings.get("log_function")
    if isinstance(log_function, AccessLog):
        log_function.flush()  # what was counted since the last summary line
