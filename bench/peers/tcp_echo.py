"""Peer: a minimal tornado.tcpserver.TCPServer echoing newline-terminated lines.

python tcp_echo.py PORT [asyncio|uvloop]
"""

import asyncio
import sys

from loops import run
from tornado.iostream import StreamClosedError
from tornado.tcpserver import TCPServer


class Echo(TCPServer):
    async def handle_stream(self, stream, address) -> None:
        try:
            while True:
                stream.write(await stream.read_until(b"\n"))
        except StreamClosedError:
            pass


async def main() -> None:
    Echo().listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(), sys.argv[2] if len(sys.argv) > 2 else "asyncio")
