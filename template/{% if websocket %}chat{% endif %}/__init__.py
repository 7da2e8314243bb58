"""The chat module: a WebSocket chat room at /chat (the page) and /ws (the socket).

``protocol.py`` holds the protocol (its frames, what clients may send), ``handlers.py`` the
two handlers, ``room.py`` the room (members, delivery, presence) and the store that keeps it
in this process's memory, ``redis_room.py`` the store that shares it through Redis with every
process and machine that uses it, ``tuning.py`` what big rooms need. Below: the module's
options and its part in app.py.
"""

import logging
import os
from typing import Any
from urllib.parse import urlsplit

import tornado.web
from tornado.options import define, options

import modules
import server
from chat.handlers import ChatHandler, ChatSocketHandler, parse_origins
from chat.protocol import MAX_FRAME
from chat.room import MemoryStore, Room, Store

define(
    "redis_url",
    default="",
    help="Redis shared by every process and machine of the chat, e.g. redis://127.0.0.1:6379/0"
    " (env REDIS_URL); without it the room lives in this one process",
)
define("chat_history", default=50, type=int, help="messages kept for joiners and reconnects")
define("chat_rate", default=5.0, type=float, help="messages a second per connection; 0: no limit")
define(
    "ws_allowed_origins",
    default="",
    help="comma-separated origins allowed to open /ws besides the site's own (default: none)",
)
define("ws_ping_interval", default=20.0, type=float, help="seconds between WebSocket pings; 0: off")
define(
    "ws_max_message_size",
    default=64 * 1024,
    type=int,
    help="largest WebSocket message in bytes; a bigger one closes the socket with 1009",
)
define(
    "ws_max_pending_bytes",
    default=1024 * 1024,
    type=int,
    help="unsent output a connection may hold, bytes; a reader further behind is dropped",
)

log = logging.getLogger(__name__)


def redis_url() -> str:
    """--redis_url, else the REDIS_URL environment variable; empty: no Redis."""
    return options.redis_url or os.environ.get("REDIS_URL", "")


def make_store() -> Store:
    """Where the room is kept: in Redis when there is one, else in this process's memory."""
    url = redis_url()
    if not url:
        return MemoryStore()
    # Imported only here: redis takes longer to import than Tornado, and not every app uses it.
    from chat.redis_room import RedisStore

    return RedisStore(url)


def make_room() -> Room:
    """The room this process serves."""
    return Room(make_store(), options.chat_history, options.ws_ping_interval)


class Chat(modules.Module):
    """The chat's part in app.py: its pages, settings and room (``app.chat_room``)."""

    nav = (("Chat", "chat"),)

    def check(self) -> None:
        try:
            parse_origins(options.ws_allowed_origins)  # a typo must not allow nothing, or all
        except ValueError as error:
            raise ValueError(f"--ws_allowed_origins: {error}") from None
        url = redis_url()
        if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            # The URL may hold a password: name its scheme only.
            scheme = urlsplit(url).scheme or "none"
            raise ValueError(f"--redis_url must be redis://, rediss:// or unix://, not {scheme!r}")
        if not url and options.processes != 1:
            raise ValueError(
                f"--processes={options.processes} needs --redis_url (or REDIS_URL): without"
                " Redis each process would hold a chat room of its own"
            )
        if not 1 <= options.chat_history <= 10_000 or options.chat_rate < 0:
            raise ValueError("--chat_history must be 1 to 10000 and --chat_rate at least 0")
        history = options.chat_history
        if options.ws_max_pending_bytes < (history + 1) * MAX_FRAME:
            raise ValueError(
                f"--ws_max_pending_bytes must hold the history sent to joiners: at least"
                f" {(history + 1) * MAX_FRAME} for --chat_history={history}"
            )

    def routes(self) -> list[tornado.web.URLSpec]:
        return [
            tornado.web.url(r"/chat", ChatHandler, name="chat"),
            tornado.web.url(r"/ws", ChatSocketHandler, name="chat_ws"),
        ]

    def settings(self) -> dict[str, Any]:
        return {
            "chat_rate": options.chat_rate,
            "chat_max_pending": options.ws_max_pending_bytes,
            "websocket_allowed_origins": parse_origins(options.ws_allowed_origins),
            "websocket_max_message_size": options.ws_max_message_size,
        }

    def setup(self, app: server.Application) -> None:
        app.chat_room = make_room()  # one per application; ChatSocketHandler.room reads it

    async def start(self, app: server.Application) -> None:
        await app.chat_room.start()

    async def ready(self, app: server.Application) -> None:
        # The store watches its own connection (Redis); memory is always available.
        if not app.chat_room.available:
            raise ConnectionError("the chat's store (Redis) does not answer")

    async def stop(self, app: server.Application, timeout: float) -> None:
        # HTTPServer.close_all_connections() leaves upgraded WebSockets alone: say "going away".
        if not await app.chat_room.stop(timeout):
            log.warning("Shutdown: some WebSocket clients did not close in time")
