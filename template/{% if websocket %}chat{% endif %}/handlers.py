"""The chat's HTTP side: its page at /chat and the WebSocket endpoint at /ws.

The frames the socket reads and writes are in chat/protocol.py; the limits it documents are
enforced here, each logged with the client's address (logger ``chat.handlers``).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from urllib.parse import urlsplit

import tornado.iostream
import tornado.websocket

from chat import protocol
from chat.protocol import (
    MAX_NAME,
    MAX_TEXT,
    REFUSED,
    encode,
    name_key,
    parse_chat_message,
    parse_id,
    parse_name,
    signed_in_name,
)
from chat.room import Room, RoomUnavailable, RoomUnconfirmed
from handlers.base import BaseHandler, check_session

log = logging.getLogger(__name__)

# Frames a client may leave waiting in the server, besides --ws_max_pending_bytes: each also
# holds a write future and a task, about 1.6 KiB, so a million small error replies would
# otherwise cost gigabytes for a megabyte of output.
MAX_WAITING = 1000
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` as browsers send it in Origin; None if it is not one."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None  # "null" (sandboxed pages, file:), "example.com" without a scheme...
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


def parse_origins(value: str | Iterable[str]) -> frozenset[str]:
    """Allowed origins from a comma-separated string (the command line) or an iterable.

    Raises ValueError naming an entry that is not an http(s) origin, so a typo cannot
    silently allow nothing, or everything.
    """
    items = value.split(",") if isinstance(value, str) else value
    origins = set()
    for item in filter(str.strip, items):
        origin = normalize_origin(item)
        if origin is None:
            raise ValueError(f"{item.strip()!r} is not an origin like https://example.com")
        origins.add(origin)
    return frozenset(origins)


class RateLimit:
    """A token bucket: ``rate`` messages per second on average, bursts of twice as many."""

    clock = staticmethod(time.monotonic)  # (a test stops it, to send a burst on a slow machine)

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.tokens = self.burst
        self.stamp = self.clock()
        self.refused = 0  # refusals since the last message allowed

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            self.refused += 1
            return False
        self.tokens -= 1
        self.refused = 0
        return True


def retrieve_exception(future: "asyncio.Future[None]") -> None:
    # A peer that vanished mid-write fails its future; nobody awaits it, so read the
    # exception here to keep asyncio from logging "exception was never retrieved".
    if not future.cancelled():
        future.exception()


class ChatHandler(BaseHandler):
    """The chat page; static/js/chat.js connects it to /ws."""

    def get(self) -> None:
        user = self.current_user
        name = signed_in_name(user["name"]) if user else ""
        self.render("chat.html", chat_name=name, max_name=MAX_NAME, max_text=MAX_TEXT)


class ChatSocketHandler(tornado.websocket.WebSocketHandler):
    """One chat connection: joins the room on open, leaves it on close."""

    name = ""  # display name, set once the connection has joined
    signed_in = False
    awaiting_pong = False  # set by the room's ping, cleared by its pong or a message
    rate: RateLimit | None = None  # made on the first message: idle members cost nothing
    waiting = 0  # frames written in a row while earlier output still waited to be sent

    # The signed-in user, read from the same signed cookie as every page (handlers/base.py).
    get_current_user = BaseHandler.get_current_user

    def prepare(self) -> Awaitable[None] | None:
        return check_session(self)  # with sign-in on a database: is the session current?

    @property
    def room(self) -> Room:
        return self.application.chat_room  # made by chat.Chat.setup()

    def check_origin(self, origin: str) -> bool:
        # Keep Tornado's same-origin rule (browsers do not apply it to WebSockets) and
        # accept only the extra origins listed with --ws_allowed_origins.
        if super().check_origin(origin):
            return True
        allowed = self.settings.get("websocket_allowed_origins", frozenset())
        normalized = normalize_origin(origin)
        return normalized is not None and normalized in allowed

    async def open(self, *args: str, **kwargs: str) -> None:
        # Unsent output waits in this connection's stream: Tornado's IOStream refuses writes
        # past max_write_buffer_size (StreamBufferFullError), which send() turns into a drop,
        # as it does past MAX_WAITING frames.
        self.ws_connection.stream.max_write_buffer_size = self.settings["chat_max_pending"]
        # Chat frames are small and wanted now: without this, Nagle's algorithm and delayed
        # ACKs can hold some back for tens of milliseconds.
        self.set_nodelay(True)
        try:
            user = self.get_current_user()  # (current_user would keep a copy per socket)
            after = self.get_argument("after", "")
            resume = parse_id(after) if after else None
            if user:
                name, self.signed_in = signed_in_name(user["name"]), True
            else:
                name = parse_name(self.get_argument("name", ""))
                if await self.room.signed_in_as(name_key(name)):
                    raise ValueError("name: a signed-in member of the room has it, choose another")
        except ValueError as error:
            self.refuse(str(error))
            return
        if self.ws_connection is None or self.ws_connection.is_closing():
            return  # the client left while the room was asked about its name
        self.name = name
        self.room.join(self, resume)

    @property
    def key(self) -> str:
        """What the room compares names by (a property: big rooms count every attribute)."""
        return name_key(self.name)

    def refuse(self, reason: str) -> None:
        """Tell the client why it cannot join (or stay), and close: 4000, do not retry as is."""
        self.room.leave(self)
        self.name = ""
        self.send(encode(protocol.error(reason)))
        self.close(REFUSED, "refused")

    async def on_message(self, message: str | bytes) -> None:
        # Tornado reads this connection's next frame once this returns: a sender waits for
        # its message to be stored, and its messages keep their order.
        if not self.name:
            return  # refused at open, closing
        self.awaiting_pong = False
        try:
            text, key = parse_chat_message(message)
        except ValueError as error:
            if self.allowed():
                self.send(encode(protocol.error(str(error))))
            return
        if not self.allowed(text, key):
            return
        try:
            message_id = await self.room.post(self.name, text, self.signed_in, key)
        except RoomUnconfirmed as error:
            self.send(encode(protocol.not_confirmed(str(error), text, error.key)))
        except RoomUnavailable as error:
            self.send(encode(protocol.not_sent(str(error), text, key)))
        else:
            if key is not None:  # the page may stop keeping it
                self.send(encode(protocol.sent(key, message_id)))

    def allowed(self, text: str | None = None, key: str | None = None) -> bool:
        """Whether this frame is within --chat_rate; every frame counts, valid or not. A
        refused message (``text``) is answered "not sent", with its text and key."""
        limit = self.settings["chat_rate"]
        if not limit:
            return True
        if self.rate is None:
            self.rate = RateLimit(limit)
        if self.rate.allow():
            return True
        if self.rate.refused == 1:
            log.warning("Chat: %s sends faster than %g/s", self.request.remote_ip, limit)
        if self.rate.refused > self.rate.burst:  # it ignores the error frames
            self.drop(1008, "too many messages")
            return False
        reason = f"slow down: at most {limit:g} a second"
        refusal = protocol.error(reason) if text is None else protocol.not_sent(reason, text, key)
        self.send(encode(refusal))
        return False

    def send(self, payload: str) -> bool:
        """Queue ``payload`` for this client; False if it could not (and it was dropped)."""
        try:
            future = self.write_message(payload)
        except tornado.websocket.WebSocketClosedError:
            self.room.leave(self)  # closing already; on_close follows
            return False
        except tornado.iostream.StreamBufferFullError:
            self.drop(1008, "too slow: messages were not read")
            return False
        future.add_done_callback(retrieve_exception)
        if not self.ws_connection.stream.writing():
            if self.waiting:  # (set only when needed: one more attribute costs 1.3 KiB here)
                self.waiting = 0  # all handed to the network: this client keeps up
        elif self.waiting < MAX_WAITING:
            self.waiting += 1
        else:
            self.drop(1008, "too slow: messages were not read")
            return False
        return True

    def drop(self, code: int, reason: str, level: int = logging.WARNING) -> None:
        """Close this connection because of a limit, and say so in the log."""
        log.log(level, "Chat: closing %s (%s): %s", self.request.remote_ip, self.name, reason)
        self.room.leave(self)
        if self.ws_connection is not None:
            # Let the close frame queue behind the unread output (Tornado aborts the
            # connection if the client does not answer it within a few seconds).
            self.ws_connection.stream.max_write_buffer_size = None
        self.close(code, reason)

    def ping_once(self, token: bytes) -> None:
        """The room's keep-alive ping (chat/tuning.py); on_pong clears awaiting_pong."""
        try:
            self.ping(token)
        except tornado.websocket.WebSocketClosedError:
            self.room.leave(self)  # closing already; on_close will follow
            return
        except tornado.iostream.StreamBufferFullError:
            self.drop(1008, "too slow: messages were not read")
            return
        self.awaiting_pong = True

    def on_pong(self, data: bytes) -> None:
        if data == self.room.pinger.token:  # unsolicited pongs prove nothing
            self.awaiting_pong = False

    def on_close(self) -> None:
        self.room.leave(self)
