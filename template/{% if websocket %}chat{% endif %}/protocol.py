"""The chat protocol: JSON text frames over ``/ws?name=<display name>&after=<message id>``.

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
  key within ``SENT_KEPT`` seconds (five minutes) is not stored again.
- server to the sender of a message with a key, once it is stored: ``{"type": "sent", "key":
  "<its key>", "id": "<its message id>"}``. A page keeps what it sent until then, and sends it
  again under the same key when it reconnects: a message sent as its connection broke (a
  worker killed, a network blip) arrives once, not never and not twice.
- server to every member, the sender included once the message is stored: ``{"type":
  "message", "id": "1700000000000-0", "name": "Alice", "text": "...", "sent_at": "<ISO 8601>",
  "signed_in": false}``. Ids increase: a client may skip ids it already has.
- server to every member, at most every half second: ``{"type": "presence", "count": 12,
  "joined": ["Bob"], "left": [], "more": 0}`` (count: the whole room's connections; more:
  names not listed). A name joins with its first connection in the room, leaves with its last.
- server to every member: ``{"type": "status", "available": false}`` when messages can no
  longer be stored (Redis is away), ``true`` when they can again.
- server to the sender only: ``{"type": "error", "error": "<why>"}``, with ``"text"`` (and
  ``"key"``, if it had one) when a message was not stored: ``"error": "not sent: ..."``, as
  when it came too fast. When the store did not answer in time the message may or may not be
  stored: ``"error": "not confirmed: ...", "unconfirmed": true`` with ``"text"`` and ``"key"``,
  the key to send it again with (it is then stored once at most). The connection stays open.

Limits (chat/handlers.py enforces them and logs each with the client's address): a client
sending faster than ``--chat_rate`` gets an error frame per refused message and is closed
(1008) if it goes on; a client that leaves more than ``--ws_max_pending_bytes``, or
``MAX_WAITING`` frames, unsent is closed (1008) as too slow, whatever other members do; a
message over ``--ws_max_message_size`` gets 1009.

Below: the frames the server sends, built by one function each, and the parsers of what a
client sends. The frames are dicts; ``encode`` makes the text that goes on the wire.
"""

import json
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

MAX_NAME = 32  # characters of a display name
MAX_TEXT = 2000  # characters of a message; the page's input has the same maxlength
# The largest message frame: a character takes at most 6 bytes in JSON (a \u escape), and
# name, id and time add well under 1,000.
MAX_FRAME = 6 * MAX_TEXT + 1000
REFUSED = 4000  # close code: the name or resume id was refused, reconnecting as is won't help
PRESENCE_NAMES = 10  # names listed in one presence frame; "more" counts the others
SENT_KEPT = 300  # seconds a message key is remembered: sent again within them, stored once

Frame = dict[str, Any]
MessageKey = tuple[int, int]  # a message id, comparable: (milliseconds, sequence)
_MESSAGE_ID = re.compile(r"(\d{1,20})-(\d{1,20})", re.ASCII)
_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}", re.ASCII)


def encode(frame: Frame) -> str:
    # UTF-8 as is, not \uXXXX escapes: a frame is then no larger than the text it carries.
    return json.dumps(frame, ensure_ascii=False)


# Frames the server sends ------------------------------------------------------------------


def welcome(name: str, history: list[Frame], available: bool) -> Frame:
    return {"type": "welcome", "name": name, "history": history, "available": available}


def message(message_id: str, name: str, text: str, signed_in: bool) -> Frame:
    """The frame every member receives; sent_at comes from the id, stamped where it is stored."""
    milliseconds = int(message_id.partition("-")[0])
    sent_at = datetime.fromtimestamp(milliseconds / 1000, timezone.utc)
    return {
        "type": "message",
        "id": message_id,
        "name": name,
        "text": text,
        "sent_at": sent_at.isoformat(timespec="milliseconds"),
        "signed_in": signed_in,
    }


def presence(count: int, joined: Sequence[str], left: Sequence[str]) -> Frame:
    """Who joined and left the room, the first PRESENCE_NAMES of each, and the room's count."""
    more = max(0, len(joined) - PRESENCE_NAMES) + max(0, len(left) - PRESENCE_NAMES)
    return {
        "type": "presence",
        "count": count,
        "joined": list(joined[:PRESENCE_NAMES]),
        "left": list(left[:PRESENCE_NAMES]),
        "more": more,
    }


def status(available: bool) -> Frame:
    return {"type": "status", "available": available}


def sent(key: str, message_id: str) -> Frame:
    """To the sender: its message with this key is stored, under this id."""
    return {"type": "sent", "key": key, "id": message_id}


def error(reason: str) -> Frame:
    """To the sender only: a refused name, frame or pace; the connection stays open."""
    return {"type": "error", "error": reason}


def not_sent(reason: str, text: str, key: str | None = None) -> Frame:
    """To the sender: its message was certainly not stored."""
    frame = {"type": "error", "error": f"not sent: {reason}", "text": text}
    return frame if key is None else {**frame, "key": key}


def not_confirmed(reason: str, text: str, key: str) -> Frame:
    """To the sender: its message may be stored; sent again with ``key`` it is stored once."""
    return {
        "type": "error",
        "error": f"not confirmed: {reason}",
        "text": text,
        "key": key,
        "unconfirmed": True,
    }


# What clients send ------------------------------------------------------------------------


def parse_id(value: str) -> MessageKey:
    """The key of a message id "<milliseconds>-<sequence>" (Redis stream ids look the same)."""
    match = _MESSAGE_ID.fullmatch(value)
    if match is None:
        raise ValueError(f"{value[:40]!r} is not a message id like 1700000000000-0")
    return int(match[1]), int(match[2])


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
