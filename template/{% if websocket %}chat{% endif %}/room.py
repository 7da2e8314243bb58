"""The chat room: its members here, the recent messages, delivery and presence, over a store.

A message goes ``ChatSocketHandler.on_message`` -> ``Room.post`` -> the store's ``append`` ->
``Room.deliver`` -> every member's ``ChatSocketHandler.send``. The room does the same whatever
keeps the messages; its store keeps them, and the whole room's membership:

- ``MemoryStore`` (below): this process is the whole room, enough for one process.
- ``RedisStore`` (chat/redis_room.py): every process of every machine using one Redis is one room.

Another store is a class with the few methods of ``Store``, handed to ``Room(store)``.
"""

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from typing import Protocol

from chat.protocol import (
    SENT_KEPT,
    Frame,
    MessageKey,
    encode,
    message,
    parse_id,
    presence,
    status,
    welcome,
)
from chat.tuning import HeapFreezer, Pingable, RoomPinger

log = logging.getLogger(__name__)

PRESENCE_INTERVAL = 0.5  # seconds: at most one join/leave frame per member in this time
# Message keys a MemoryStore remembers at most, about 320 bytes each (a page's 32-character
# keys, measured with tracemalloc): 16 MB, five minutes of 166 messages a second.
SENT_KEYS = 50_000


class RoomUnavailable(Exception):
    """The room cannot store messages right now (its Redis is unreachable): not stored."""


