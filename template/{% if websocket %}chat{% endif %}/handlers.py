"""The chat's HTTP side: its page at /chat and the WebSocket endpoint at /ws.

Protocol: JSON text frames over ``/ws?name=<display name>&after=<message id>``.

- ``name``: 1 to 32 characters that show (no control, format or blank-looking ones), not
  the name, as read ("Ada" is "ada"), of a signed-in member of the room; ignored for a
  signed-in user, who chats under the name of the sign-in (a visitor who took it first is
  refused then). ``after`` (optional): the id of the last message the page has.
  A refused name or id gets an error frame, then the close code 4000: do not retry as is.
- server to the new member: ``{"type": "welcome", "name": "<the name used>", "history":
  [<message frames>], "available": true}``: the last ``--chat_history`` messages, or with
  ``after`` the ones after it (up to that many), oldest first.
- client to server: ``{"text": "...", "key": "<8 to 64 of A-Z a-z 0-9 - _>"}`` (text: at most
  2,000 characters). ``key``, optional, names the message: a message sent again with the same
  key within a few minutes is not stored again (a page resends what was not confirmed).
- server to every member, the sender included once the message is stored: ``{"type":
  "message", "id": "1700000000000-0", "name": "Alice", "text": "...", "sent_at": "<ISO 8601>",
  "signed_in": false}``. Ids increase: a client may skip ids it already has.
- server to every member, at most every half second: ``{"type": "presence", "count": 12,
  "joined": ["Bob"], "left": [], "more": 0}`` (count: the whole room's connections; more:
  names not listed). A name joins with its first connection in the room, leaves with its last.
- server to every member: ``{"type": "status", "available": false}`` when messages can no
  longer be stored (Redis is away), ``true`` when they can again.
- server to the sender only: ``{"type": "error", "error": "<why>"}``, with ``"text"`` when a
  message was not stored: ``"error": "not sent: ..."``. When the store did not answer in time
  the message may or may not be stored: ``"error": "not confirmed: ...", "unconfirmed": true``
  with ``"text"`` and ``"key"``, the key to send it again with (it is then stored once at most).
  The connection stays open.

Limits, each logged with the client's address: a client sending faster than ``--chat_rate``
gets an error frame per refused message and is closed (1008) if it goes on; a client that
leaves more than ``--ws_max_pending_bytes``, or ``MAX_WAITING`` frames, unsent is closed (1008)
as too slow, whatever other members do; a message over ``--ws_max_message_size`` gets 1009.
"""

import asyncio
import json
import logging
import re
import time
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

import tornado.iostream
import tornado.websocket

from chat.room import Room, RoomUnavailable, RoomUnconfirmed, encode, parse_id
from handlers.base import BaseHandler

log = logging.getLogger(__name__)

MAX_NAME = 32  # characters of a display name
MAX_TEXT = 2000  # characters of a message; the page's input has the same maxlength
REFUSED = 4000  # close code: the name or resume id was refused, reconnecting as is won't help
# Frames a client may leave waiting in the server, besides --ws_max_pending_bytes: each also
# holds a write future and a task, about 1.6 KiB, so a million small error replies would
# otherwise cost gigabytes for a megabyte of output.
MAX_WAITING = 1000
_DEFAULT_PORTS = {"http": 80, "https": 443}
_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}", re.ASCII)


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


# Printable characters that show nothing: Hangul fillers, the blank Braille pattern, the
# combining grapheme joiner, Khmer inherent vowels, variation selectors. A name made of them,
# or hiding them beside letters ("Ada" + a filler), would pass for another, or for no one.
_BLANK = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u2800\u3164\uffa0") | frozenset(
    map(chr, [*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)])
)


def visible(name: str) -> bool:
    """Whether every character of ``name`` can be seen and something is: no control or format
    character (right-to-left override...), no blank-looking one, one letter, digit or sign."""
    return (
        name.isprintable()
        and _BLANK.isdisjoint(name)
        and any(unicodedata.category(c)[0] in "LNPS" for c in name)
    )


def shorten(name: str) -> str:
    """``name`` cut to MAX_NAME characters, with an ellipsis where it was cut."""
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1].rstrip() + "\u2026"


def name_key(name: str) -> str:
    """What two names that read the same share: "Ada", "ada" and "Ａｄａ" are one name."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def parse_name(name: str) -> str:
    """A display name a visitor chose; ValueError with a reason the page can show."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"name: choose 1 to {MAX_NAME} characters")
    if not visible(name):
        raise ValueError("name: letters, digits, punctuation and spaces only")
    return name


def signed_in_name(name: str) -> str:
    """The name of a signed-in user (from the provider) as the chat shows it: what cannot be
    seen (format characters such as U+202E, blank-looking ones) is dropped, a long one cut."""
    kept = "".join(c for c in name if c.isprintable() and c not in _BLANK)
    kept = " ".join(kept.split())
    return shorten(kept) if visible(kept) else "user"


def parse_chat_message(message: str | bytes) -> tuple[str, str | None]:
    """The text and key of a client frame; ValueError with a reason the client can read."""
    if isinstance(message, bytes):
        raise ValueError("binary frames are not accepted: send JSON text")
    try:
        data = json.loads(message)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValueError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ValueError('message must be a JSON object like {"text": "..."}')
    text = data.get("text")
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    if not text.strip():
        raise ValueError('"text" must not be empty')
    if len(text) > MAX_TEXT:
        raise ValueError(f'"text" must be at most {MAX_TEXT} characters')
    key = data.get("key")
    if key is not None and not (isinstance(key, str) and _KEY.fullmatch(key)):
        raise ValueError('"key" must be 8 to 64 letters, digits, "-" or "_"')
    return text, key


class RateLimit:
    """A token bucket: ``rate`` messages per second on average, bursts of twice as many."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.tokens = self.burst
        self.stamp = time.monotonic()
        self.refused = 0  # refusals since the last message allowed

    def allow(self) -> bool:
        now = time.monotonic()
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
        # ACKs hold some back for 40 ms (tornado-scaffold's bench/chat.py measured it).
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
        self.send(encode({"type": "error", "error": reason}))
        self.close(REFUSED, "refused")

    async def on_message(self, message: str | bytes) -> None:
        # Tornado reads this connection's next frame once this returns: a sender waits for
        # its message to be stored, and its messages keep their order.
        if not self.name:
            return  # refused at open, closing
        self.awaiting_pong = False
        if not self.allowed():
            return
        try:
            text, key = parse_chat_message(message)
        except ValueError as error:
            self.send(encode({"type": "error", "error": str(error)}))
            return
        try:
            await self.room.post(self.name, text, self.signed_in, key)
        except RoomUnconfirmed as error:
            frame = {"error": f"not confirmed: {error}", "text": text, "key": error.key}
            self.send(encode({"type": "error", **frame, "unconfirmed": True}))
        except RoomUnavailable as error:
            self.send(encode({"type": "error", "error": f"not sent: {error}", "text": text}))

    def allowed(self) -> bool:
        """Whether this frame is within --chat_rate; every frame counts, valid or not."""
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
        self.send(encode({"type": "error", "error": f"slow down: at most {limit:g} a second"}))
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
