"""Peer: hello world in N forked processes, each with its own SO_REUSEPORT socket.

The pattern Tornado's documentation gives for several processes, by hand.
``python prefork.py PORT PROCESSES [asyncio|uvloop]``
"""

import asyncio
import os
import signal
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web
from loops import run


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


async def main(port: int) -> None:
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/healthz", Hello)]))
    server.add_sockets(tornado.netutil.bind_sockets(port, "127.0.0.1", reuse_port=True))
    await asyncio.Event().wait()


if __name__ == "__main__":
    port, count = int(sys.argv[1]), int(sys.argv[2])
    loop = sys.argv[3] if len(sys.argv) > 3 else "asyncio"
    children = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            run(main(port), loop)
            sys.exit(0)
        children.append(pid)
    signal.signal(signal.SIGTERM, lambda *_: [os.kill(pid, signal.SIGTERM) for pid in children])
    for _ in children:
        os.wait()
