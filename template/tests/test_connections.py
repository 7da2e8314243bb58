"""Connection caps (connections.py) and the HTTP server's answers at its limits (server.py)."""

import asyncio
import errno
import logging
import socket
import sys
import time
from unittest import mock

import pytest
import tornado.websocket
from tornado.iostream import IOStream
from tornado.options import options
from tornado.tcpclient import TCPClient
from tornado.testing import AsyncTestCase, bind_unused_port, gen_test

import server
from app import make_app, run
from connections import LimitedServer, address_key, connection_budget, file_limit

HEAD = b"GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"


class Waiter(LimitedServer):
    """Holds every connection open until the client goes."""

    async def handle_stream(self, stream, address):
        await stream.read_until_close()


class ServerTestCase(AsyncTestCase):
    """Starts servers on unused ports; stops them and closes the clients' streams after."""

    def setUp(self):
        super().setUp()
        self.client = TCPClient()
        self.streams: list[IOStream] = []
        self.servers: list[LimitedServer] = []

    def tearDown(self):
        for stream in self.streams:
            stream.close()
        self.client.close()
        for limited in self.servers:
            limited.stop()
        super().tearDown()

    def start(self, limited: LimitedServer, sock: socket.socket | None = None) -> int:
        port = 0
        if sock is None:
            sock, port = bind_unused_port()
        limited.add_sockets([sock])
        self.servers.append(limited)
        return port or sock.getsockname()[1]

    async def connect(self, port: int) -> IOStream:
        stream = await self.client.connect("127.0.0.1", port)
        self.streams.append(stream)
        return stream

    async def until(self, condition, timeout: float = 2.0) -> None:
        """Let the loop run until ``condition()`` holds: the server side is asynchronous."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.assertLess(time.monotonic(), deadline, "condition not met in time")
            await asyncio.sleep(0.005)


class ConnectionsTestCase(ServerTestCase):
    @gen_test
    async def test_per_address_cap_closes_the_next_connection_at_once(self):
        limited = Waiter()
        limited.limit("test server", max_per_address=2)
        port = self.start(limited)
        await self.connect(port)
        second = await self.connect(port)
        third = await self.connect(port)
        self.assertEqual(await third.read_until_close(), b"")
        self.assertEqual(limited.connection_count, 2)
        self.assertEqual(limited.refusals.total, 1)
        second.close()  # its place comes back
        await self.until(lambda: limited.connection_count == 1)
        fourth = await self.connect(port)
        await self.until(lambda: limited.connection_count == 2)
        self.assertFalse(fourth.closed())

    @gen_test
    async def test_total_cap_and_one_summary_line_for_the_refusals(self):
        limited = Waiter()
        limited.limit("test server", max_connections=1)
        port = self.start(limited)
        await self.connect(port)
        for _ in range(3):
            refused = await self.connect(port)
            self.assertEqual(await refused.read_until_close(), b"")
        with self.assertLogs("connections", logging.WARNING) as logged:
            limited.refusals.flush()  # what the timer does a second after the first refusal
            limited.refusals.flush()  # nothing new: no line
        self.assertEqual(
            logged.output,
            [
                "WARNING:connections:test server, in the last second: "
                "3 connection(s) refused: over --max_connections (1)"
            ],
        )

    @gen_test
    async def test_out_of_file_descriptors_pauses_accepting_then_resumes(self):
        failures = [errno.EMFILE] * 3

        class Exhausted(socket.socket):
            def accept(self):
                if failures:
                    raise OSError(failures.pop(), "Too many open files")
                return super().accept()

        listening, port = bind_unused_port()
        limited = Waiter()
        self.start(limited, Exhausted(fileno=listening.detach()))
        started = time.monotonic()
        await self.connect(port)
        await self.until(lambda: limited.connection_count == 1)
        self.assertEqual(failures, [])
        self.assertGreaterEqual(time.monotonic() - started, 0.2)  # paused after each failure
        self.assertEqual(limited.refusals.total, 3)

    def test_address_key_groups_ipv6_clients_by_their_64_network(self):
        self.assertEqual(address_key(("203.0.113.7", 1234)), "203.0.113.7")
        self.assertEqual(address_key(("::ffff:203.0.113.7", 1, 0, 0)), "203.0.113.7")
        self.assertEqual(address_key(("2001:db8:1:2:a::1", 1, 0, 0)), "2001:db8:1:2::/64")
        self.assertEqual(address_key(("2001:db8:1:2:b::9", 1, 0, 0)), "2001:db8:1:2::/64")
        self.assertEqual(address_key(""), "")  # a Unix socket

    def test_defaults_leave_room_for_other_files(self):
        self.assertLess(connection_budget(), file_limit())
        self.assertGreater(connection_budget(), 0)


class HTTPLimitsTestCase(ServerTestCase):
    async def ask(self, port: int, path: str) -> bytes:
        stream = await self.connect(port)
        await stream.write(HEAD % path.encode())
        return await stream.read_until_close()

    @gen_test
    async def test_over_the_total_cap_healthz_answers_and_the_rest_gets_503(self):
        http = server.HTTPServer(make_app(cookie_secret="test-secret"))
        http.limit("HTTP server", max_connections=2, reserve=2)
        port = self.start(http)
        for _ in range(2):
            await self.connect(port)  # idle, at the cap
        health = await self.ask(port, "/healthz")
        self.assertTrue(health.startswith(b"HTTP/1.1 200 OK\r\n"), health)
        self.assertTrue(health.endswith(b'{"status": "ok"}'))
        refused = await self.ask(port, "/")
        self.assertTrue(refused.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), refused)
        self.assertIn(b"\r\nRetry-After: 1\r\n", refused)
        # The reserve full (two more idle connections over the cap): closed unanswered.
        for _ in range(2):
            await self.connect(port)
        await self.until(lambda: http.connection_count == 4)
        closed = await self.connect(port)
        self.assertEqual(await closed.read_until_close(), b"")

    @gen_test
    async def test_a_websocket_counts_under_the_cap_until_it_closes(self):
        class Echo(tornado.websocket.WebSocketHandler):
            def on_message(self, message):
                self.write_message(message)

        app = make_app(cookie_secret="test-secret")
        app.add_handlers(r".*", [(r"/echo", Echo)])
        http = server.HTTPServer(app)
        http.limit("HTTP server", max_connections=1, reserve=1)
        port = self.start(http)
        ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/echo")
        await ws.write_message("upgraded")
        self.assertEqual(await ws.read_message(), "upgraded")
        self.assertEqual(http.connection_count, 1)  # the upgraded connection still counts
        refused = await self.ask(port, "/")
        self.assertTrue(refused.startswith(b"HTTP/1.1 503 "), refused)
        ws.close()
        await self.until(lambda: http.connection_count == 0)
        self.assertTrue((await self.ask(port, "/")).startswith(b"HTTP/1.1 200 OK"))

    def test_serve_sets_the_caps_from_the_options_but_none_per_address_behind_a_proxy(self):
        app = make_app(cookie_secret="test-secret")
        for xheaders, per_address in [(False, 7), (True, 0)]:
            with (
                mock.patch.object(options.mockable(), "xheaders", xheaders),
                mock.patch.object(options.mockable(), "max_connections", 40),
                mock.patch.object(options.mockable(), "max_connections_per_ip", 7),
            ):
                http = server.serve(app, 0)  # any free port
            self.servers.append(http)
            self.assertEqual((http.max_connections, http.max_per_address), (40, per_address))
            self.assertEqual(http.health_path, "/healthz")

    @gen_test
    async def test_a_request_head_over_max_header_size_gets_431(self):
        http = server.HTTPServer(make_app(cookie_secret="test-secret"), max_header_size=4096)
        port = self.start(http)
        stream = await self.connect(port)
        head = b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
        await stream.write(head)
        answer = await stream.read_until_close()
        self.assertTrue(
            answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), answer[:80]
        )
        self.assertTrue(answer.endswith(b"\r\n\r\n431: request header fields too large"))
        stream.close()  # the server stops discarding what it sends, and closes too
        await self.until(lambda: http.connection_count == 0)  # its place is given back
        # A head within the limit is served as before.
        self.assertTrue((await self.ask(port, "/healthz")).startswith(b"HTTP/1.1 200 OK"))


@pytest.mark.parametrize("option", ["max_connections", "max_connections_per_ip"])
def test_a_negative_cap_is_refused_naming_the_option(option, monkeypatch, capsys):
    monkeypatch.setattr(options.mockable(), option, getattr(options, option))  # restored after
    monkeypatch.setattr(sys, "argv", ["app.py", f"--{option}=-1"])
    with pytest.raises(SystemExit) as stopped:
        run()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"error: --{option}: expected 0 (no cap) or more, got -1\n"
