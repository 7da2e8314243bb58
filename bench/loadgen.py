"""Load clients (asyncio, on uvloop when installed): HTTP keep-alive, TCP line echo, WebSocket.

Independent of the code under test: raw sockets and a minimal WebSocket framing of its own.
Each sub-command prints one JSON object on its last line. Run it pinned to its own core.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import socket
import struct
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24  # Linux: choose the source port at connect(), not at bind()


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def open_socket(host: str, port: int, source: str | None) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if source:
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, port))
    return sock


# --- HTTP -------------------------------------------------------------------------------


async def http_conn(args, deadline: float, lat: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(args.host, args.port)
    extra = "".join(f"{h}\r\n" for h in args.header)
    request = f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n{extra}\r\n".encode()
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
            lat.append(time.perf_counter() - start)
    finally:
        writer.close()


def rate(lat: list[float], start: float) -> dict:
    """Throughput since ``start`` and latency percentiles of ``lat`` (seconds)."""
    elapsed = time.perf_counter() - start
    return {
        "rps": len(lat) / elapsed,
        "p50_ms": percentile(lat, 50) * 1e3,
        "p99_ms": percentile(lat, 99) * 1e3,
    }


async def http_main(args) -> dict:
    lat: list[float] = []
    errors = [0]
    start = time.perf_counter()
    deadline = start + args.duration
    await asyncio.gather(*(http_conn(args, deadline, lat, errors) for _ in range(args.connections)))
    return {**rate(lat, start), "requests": len(lat), "errors": errors[0]}


# --- TCP line echo ------------------------------------------------------------------------


class EchoClient(asyncio.Protocol):
    def __init__(self, deadline: float, lat: list[float], done: asyncio.Future) -> None:
        self.deadline, self.lat, self.done, self.buf = deadline, lat, done, b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        self.start = time.perf_counter()
        self.transport.write(b"hello bench\n")

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\n" in self.buf:
            self.buf = self.buf.split(b"\n", 1)[1]
            now = time.perf_counter()
            self.lat.append(now - self.start)
            if now < self.deadline:
                self.send()
            else:
                self.transport.close()

    def connection_lost(self, exc) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def tcp_main(args) -> dict:
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    start = time.perf_counter()
    deadline = start + args.duration
    waits = []
    for _ in range(args.connections):
        done = loop.create_future()
        sock = await open_socket(args.host, args.port, None)
        await loop.create_connection(lambda d=done: EchoClient(deadline, lat, d), sock=sock)
        waits.append(done)
    await asyncio.wait_for(asyncio.gather(*waits), args.duration + 10)
    return {**rate(lat, start), "round_trips": len(lat)}


# --- WebSocket ------------------------------------------------------------------------------


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 requires clients to mask)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


class WsClient(asyncio.Protocol):
    """Holds one connection; counts text frames carrying the tag the hub waits for."""

    def __init__(self, hub: Hub, request: bytes) -> None:
        self.hub, self.request, self.buf, self.open = hub, request, b"", False
        self.handshake: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError("closed during handshake"))
        if self.open:
            self.hub.lost += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.open:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            ok = self.buf.startswith(b"HTTP/1.1 101")
            self.buf = self.buf[end + 4 :]
            self.open = ok
            if ok:
                self.handshake.set_result(None)
            else:
                self.handshake.set_exception(ConnectionError("upgrade refused"))
                self.transport.close()
                return
        while len(self.buf) >= 2:
            opcode, n, at = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            if len(self.buf) < at + n:
                return
            payload, self.buf = self.buf[at : at + n], self.buf[at + n :]
            self.hub.frame(self, opcode, payload)


class ChatRun:
    """The "chat" command: every connection sends ``count`` messages, each one once its
    previous one has come back (one in flight per sender), and counts every delivery."""

    def __init__(self, clients: list[WsClient], tag: str, count: int) -> None:
        self.tag, self.count = tag, count
        self.marks = {c: f'"{tag}-{i}-'.encode() for i, c in enumerate(clients)}
        self.sent = dict.fromkeys(clients, 0)
        self.started: dict[WsClient, float] = {}
        self.lat: list[float] = []
        self.delivered = 0
        self.unfinished = len(clients)
        self.done = asyncio.Event()

    def send(self, client: WsClient) -> None:
        self.sent[client] += 1
        self.started[client] = time.perf_counter()
        mark = self.marks[client].decode()[1:]
        text = f"{mark}{self.sent[client]}"
        client.transport.write(ws_frame(1, json.dumps({"text": text}).encode()))

    def frame(self, client: WsClient, payload: bytes) -> None:
        self.delivered += 1
        if self.marks[client] not in payload:
            return  # someone else's message
        self.lat.append(time.perf_counter() - self.started[client])
        if self.sent[client] < self.count:
            self.send(client)
        else:
            self.unfinished -= 1
            if not self.unfinished:
                self.done.set()


class Hub:
    def __init__(self) -> None:
        self.clients: list[WsClient] = []
        self.tag: bytes | None = None
        self.seen = 0
        self.last = 0.0
        self.all_seen: asyncio.Event | None = None
        self.pong: asyncio.Future | None = None
        self.lost = 0
        self.chat: ChatRun | None = None

    def frame(self, client: WsClient, opcode: int, payload: bytes) -> None:
        if opcode == 1 and self.chat is not None and self.chat.tag.encode() in payload:
            self.chat.frame(client, payload)
        elif opcode == 1 and self.tag is not None and self.tag in payload:
            self.seen += 1
            self.last = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
            if self.seen >= len(self.clients) and self.all_seen:
                self.all_seen.set()
        elif opcode == 9:
            client.transport.write(ws_frame(10, payload))
        elif opcode == 10 and self.pong and not self.pong.done():
            self.pong.set_result(None)


async def ws_connect(hub: Hub, args, request: bytes) -> bool:
    loop = asyncio.get_running_loop()
    try:
        sock = await open_socket(args.host, args.port, args.source)
        _, client = await loop.create_connection(lambda: WsClient(hub, request), sock=sock)
        await asyncio.wait_for(client.handshake, 30)
    except (OSError, ConnectionError, asyncio.TimeoutError):
        return False
    hub.clients.append(client)
    return True


async def ws_main(args) -> None:
    """Open ``count`` connections, then obey commands on stdin, one JSON reply each."""
    loop = asyncio.get_running_loop()
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    hub = Hub()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj: dict) -> None:
        print(json.dumps(obj), flush=True)

    while True:
        line = await asyncio.wait_for(reader.readline(), 600)
        if not line:
            break
        cmd, *rest = line.decode().split()
        if cmd == "open":  # open N more connections, at most `concurrency` handshakes at once
            want, failed, start = int(rest[0]), 0, time.perf_counter()
            gate = asyncio.Semaphore(args.concurrency)

            async def one(gate: asyncio.Semaphore = gate) -> bool:
                async with gate:
                    return await ws_connect(hub, args, request)

            results = await asyncio.gather(*(one() for _ in range(want)))
            failed = results.count(False)
            reply(
                {"open": len(hub.clients), "failed": failed, "seconds": time.perf_counter() - start}
            )
        elif cmd == "expect":  # count the next frames carrying this tag
            hub.tag, hub.seen, hub.last, hub.all_seen = rest[0].encode(), 0, 0.0, asyncio.Event()
            reply({"expecting": rest[0]})
        elif cmd == "send":  # chat message from the first connection
            sent = time.monotonic()
            body = json.dumps({"text": rest[0]}).encode()
            hub.clients[0].transport.write(ws_frame(1, body))
            reply({"sent": sent})
        elif cmd == "wait":
            with_timeout = float(rest[0])
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(hub.all_seen.wait(), with_timeout)
            reply({"seen": hub.seen, "of": len(hub.clients), "last": hub.last})
        elif cmd == "ping":  # sequential ping/pong round trips on the first connection
            lat = []
            for i in range(int(rest[0])):
                hub.pong = loop.create_future()
                start = time.perf_counter()
                hub.clients[0].transport.write(ws_frame(9, b"%d" % i))
                await asyncio.wait_for(hub.pong, 5)
                lat.append(time.perf_counter() - start)
            reply(
                {
                    "p50_ms": percentile(lat, 50) * 1e3,
                    "p99_ms": percentile(lat, 99) * 1e3,
                    "max_ms": max(lat) * 1e3,
                }
            )
        elif cmd == "chat":  # chat COUNT TAG: see ChatRun; one reply when all are back
            hub.chat = run = ChatRun(hub.clients, rest[1], int(rest[0]))
            start = time.perf_counter()
            for client in hub.clients:
                run.send(client)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(run.done.wait(), 120)
            elapsed = time.perf_counter() - start
            reply(
                {
                    "messages": len(run.lat),
                    "delivered": run.delivered,
                    "seconds": elapsed,
                    "p50_ms": percentile(run.lat, 50) * 1e3,
                    "p99_ms": percentile(run.lat, 99) * 1e3,
                    "finished": not run.unfinished,
                }
            )
            hub.chat = None
        elif cmd == "quit":
            break
    for client in hub.clients:
        client.transport.abort()


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    for name in ("http", "tcp", "ws"):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--connections", type=int, default=50)
        p.add_argument("--duration", type=float, default=5.0)
        p.add_argument("--path", default="/")
        p.add_argument("--header", action="append", default=[])
        p.add_argument("--source", default=None, help="source address, e.g. 127.0.0.2")
        p.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    runner = {"http": http_main, "tcp": tcp_main, "ws": ws_main}[args.kind]
    loop = new_loop()
    try:
        result = loop.run_until_complete(runner(args))
    finally:
        loop.close()
    if result is not None:
        result["uvloop"] = "uvloop" in type(loop).__module__
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
