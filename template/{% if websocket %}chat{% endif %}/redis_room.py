"""The chat room shared through Redis: every process, on every machine, using one Redis is one room.

Redis keys, under a prefix ("chat:" by default):

| key | type | holds |
| --- | --- | --- |
| ``chat:messages`` | stream | the messages (XADD), trimmed as said below |
| ``chat:presence`` | stream | joins and leaves, one entry per batch (XADD MAXLEN ~ 1000) |
| ``chat:members`` | hash | process id -> members connected to that process |
| ``chat:read`` | hash | process id -> id of the last message that process has read |
| ``chat:processes`` | sorted set | process id -> time its entries are good until (heartbeat) |

A message is stored with XADD and nothing else: every process, this one included, reads both
streams with one blocking XREAD loop and delivers what it reads to its own members. So every
member sees the same messages in the same order, the stream's, and a sender sees its message
come back only once Redis has stored it. The stream ids ("<milliseconds>-<sequence>") are the
message ids that pages resume from.

Each heartbeat trims the stream (XTRIM MINID) of the messages that every live process has read,
keeping the newest ``--chat_history``: a busy or slow process never misses a message that
others posted meanwhile. A crashed process stops renewing its entries and is forgotten.

When Redis goes away the XREAD loop fails: members are told (a status frame), messages
cannot be posted (the sender gets an error frame) and the loop retries. When Redis is back,
members are told again and the loop goes on reading from the last id it saw, so messages
stored meanwhile by other processes arrive in order, none twice.
"""

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.room import MessageKey, Room, RoomUnavailable, encode, parse_id

if TYPE_CHECKING:
    from chat.handlers import ChatSocketHandler

log = logging.getLogger(__name__)

BLOCK = 2.0  # seconds one XREAD waits for news: a dead link shows within this time
RETRY_MAX = 1.0  # seconds between attempts to reach a Redis that went away
HEARTBEAT = 10.0  # seconds between refreshes of this process's member count
HEARTBEAT_MISSES = 3  # a process missing this many heartbeats (crashed) stops counting
PRESENCE_KEPT = 1000  # presence entries kept: only processes that fell behind read old ones


def where(url: str) -> str:
    """The Redis URL as the client reads it, database included, password left out: for the log."""
    parsed = parse_url(url)
    db = parsed.get("db", 0)
    if "path" in parsed:  # unix://
        return f"unix://{parsed['path']}?db={db}"
    host = parsed.get("host", "localhost")
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{urlsplit(url).scheme}://{host}:{parsed.get('port', 6379)}/{db}"


