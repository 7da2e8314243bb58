"""Connection caps: no client can take every file descriptor the process may open.

Each open connection holds a file descriptor, and a process may hold only so many
(``ulimit -n``, RLIMIT_NOFILE). Without a cap, one client opening idle connections takes them
all: accept() then fails with EMFILE on every turn of the event loop, and nothing else,
/healthz included, can be served. ``LimitedServer`` is a `tornado.tcpserver.TCPServer` that:

- caps its open connections in total and per client address (IPv6 clients by their /64
  network, which one client usually holds whole); a connection over a cap is closed as soon as
  it is accepted, before anything is read, or, for a few over the total (``reserve``), handed
  to ``over_cap()`` so that an HTTP server can answer 503;
- counts the refusals and logs them in one line a second at most;
- pauses accepting for a moment when the process is out of file descriptors anyway (other
  files, another server's connections) instead of failing in a loop.
"""

import errno
import functools
import ipaddress
import logging
import socket
from collections.abc import Iterable
from typing import Any

import tornado.tcpserver
from tornado import gen
from tornado.ioloop import IOLoop
from tornado.iostream import IOStream
from tornado.log import app_log

log = logging.getLogger(__name__)

ACCEPT_BATCH = 128  # connections accepted per readiness event, as Tornado does
OUT_OF_FILES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
PAUSE = 0.1  # seconds without accepting after running out of file descriptors