class RoomUnconfirmed(RoomUnavailable):
    """The store did not answer: the message may have been stored. Posting it again with the
    same ``key`` stores it once at most."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class Member(Pingable, Protocol):
    """What the room needs of a connection (chat.handlers.ChatSocketHandler is one)."""

    name: str
    signed_in: bool

    @property
    def key(self) -> str: ...

    def send(self, payload: str) -> bool: ...

    def refuse(self, reason: str) -> None: ...

    def close(self, code: int | None = None, reason: str | None = None) -> None: ...


class Store(Protocol):
    """Where a room's messages and its whole membership are kept: another store is these.

    The store tells its room what happens through ``Room.deliver`` (a stored message, in the
    store's order), ``Room.presence_changed`` (who joined or left the whole room),
    ``Room.give_back`` (a name that a member signed in with elsewhere), ``Room.load_history``
    (the recent messages, once they are read) and ``Room.status_changed`` (``available``
    changed).
    """

    available: bool  # whether messages can be stored now

    def attach(self, room: "Room") -> None:
        """Called once by the room this store keeps."""

    async def start(self) -> None:
        """Once the server listens: connect, read, and call the room back from now on."""

    async def stop(self, timeout: float) -> None:
        """Once the members here are closed: end within ``timeout`` seconds if it can."""

    async def append(self, name: str, text: str, signed_in: bool, key: str | None) -> str:
        """Store a message, once per ``key`` for SENT_KEPT seconds; its id (the first one's, for
        a key sent again). RoomUnavailable if it was not stored, RoomUnconfirmed if it may have
        been. The room hears of it through ``deliver``."""
        ...

    def publish_presence(
        self, joined: Iterable[str] = (), left: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        """Connections here of these display names (and signed-in name keys) changed; the
        room's ``names`` and ``signed_in`` already count them."""

    async def signed_in_elsewhere(self, key: str) -> bool:
        """Whether a signed-in member of another process goes by this name key."""
        ...

    async def member_count(self) -> int:
        """Members of the whole room."""
        ...


class MemoryStore:
    """The room in this process's memory: this process is the whole room."""

    available = True  # memory always stores

    def __init__(self) -> None:
        self._last_key: MessageKey = (0, 0)
        # Message key -> (id, when it expires), oldest first; at most SENT_KEYS of them.
        self._sent: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def attach(self, room: "Room") -> None:
        self.room = room
        room.load_history([])  # nothing was stored before this process

    async def start(self) -> None:
        pass

    async def stop(self, timeout: float) -> None:
        pass

    async def append(self, name: str, text: str, signed_in: bool, key: str | None) -> str:
        now = time.monotonic()
        sent = self._sent
        while sent and (len(sent) >= SENT_KEYS or next(iter(sent.values()))[1] < now):
            sent.popitem(last=False)  # expired, or the oldest of too many
        if key is not None and key in sent:
            return sent[key][0]  # sent again (the page reconnected): stored once
        message_id = self._next_id()
        if key is not None:
            sent[key] = (message_id, now + SENT_KEPT)
        self.room.deliver(message_id, name, text, signed_in)  # (memory cannot fail)
        return message_id

    def _next_id(self) -> str:
        # Like Redis stream ids: milliseconds, then a sequence within the same millisecond.
        milliseconds, sequence = self._last_key
        now = max(int(time.time() * 1000), milliseconds)
        sequence = sequence + 1 if now == milliseconds else 0
        self._last_key = (now, sequence)
        return f"{now}-{sequence}"

    def publish_presence(
        self, joined: Iterable[str] = (), left: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        # Here is the whole room: a second tab of the same name joins no one.
        names = self.room.names
        self.room.presence_changed(
            [name for name in joined if names[name] == 1],
            [name for name in left if name not in names],
        )

    async def signed_in_elsewhere(self, key: str) -> bool:
        return False  # there is no elsewhere

    async def member_count(self) -> int:
        return len(self.room.members)


class Room:
    """The room of one application, as this process sees it (an application has one room).

    ``history`` recent messages are kept for whoever joins, and for pages that reconnect:
    they receive the messages after the last one they had, up to that many, in order.
    """

    def __init__(
        self, store: Store | None = None, history: int = 50, ping_interval: float = 0.0
    ) -> None:
        self.members: set[Member] = set()
        # Connections here per display name, and per name key of the signed-in: a name joins
        # the room with its first connection and leaves it with its last.
        self.names: Counter[str] = Counter()
        self.signed_in: Counter[str] = Counter()
        self.history = history
        self.recent: deque[tuple[MessageKey, Frame]] = deque(maxlen=history)
        self.presence_interval = PRESENCE_INTERVAL
        self.count = 0  # members of the whole room, as last announced
        self.pinger = RoomPinger(self.members, ping_interval)
        self.heap = HeapFreezer()
        # Members who joined before the store's history was read, and the id they had: they
        # are sent what it holds for them once it is (None: it has been read).
        self._early: dict[Member, MessageKey | None] | None = {}
        self._stopping = False  # members' leaves are no longer published
        self._joined: list[str] = []  # joins and leaves not yet announced to the members
        self._left: list[str] = []
        self._recount = False  # whether the count may have changed since the last frame
        self._announcer: asyncio.Task[None] | None = None
        self._next_announcement = 0.0
        self.store: Store = MemoryStore() if store is None else store
        self.store.attach(self)

    @property
    def available(self) -> bool:
        """Whether messages can be stored now (Redis may be away)."""
        return self.store.available

    async def start(self) -> None:
        """Called once the server listens."""
        await self.store.start()

    async def stop(self, timeout: float) -> bool:
        """Close every member (1001: going away), then the store; False if some members did
        not answer in time.

        The members' pages reconnect, to another process if there is one: their leaves are
        not published now. A store shared by processes announces whoever does not come back
        (chat/redis_room.py: when this process's lease runs out).
        """
        deadline = time.monotonic() + timeout
        self._stopping = True
        closed = await self.close_all(1001, timeout=timeout)
        await self.store.stop(max(0.0, deadline - time.monotonic()))
        return closed

    # Members --------------------------------------------------------------------------

    def join(self, member: Member, after: MessageKey | None) -> None:
        """Welcome ``member`` with the messages after ``after`` (None: all kept), then add it."""
        history = [frame for key, frame in self.recent if after is None or key > after]
        if not member.send(encode(welcome(member.name, history, self.available))):
            return
        self.members.add(member)
        self.pinger.start()
        self.heap.grew(len(self.members))
        if self._early is not None:  # its welcome could not hold the store's history
            self._early[member] = after
        self.names[member.name] += 1
        keys = [member.key] if member.signed_in else []
        for key in keys:
            self.signed_in[key] += 1
            self.give_back(key)
        self._publish(joined=[member.name], keys=keys)

    def give_back(self, key: str) -> None:
        """Members here who took this name key before a signed-in member with it came lose it."""
        for other in list(self.members):
            if other.key == key and not other.signed_in:
                other.refuse("name: a signed-in member of the room has it, choose another")

    def leave(self, member: Member) -> None:
        if member not in self.members:
            return  # already gone (dropped, or closed during a broadcast)
        self.members.remove(member)
        if not self.members:
            self.pinger.stop()  # an empty room holds no timer
        self.heap.shrank(len(self.members))
        if self._early is not None:
            self._early.pop(member, None)
        self.names[member.name] -= 1
        if not self.names[member.name]:
            del self.names[member.name]
        keys = [member.key] if member.signed_in else []
        for key in keys:
            self.signed_in[key] -= 1
            if not self.signed_in[key]:
                del self.signed_in[key]
        self._publish(left=[member.name], keys=keys)

    def _publish(
        self, joined: Iterable[str] = (), left: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        if not self._stopping:
            self.store.publish_presence(joined, left, keys)

    async def signed_in_as(self, key: str) -> bool:
        """Whether a signed-in member of the room goes by the name with this name key."""
        return key in self.signed_in or await self.store.signed_in_elsewhere(key)

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

    async def post(self, name: str, text: str, signed_in: bool, key: str | None = None) -> str:
        """Store a message and return its id; the store delivers it to the room once it is
        stored. RoomUnavailable if it was not stored, RoomUnconfirmed if it may have been."""
        return await self.store.append(name, text, signed_in, key)

    def deliver(self, message_id: str, name: str, text: str, signed_in: bool) -> None:
        """Send a stored message to every member, and keep it for those who come later."""
        self.send_all(encode(self._remember(message_id, name, text, signed_in)))

    def load_history(self, messages: Iterable[tuple[str, str, str, bool]]) -> None:
        """The recent messages of the store, oldest first, as (id, name, text, signed_in);
        members who joined before get what they had not had."""
        self.recent.clear()
        for message_id, name, text, signed_in in messages:
            self._remember(message_id, name, text, signed_in)
        early, self._early = self._early or {}, None
        # Without this, what was posted elsewhere meanwhile would reach them only as history.
        for member, after in early.items():
            for key, frame in self.recent:
                if after is None or key > after:
                    member.send(encode(frame))

    def _remember(self, message_id: str, name: str, text: str, signed_in: bool) -> Frame:
        frame = message(message_id, name, text, signed_in)
        self.recent.append((parse_id(message_id), frame))
        return frame

    def status_changed(self) -> None:
        """The store can store messages again, or no longer: members hear it."""
        self.send_all(encode(status(self.available)))

    # Presence -------------------------------------------------------------------------

    def presence_changed(self, joined: Iterable[str] = (), left: Iterable[str] = ()) -> None:
        """Joins and leaves in the whole room: members hear of them, at most once per interval.

        One frame per join would cost a frame per member for every join: a thousand people
        arriving would make a million frames. Batching bounds that to one frame per member
        per ``presence_interval``, whatever the rate of joins.
        """
        self._joined += joined
        self._left += left
        self._recount = True
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.ensure_future(self._announce())

    async def _announce(self) -> None:
        loop = asyncio.get_running_loop()
        while self._recount:
            await asyncio.sleep(max(0.0, self._next_announcement - loop.time()))
            joined, left = self._joined, self._left
            self._joined, self._left, self._recount = [], [], False
            count = await self.store.member_count()
            if not (joined or left) and count == self.count:
                continue  # a recount that changed nothing: no frame
            self.count = count
            started = loop.time()
            self.send_all(encode(presence(count, joined, left)))
            # A frame to every member of a big room takes a while: keep presence to a tenth
            # of the time at most, however fast people come and go.
            spent = loop.time() - started
            self._next_announcement = loop.time() + max(self.presence_interval, 10 * spent)
