"""Peer: a minimal hand-written Tornado hello world (start-up and HTTP figures).

python hello.py PORT [asyncio|uvloop]
"""

import asyncio
import sys

import tornado.web
from loops import run


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


async def main() -> None:
    app = tornado.web.Application([(r"/", Hello), (r"/healthz", Hello)])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(), sys.argv[2] if len(sys.argv) > 2 else "asyncio")