def file_limit() -> int:
    """How many files this process may open (its soft RLIMIT_NOFILE)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit, but sockets are not free either
        return 4096
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 1 << 20 if soft == resource.RLIM_INFINITY else soft


def connection_budget() -> int:
    """The file descriptors client connections may use: the file limit, less an eighth and 64
    more for everything else (log files, Redis and database connections, static files being
    sent, the event loop's own)."""
    limit = file_limit()
    return max(8, limit - limit // 8 - 64)


def address_key(address: Any) -> str:
    """What the per-address cap counts: the IPv4 address, or the IPv6 /64 network."""
    if not isinstance(address, tuple) or not address:
        return ""  # a Unix socket: no address to tell clients apart
    if len(address) == 2:  # (host, port): IPv4, already in its one spelling
        return address[0]
    try:
        ip = ipaddress.ip_address(address[0])
    except ValueError:
        return str(address[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Refusals:
    """Counts refused connections (and failed accepts) by reason; one line a second at most.

    A reason reads after its count: "connection(s) refused: over --max_connections (120)".
    """

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        self.total = 0  # since the start
        self._counts: dict[str, int] = {}

    def add(self, reason: str) -> None:
        self.total += 1
        if not self._counts:  # the first in this second: write the summary a second from now
            IOLoop.current().call_later(1.0, self.flush)
        self._counts[reason] = self._counts.get(reason, 0) + 1

    def flush(self) -> None:
        counts, self._counts = self._counts, {}
        if counts:
            log.warning(
                "%s, in the last second: %s",
                self.server_name,
                "; ".join(f"{count} {reason}" for reason, count in counts.items()),
            )


class Connection(IOStream):
    """A client connection: gives its place under the caps back when it closes."""

    key = ""  # address_key() of the client
    over_cap = False  # accepted in the reserve, over the total cap
    release: Any = None  # set by LimitedServer

    def close_fd(self) -> None:
        try:
            super().close_fd()
        finally:
            if self.release is not None:
                self.release(self)
                self.release = None


class LimitedServer(tornado.tcpserver.TCPServer):
    """A TCPServer with connection caps, set by ``limit()`` (none until it is called).

    ``stream_class`` (a `Connection` subclass) is what accepted sockets become.
    """

    stream_class: type[Connection] = Connection

    def limit(
        self,
        name: str,
        max_connections: int = 0,
        max_per_address: int = 0,
        reserve: int = 0,
        option: str = "max_connections",
    ) -> None:
        """Cap open connections at ``max_connections`` in all and ``max_per_address`` per
        client address (0: no cap); ``name`` and ``option`` (``--{option}``,
        ``--{option}_per_ip``) say in the log lines which server and cap refused."""
        self.refusals = Refusals(name)
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.reserve = reserve if max_connections else 0
        self._reasons = (
            f"connection(s) refused: over --{option} ({max_connections})",
            f"connection(s) refused: over --{option}_per_ip ({max_per_address} from one address)",
            f"connection(s) over --{option} ({max_connections}) answered 503 (or /healthz)",
        )

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        if self.ssl_options is not None:  # Tornado's own accept path would skip the caps
            raise ValueError("LimitedServer serves plain TCP: terminate TLS in front of it")
        if not hasattr(self, "refusals"):
            self.limit(type(self).__name__)
        if not hasattr(self, "_listening"):
            self.connection_count = 0
            self._per_address: dict[str, int] = {}
            self._listening: dict[int, socket.socket] = {}
        loop = IOLoop.current()
        for sock in sockets:
            self._listening[sock.fileno()] = sock
            loop.add_handler(sock, functools.partial(self._accept, sock), IOLoop.READ)

    def stop(self) -> None:
        super().stop()
        loop = IOLoop.current()
        if not hasattr(self, "_listening"):
            return  # never served
        for sock in self._listening.values():
            loop.remove_handler(sock)
            sock.close()
        self._listening.clear()
        self.refusals.flush()

    def over_cap(self, stream: Connection, address: Any) -> None:
        """A connection accepted in the reserve, over the total cap: closed here; an HTTP
        server answers it instead."""
        stream.close()

    def _accept(self, sock: socket.socket, _fd: Any, _events: int) -> None:
        for _ in range(ACCEPT_BATCH):  # then let other work run; the rest come next turn
            if sock.fileno() not in self._listening:
                return  # stopped
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                return  # every waiting connection is accepted
            except ConnectionAbortedError:
                continue  # gone while it waited
            except OSError as error:
                if error.errno not in OUT_OF_FILES:
                    raise
                # The waiting connections stay queued; accepting resumes in a moment.
                self.refusals.add(f"accept() failure(s): {error.strerror} (paused {PAUSE} s each)")
                loop = IOLoop.current()
                loop.remove_handler(sock)
                loop.call_later(PAUSE, self._resume, sock)
                return
            self._admit(connection, address)

    def _resume(self, sock: socket.socket) -> None:
        if sock.fileno() in self._listening:  # not stopped meanwhile
            IOLoop.current().add_handler(sock, functools.partial(self._accept, sock), IOLoop.READ)

    def _admit(self, connection: socket.socket, address: Any) -> None:
        key = address_key(address)
        over_total = self.max_connections and self.connection_count >= self.max_connections
        if over_total and self.connection_count >= self.max_connections + self.reserve:
            reason = self._reasons[0]
        elif self.max_per_address and self._per_address.get(key, 0) >= self.max_per_address:
            reason = self._reasons[1]
        else:
            reason = ""
        if reason:
            connection.close()
            self.refusals.add(reason)
            return
        try:
            stream = self.stream_class(
                connection,
                max_buffer_size=self.max_buffer_size,
                read_chunk_size=self.read_chunk_size,
            )
        except OSError:  # reset before it could be set up
            connection.close()
            return
        self.connection_count += 1
        self._per_address[key] = self._per_address.get(key, 0) + 1
        stream.key = key
        stream.release = self._release
        if over_total:
            stream.over_cap = True
            self.refusals.add(self._reasons[2])
            self.over_cap(stream, address)
            return
        try:
            future = self.handle_stream(stream, address)
            if future is not None:
                IOLoop.current().add_future(gen.convert_yielded(future), lambda f: f.result())
        except Exception:
            app_log.error("Error in connection callback", exc_info=True)

    def _release(self, stream: Connection) -> None:
        self.connection_count -= 1
        left = self._per_address[stream.key] - 1
        if left:
            self._per_address[stream.key] = left
        else:
            del self._per_address[stream.key]
