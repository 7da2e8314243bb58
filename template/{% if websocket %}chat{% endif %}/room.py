"""The chat room as one process sees it: its members, the recent messages, the broadcast.

A message goes ``ChatSocketHandler.on_message`` -> ``Room.post`` -> ``Room.deliver`` -> every
member's ``ChatSocketHandler.send``. ``Room`` keeps the room in this process's memory, enough
for one process. ``RedisRoom`` (chat/redis_room.py) stores messages and presence in Redis
instead, so that every process of every machine using it is one room; it reuses the rest.
"""

import asyncio
import json
import logging
import re
import time
from collections import Counter, deque
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from chat.tuning import HeapFreezer, RoomPinger

if TYPE_CHECKING:
    from chat.handlers import ChatSocketHandler

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 0.5  # seconds: at most one join/leave frame per member in this time
PRESENCE_NAMES = 10  # names listed in one join/leave frame; "more" counts the others

MessageKey = tuple[int, int]  # a message id, comparable: (milliseconds, sequence)
_MESSAGE_ID = re.compile(r"(\d{1,20})-(\d{1,20})", re.ASCII)


class RoomUnavailable(Exception):
    """The room cannot store messages right now (its Redis is unreachable): not stored."""


class RoomUnconfirmed(RoomUnavailable):
    """The store did not answer: the message may have been stored. Posting it again with the
    same ``key`` stores it once at most."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


def parse_id(value: str) -> MessageKey:
    """The key of a message id "<milliseconds>-<sequence>" (Redis stream ids look the same)."""
    match = _MESSAGE_ID.fullmatch(value)
    if match is None:
        raise ValueError(f"{value[:40]!r} is not a message id like 1700000000000-0")
    return int(match[1]), int(match[2])


def encode(frame: dict[str, Any]) -> str:
    # UTF-8 as is, not \uXXXX escapes: a frame is then no larger than the text it carries.
    return json.dumps(frame, ensure_ascii=False)


def message_frame(message_id: str, name: str, text: str, signed_in: bool) -> dict[str, Any]:
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


class Room:
    """The room of one application, kept in this process (an application has one room).

    ``history`` recent messages are kept for whoever joins, and for pages that reconnect:
    they receive the messages after the last one they had, up to that many, in order.
    """

    def __init__(self, history: int = 50, ping_interval: float = 0.0) -> None:
        self.members: set[ChatSocketHandler] = set()
        # Connections here per display name, and per name key of the signed-in: a name joins
        # the room with its first connection and leaves it with its last.
        self.names: Counter[str] = Counter()
        self.signed_in: Counter[str] = Counter()
        self.history = history
        self.recent: deque[tuple[MessageKey, dict[str, Any]]] = deque(maxlen=history)
        self.available = True  # whether messages can be stored: always, in memory
        self.presence_interval = PRESENCE_INTERVAL
        self.count = 0  # members of the whole room, as last announced
        self.pinger = RoomPinger(self.members, ping_interval)
        self.heap = HeapFreezer()
        self._last_key: MessageKey = (0, 0)
        self._joined: list[str] = []  # joins and leaves not yet announced to the members
        self._left: list[str] = []
        self._recount = False  # whether the count may have changed since the last frame
        self._announcer: asyncio.Task[None] | None = None
        self._next_announcement = 0.0

    async def start(self) -> None:
        """Called once the server listens; nothing to connect to here."""

    async def stop(self, timeout: float) -> bool:
        """Close every member (1001: going away); False if some did not answer in time."""
        return await self.close_all(1001, timeout=timeout)

    # Members --------------------------------------------------------------------------

    def join(self, member: "ChatSocketHandler", after: MessageKey | None) -> None:
        """Welcome ``member`` with the messages after ``after`` (None: all kept), then add it."""
        history = [frame for key, frame in self.recent if after is None or key > after]
        welcome = {
            "type": "welcome",
            "name": member.name,
            "history": history,
            "available": self.available,
        }
        if not member.send(encode(welcome)):
            return
        self.members.add(member)
        self.pinger.start()
        self.heap.grew(len(self.members))
        self.names[member.name] += 1
        if member.signed_in:
            self.signed_in[member.key] += 1
            self.give_back(member.key)
        self.publish_presence(joined=[member.name])

    def give_back(self, key: str) -> None:
        """Members here who took this name key before a signed-in member with it came lose it."""
        for other in list(self.members):
            if other.key == key and not other.signed_in:
                other.refuse("name: a signed-in member of the room has it, choose another")

    def leave(self, member: "ChatSocketHandler") -> None:
        if member not in self.members:
            return  # already gone (dropped, or closed during a broadcast)
        self.members.remove(member)
        if not self.members:
            self.pinger.stop()  # an empty room holds no timer
        self.heap.shrank(len(self.members))
        self.names[member.name] -= 1
        if not self.names[member.name]:
            del self.names[member.name]
        if member.signed_in:
            self.signed_in[member.key] -= 1
            if not self.signed_in[member.key]:
                del self.signed_in[member.key]
        self.publish_presence(left=[member.name])

    async def signed_in_as(self, key: str) -> bool:
        """Whether a signed-in member of the room goes by the name with this name key."""
        return key in self.signed_in

    def send_all(self, payload: str) -> None:
        """Queue ``payload`` for every member; each drops out by itself if it cannot keep up."""
        for member in list(self.members):
            member.send(payload)

    async def close_all(
        self, code: int = 1001, reason: str = "server shutting down", timeout: float = 5.0
    ) -> bool:
        """Close every connection with ``code`` and wait for the closing handshakes.

        Returns False if some clients did not answer within ``timeout`` seconds; Tornado
        drops those by itself a few seconds later.
        """
        self.pinger.stop()
        for member in list(self.members):
            member.close(code, reason)
        deadline = time.monotonic() + timeout
        while self.members and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self.members

    # Messages -------------------------------------------------------------------------

    async def post(self, name: str, text: str, signed_in: bool, key: str | None = None) -> None:
        """Store a message and deliver it to the room; RoomUnavailable if it was not stored,
        RoomUnconfirmed if it may have been. (In memory it always is; ``key`` matters to
        stores that can fail.)"""
        self.deliver(self._next_id(), name, text, signed_in)

    def deliver(self, message_id: str, name: str, text: str, signed_in: bool) -> None:
        """Send a stored message to every member, and keep it for those who come later."""
        self.send_all(encode(self.remember(message_id, name, text, signed_in)))

    def remember(self, message_id: str, name: str, text: str, signed_in: bool) -> dict[str, Any]:
        frame = message_frame(message_id, name, text, signed_in)
        self.recent.append((parse_id(message_id), frame))
        return frame

    def _next_id(self) -> str:
        # Like Redis stream ids: milliseconds, then a sequence within the same millisecond.
        milliseconds, sequence = self._last_key
        now = max(int(time.time() * 1000), milliseconds)
        sequence = sequence + 1 if now == milliseconds else 0
        self._last_key = (now, sequence)
        return f"{now}-{sequence}"

    # Presence -------------------------------------------------------------------------

    def publish_presence(self, joined: Iterable[str] = (), left: Iterable[str] = ()) -> None:
        """Tell the whole room about joins and leaves here (in memory: this is the room).

        Called after ``names`` changed: a second tab of the same name joins no one.
        """
        self.presence_changed(
            [name for name in joined if self.names[name] == 1],
            [name for name in left if name not in self.names],
        )

    def presence_changed(self, joined: Iterable[str] = (), left: Iterable[str] = ()) -> None:
        """Joins and leaves in the room: members hear of them, at most once per interval.

        One frame per join would cost a frame per member for every join: a thousand people
        arriving would make a million frames. Batching bounds that to one frame per member
        per ``presence_interval``, whatever the rate of joins.
        """
        self._joined += joined
        self._left += left
        self._recount = True
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.ensure_future(self._announce())

    async def member_count(self) -> int:
        """Members of the whole room."""
        return len(self.members)

    async def _announce(self) -> None:
        loop = asyncio.get_running_loop()
        while self._recount:
            await asyncio.sleep(max(0.0, self._next_announcement - loop.time()))
            joined, left = self._joined, self._left
            self._joined, self._left, self._recount = [], [], False
            count = await self.member_count()
            if not (joined or left) and count == self.count:
                continue  # a recount that changed nothing: no frame
            self.count = count
            more = max(0, len(joined) - PRESENCE_NAMES) + max(0, len(left) - PRESENCE_NAMES)
            frame = {
                "type": "presence",
                "count": self.count,
                "joined": joined[:PRESENCE_NAMES],
                "left": left[:PRESENCE_NAMES],
                "more": more,
            }
            started = loop.time()
            self.send_all(encode(frame))
            # A frame to every member of a big room takes a while (about 25 us each): keep
            # presence to a tenth of the time at most, however fast people come and go.
            spent = loop.time() - started
            self._next_announcement = loop.time() + max(self.presence_interval, 10 * spent)