class RedisRoom(Room):
    """The room kept in Redis at ``url``; what is not said here works as in ``Room``."""

    def __init__(
        self, url: str, history: int = 50, ping_interval: float = 0.0, prefix: str = "chat:"
    ) -> None:
        super().__init__(history, ping_interval)
        self.url = url
        self.redis = redis.asyncio.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=BLOCK + 3,
            # One immediate retry: a pooled connection may be one that a Redis restart
            # closed. More would only make a sender wait when Redis is really gone.
            retry=Retry(NoBackoff(), 1),
        )
        self.messages_key = prefix + "messages"
        self.presence_key = prefix + "presence"
        self.members_key = prefix + "members"
        self.read_key = prefix + "read"
        self.processes_key = prefix + "processes"
        self.process_id = secrets.token_hex(8)
        self.available = False  # until the reader has reached Redis
        self._known = False  # whether the log has said if Redis can be reached
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor: dict[str, str] = {}  # stream -> id of the last entry read
        self._stopping = asyncio.Event()
        self._outbox: tuple[list[str], list[str]] = ([], [])  # joins, leaves to publish
        self._publisher: asyncio.Task[None] | None = None
        # Members who joined before this process first read the stream, and what they had.
        self._early: dict[ChatSocketHandler, MessageKey | None] = {}

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._heartbeat())]

    async def stop(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        closed = await super().stop(timeout)  # members leave: their leaves are published
        if self._publisher is not None:  # the last leaves, while the budget lasts
            await asyncio.wait([self._publisher], timeout=max(0.0, deadline - time.monotonic()))
        # Every task that uses the client ends before it closes: a command that the close
        # interrupts is retried on a new connection that nothing would close (and which
        # uvloop waits for when its loop closes). A cancellation that redis-py lets through
        # as an error of its own (seen here mid-command) ends the loops too: they check
        # _stopping. The wait is bounded by the socket timeout of a command in flight.
        self._stopping.set()
        tasks = [*self._tasks, *([self._publisher] if self._publisher else [])]
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=BLOCK + 3) if tasks else ((), ())
        if pending:
            log.warning("Chat: %d Redis tasks did not stop; closing their client", len(pending))
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hdel(self.members_key, self.process_id)
                pipe.hdel(self.read_key, self.process_id)
                pipe.zrem(self.processes_key, self.process_id)
                await asyncio.wait_for(pipe.execute(), max(0.1, deadline - time.monotonic()))
        except (RedisError, OSError, asyncio.TimeoutError):
            pass  # the heartbeat's expiry removes this process from the count anyway
        await self.redis.aclose()
        return closed

    # Messages: XADD, then the XREAD loop delivers ------------------------------------------

    async def post(self, name: str, text: str, signed_in: bool) -> None:
        fields = {"name": name, "text": text, "signed_in": "1" if signed_in else "0"}
        try:
            await self.redis.xadd(self.messages_key, fields)
        except (RedisError, OSError) as error:
            raise RoomUnavailable("the chat cannot reach its message store") from error

    async def _read(self) -> None:
        """Deliver what the streams receive, from where this process left off, forever."""
        delay = 0.05
        cursor = self._cursor
        while not self._stopping.is_set():
            try:
                if not self.available:  # starting, or Redis went away: is it there now?
                    await self.redis.ping()
                    if not cursor:
                        cursor.update(await self._load_recent())
                        self._catch_up()
                    self._set_available(True)
                    await self._refresh()
                if self._stopping.is_set():
                    return
                reply = await self.redis.xread(cursor, count=100, block=int(BLOCK * 1000))
            except (RedisError, OSError) as error:
                if self._stopping.is_set():
                    return
                self._set_available(False, error)
                await self._pause(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            delay = 0.05
            for stream, entries in reply:
                cursor[stream] = entries[-1][0]
                for entry_id, fields in entries:
                    if stream == self.messages_key:
                        self.deliver(
                            entry_id, fields["name"], fields["text"], fields["signed_in"] == "1"
                        )
                    else:
                        self.presence_changed(
                            json.loads(fields["joined"]), json.loads(fields["left"])
                        )

    def join(self, member: "ChatSocketHandler", after: MessageKey | None) -> None:
        super().join(member, after)
        if not self._cursor and member in self.members:  # its welcome could not hold history
            self._early[member] = after

    def _catch_up(self) -> None:
        """Send the members who joined before the first read what the stream held for them:
        without it, what was posted elsewhere meanwhile would reach them only as history."""
        early, self._early = self._early, {}
        for member, after in early.items():
            if member in self.members:
                for key, frame in self.recent:
                    if after is None or key > after:
                        member.send(encode(frame))

    async def _load_recent(self) -> dict[str, str]:
        """Fill the recent messages from the stream; the XREAD cursor that follows them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrevrange(self.messages_key, count=self.history)
            pipe.xrevrange(self.presence_key, count=1)
            messages, presence = await pipe.execute()
        self.recent.clear()
        for entry_id, fields in reversed(messages):
            self.remember(entry_id, fields["name"], fields["text"], fields["signed_in"] == "1")
        return {
            self.messages_key: messages[0][0] if messages else "0-0",
            self.presence_key: presence[0][0] if presence else "0-0",
        }

    def _set_available(self, available: bool, error: Exception | None = None) -> None:
        if available == self.available and self._known:
            return
        self.available, self._known = available, True
        if available:
            log.info("Chat: connected to Redis at %s", where(self.url))
        else:
            log.warning(
                "Chat: lost Redis at %s (%s): messages cannot be sent until it is back",
                where(self.url),
                error,
            )
        self.send_all(encode({"type": "status", "available": available}))

    # Presence: batches of joins and leaves, and a member count per process -----------------

    def publish_presence(self, joined: Iterable[str] = (), left: Iterable[str] = ()) -> None:
        # Joins and leaves of one turn of the event loop go out in one round trip.
        self._outbox[0].extend(joined)
        self._outbox[1].extend(left)
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.ensure_future(self._publish())

    async def _publish(self) -> None:
        while (self._outbox[0] or self._outbox[1]) and not self._stopping.is_set():
            joined, left = self._outbox
            self._outbox = ([], [])
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    self._renew(pipe)
                    pipe.xadd(
                        self.presence_key,
                        {"joined": json.dumps(joined), "left": json.dumps(left)},
                        maxlen=PRESENCE_KEPT,
                    )
                    await pipe.execute()
            except (RedisError, OSError):
                pass  # Redis is away (the reader says so); the count heals when it is back

    def _renew(self, pipe: "redis.asyncio.client.Pipeline") -> None:
        """This process's entries: its member count, what it has read, until when they hold."""
        expires = time.time() + HEARTBEAT * HEARTBEAT_MISSES
        pipe.hset(self.members_key, self.process_id, len(self.members))
        if self.messages_key in self._cursor:
            pipe.hset(self.read_key, self.process_id, self._cursor[self.messages_key])
        pipe.zadd(self.processes_key, {self.process_id: expires})

    async def _refresh(self) -> None:
        """Renew this process's entries, forget processes that stopped, trim the stream."""
        try:
            gone = await self.redis.zrangebyscore(self.processes_key, "-inf", time.time())
            async with self.redis.pipeline(transaction=False) as pipe:
                self._renew(pipe)
                if gone:
                    pipe.hdel(self.members_key, *gone)
                    pipe.hdel(self.read_key, *gone)
                    pipe.zrem(self.processes_key, *gone)
                await pipe.execute()
            await self._trim()
        except (RedisError, OSError):
            pass  # retried at the next heartbeat

    async def _trim(self) -> None:
        """Drop the messages every live process has read, but not the newest history."""
        alive = await self.redis.zrangebyscore(self.processes_key, time.time(), "+inf")
        read = await self.redis.hmget(self.read_key, alive) if alive else []
        newest = await self.redis.xrevrange(self.messages_key, count=self.history)
        if len(newest) < self.history or not read or None in read:
            return  # a short stream, or a process that has not said what it read yet
        keep_from = min(parse_id(entry_id) for entry_id in [newest[-1][0], *read])
        minid = f"{keep_from[0]}-{keep_from[1]}"
        await self.redis.xtrim(self.messages_key, minid=minid, approximate=False)

    async def _heartbeat(self) -> None:
        while not self._stopping.is_set():
            await self._refresh()
            await self._pause(HEARTBEAT)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the room stops meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def member_count(self) -> int:
        if self._stopping.is_set():
            return self.count  # the client is closed or closing
        try:
            alive = await self.redis.zrangebyscore(self.processes_key, time.time(), "+inf")
            counts = await self.redis.hmget(self.members_key, alive) if alive else []
        except (RedisError, OSError):
            return self.count  # the last known
        return sum(int(count) for count in counts if count)
