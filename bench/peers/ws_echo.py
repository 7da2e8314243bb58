"""Peer: a minimal Tornado WebSocket server; /ws broadcasts like the chat, /echo echoes.

python ws_echo.py PORT [asyncio|uvloop]
"""

import asyncio
import json
import sys

import tornado.web
import tornado.websocket
from loops import run

clients: set = set()


class Chat(tornado.websocket.WebSocketHandler):
    def open(self) -> None:
        clients.add(self)

    def on_close(self) -> None:
        clients.discard(self)

    def on_message(self, message) -> None:
        out = json.dumps({"type": "message", "text": json.loads(message)["text"]})
        for client in clients:
            client.write_message(out)


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message) -> None:
        self.write_message(message)


async def main() -> None:
    app = tornado.web.Application([(r"/ws", Chat), (r"/echo", Echo)])
    app.listen(int(sys.argv[1]), "127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main(), sys.argv[2] if len(sys.argv) > 2 else "asyncio")
