"""A line echo server (tornado.tcpserver.TCPServer): every line comes back byte for byte.

Each connection is bounded: a line longer than ``max_line_length`` closes it, and so does
``idle_timeout`` seconds without a complete line.
"""

import asyncio
import logging
import time
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError

from connections import LimitedServer

log = logging.getLogger(__name__)


def fitting_lines_end(data: bytes, end: int, max_line: int) -> int:
    """How many bytes of the complete lines ``data[:end]`` form lines of at most ``max_line``.

    Jumps from newline to newline through windows of ``max_line`` bytes, so the cost grows with
    ``end / max_line``, not with the number of lines.
    """
    start = 0
    while end - start > max_line:
        newline = data.rfind(b"\n", start, start + max_line)
        if newline < 0:
            return start  # the line at ``start`` is too long
        start = newline + 1
    return end


def peer_name(address: Any) -> str:
    """``host:port`` for an IP peer, the raw address otherwise (Unix sockets)."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address) or "unix socket"


class EchoServer(LimitedServer):
    """Echoes every line it receives; ``close()`` stops it and closes every open connection.

    ``max_line_length`` counts the newline. ``idle_timeout`` (seconds, ``None`` or 0 for none)
    closes a connection that sends no complete line for that long, including a client that stops
    reading its echoes. Other keyword arguments (``max_buffer_size``, ``read_chunk_size``) go
    to `tornado.tcpserver.TCPServer`; ``limit()`` caps the connections (connections.py).
    """

    def __init__(
        self,
        max_line_length: int = 64 * 1024,
        idle_timeout: float | None = 300.0,
        **kwargs: Any,
    ) -> None:
        if max_line_length < 1:
            raise ValueError("max_line_length must be at least 1")
        if idle_timeout is not None and idle_timeout < 0:
            raise ValueError("idle_timeout must not be negative")
        super().__init__(**kwargs)
        self.max_line_length = max_line_length
        self.idle_timeout = idle_timeout or None
        # Open stream -> monotonic time of its last complete line. One periodic sweep closes the
        # idle ones: cheaper than arming and cancelling a timeout for every line.
        self._streams: dict[IOStream, float] = {}
        self._sweeper: PeriodicCallback | None = None
        self._all_closed: asyncio.Event | None = None

    @property
    def open_connections(self) -> int:
        return len(self._streams)

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        # Echoes are small writes: without TCP_NODELAY a client that sends a line before the
        # previous echo is acknowledged waits on Nagle's algorithm and its own delayed ACK.
        stream.set_nodelay(True)
        streams = self._streams
        clock = time.monotonic
        streams[stream] = clock()
        if self._sweeper is None and self.idle_timeout:
            # Started here, not in __init__, so it runs on the loop that serves the connections.
            interval = min(self.idle_timeout / 4, 1.0)
            self._sweeper = PeriodicCallback(self._close_idle, interval * 1000)
            self._sweeper.start()
        # Read whatever has arrived and write back every complete line in it at once: lines that
        # arrive together leave in one send, where a read_until() per line costs a send (and with
        # TCP_NODELAY a packet) per line. The hot path uses locals only and never logs.
        read = stream.read_bytes
        write = stream.write
        chunk_size = stream.read_chunk_size  # already fitted to max_buffer_size by IOStream
        max_line = self.max_line_length
        partial = b""  # the start of a line whose newline has not arrived yet
        try:
            while True:
                data = await read(chunk_size, partial=True)
                end = data.rfind(b"\n") + 1  # complete lines are data[:end]
                if partial:
                    data = partial + data
                    if end:
                        end += len(partial)
                if end:
                    streams[stream] = clock()  # idle means: no complete line
                    # Only a span longer than a line may hold a line that is too long.
                    if end > max_line:
                        fits = fitting_lines_end(data, end, max_line)
                        if fits < end:
                            if fits:
                                await write(data[:fits])
                            break
                    partial = data[end:]
                    await write(data[:end] if partial else data)
                else:
                    partial = data
                if len(partial) >= max_line:  # its newline can only come too late
                    break
            log.info("Closed %s: line longer than %d bytes", peer_name(address), max_line)
        except StreamClosedError:
            # The client went away, or we closed the stream (idle timeout, shutdown).
            log.debug("Connection from %s closed", peer_name(address))
        finally:
            del streams[stream]
            stream.close()
            if not streams and self._all_closed is not None:
                self._all_closed.set()

    def _close_idle(self) -> None:
        deadline = time.monotonic() - self.idle_timeout  # type: ignore[operator]
        idle = [stream for stream, last in self._streams.items() if last < deadline]
        for stream in idle:
            log.debug("Closing a connection idle for over %s s", self.idle_timeout)
            stream.close()  # its handler wakes with StreamClosedError and cleans up

    async def close(self) -> None:
        """Stop listening, close every open connection and wait until their handlers are done."""
        self.stop()
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper = None
        if not self._streams:
            return
        if self._all_closed is None:  # a second caller just waits with the first
            self._all_closed = asyncio.Event()
            for stream in list(self._streams):
                stream.close()
        await self._all_closed.wait()
