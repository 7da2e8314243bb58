"""The chat's store in Redis: every process, on every machine, using one Redis is one room.

``Room(RedisStore(url))``: the room (chat/room.py) does what it does in memory; this store keeps
the messages and the whole room's membership.

Redis keys, under a prefix ("chat:" by default):

| key | type | holds |
| --- | --- | --- |
| ``chat:messages`` | stream | the messages (XADD), trimmed as said below |
| ``chat:sent:<key>`` | string | id of the message posted with that key, for a few minutes |
| ``chat:presence`` | stream | joins, leaves and the room's count (XADD MAXLEN ~ 1000) |
| ``chat:members`` | hash | process id -> members connected to that process |
| ``chat:names:<process id>`` | hash | ``n:<name>`` -> its connections there; ``s:<name key>`` ->
  those of the signed-in |
| ``chat:read`` | hash | process id -> id of the last message that process has read |
| ``chat:processes`` | sorted set | process id (host/pid/token) -> Redis time its lease ends |
| ``chat:state`` | hash | time of the last presence update, the count last published, and
  per process the number of its last full presence update |

A message is stored by a script that adds it to the stream unless its key (the page's, else a
random one) is already there: a command repeated after a timeout, by redis-py or by the page,
never stores a message twice. Every process, this one included, reads both streams with one
blocking XREAD loop and hands what it reads to its room, which delivers it to its own members.
So every member sees the same messages in the same order, the stream's, and a sender sees its
message come back only once Redis has stored it. The stream ids ("<milliseconds>-<sequence>")
are the message ids that pages resume from. A sender whose message Redis did not confirm in
``POST_PATIENCE`` seconds is told so, with the key to send it again under.

Presence: each process renews a lease every ``HEARTBEAT`` second and sends, with it, how many
connections it holds per name (absolute numbers: a late or repeated update does no harm).
One script does it all in Redis, so every process sees one story: a name joins when its first
connection in the whole room opens (the page of a crashed worker that reconnects elsewhere
joins no one) and leaves with its last; a process whose lease ran out is forgotten with its
names, and the count goes out again. The lease is counted on Redis's clock, and a Redis that
stood still (SIGSTOP, a long save) renews every lease when it resumes rather than forgetting
processes that were only waiting for it.

Every ``TRIM_EVERY`` heartbeats a process trims the stream (XTRIM MINID) of the messages that
every live process has read, keeping the newest ``--chat_history``: a busy or slow process
never misses a message that others posted meanwhile.

When Redis goes away the XREAD loop fails: members are told (a status frame), messages
cannot be posted (the sender gets an error frame) and the loop retries. When Redis is back,
members are told again and the loop goes on reading from the last id it saw, so messages
stored meanwhile by other processes arrive in order, none twice.
"""

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

import redis.asyncio
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chat.protocol import SENT_KEPT, parse_id
from chat.room import Room, RoomUnavailable, RoomUnconfirmed

log = logging.getLogger(__name__)

BLOCK = 2.0  # seconds one XREAD waits for news: a dead link shows within this time
RETRY_MAX = 1.0  # seconds between attempts to reach a Redis that went away
HEARTBEAT = 1.0  # seconds between renewals of this process's lease and presence
HEARTBEAT_MISSES = 3  # a process missing this many heartbeats (crashed) is forgotten
TRIM_EVERY = 10  # heartbeats between two trims of the message stream
PRESENCE_KEPT = 1000  # presence entries kept: only processes that fell behind read old ones
POST_PATIENCE = 10.0  # seconds a sender waits for Redis to confirm its message

# KEYS: messages, sent:<key>. ARGV: seconds the key is kept, name, text, signed_in.
POST = """
local id = redis.call('GET', KEYS[2])
if id then return id end
id = redis.call('XADD', KEYS[1], '*', 'name', ARGV[2], 'text', ARGV[3], 'signed_in', ARGV[4])
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return id
"""

# KEYS: processes, members, read, presence, state. ARGV: process id, update number, "1" for a
# full update, members here, lease, gap, presence entries kept, names key prefix, last message
# read, then field/connections pairs (0: none left). Returns the room's count.
PRESENCE = """
local processes, members, read, presence, state = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local pid, seq, full = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1'
local lease, gap, prefix = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[8]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local last = tonumber(redis.call('HGET', state, 'clock'))
if last and now - last > gap then
  -- No process renewed anything for a while: Redis stood still, not every process died.
  for _, other in ipairs(redis.call('ZRANGE', processes, 0, -1)) do
    redis.call('ZADD', processes, 'GT', now + lease, other)
  end
end
redis.call('HSET', state, 'clock', now)
redis.call('ZADD', processes, now + lease, pid)
local live = redis.call('ZRANGEBYSCORE', processes, now, '+inf')
local function elsewhere(field, except)
  for _, other in ipairs(live) do
    if other ~= except and redis.call('HEXISTS', prefix .. other, field) == 1 then
      return true
    end
  end
  return false
end
local function named(field) return string.sub(field, 1, 2) == 'n:' end
local joined, left, signed = {}, {}, {}
local mine = prefix .. pid
-- An update older than this process's last full one is stale (sent before a timeout).
if seq > tonumber(redis.call('HGET', state, 'snap:' .. pid) or '0') then
  local had = {}
  if full then
    redis.call('HSET', state, 'snap:' .. pid, seq)
    local old = redis.call('HKEYS', mine)
    for _, field in ipairs(old) do had[field] = true end
    redis.call('DEL', mine)
    local now_here = {}
    for i = 10, #ARGV, 2 do now_here[ARGV[i]] = true end
    for _, field in ipairs(old) do
      if not now_here[field] and named(field) and not elsewhere(field, pid) then
        table.insert(left, string.sub(field, 3))
      end
    end
  end
  for i = 10, #ARGV, 2 do
    local field, connections = ARGV[i], tonumber(ARGV[i + 1])
    local was = had[field] or (not full and redis.call('HEXISTS', mine, field) == 1)
    if connections > 0 then
      redis.call('HSET', mine, field, connections)
    else
      redis.call('HDEL', mine, field)
    end
    if named(field) and was ~= (connections > 0) and not elsewhere(field, pid) then
      table.insert(connections > 0 and joined or left, string.sub(field, 3))
    elseif not named(field) and connections > 0 and not was then
      table.insert(signed, string.sub(field, 3))  -- a signed-in name arrived here
    end
  end
  redis.call('HSET', members, pid, ARGV[4])
  if ARGV[9] ~= '' then redis.call('HSET', read, pid, ARGV[9]) end
end
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', processes, '-inf', '(' .. now)) do
  local fields = redis.call('HKEYS', prefix .. gone)
  redis.call('DEL', prefix .. gone)
  redis.call('HDEL', members, gone)
  redis.call('HDEL', read, gone)
  redis.call('HDEL', state, 'snap:' .. gone)
  redis.call('ZREM', processes, gone)
  for _, field in ipairs(fields) do
    if named(field) and not elsewhere(field, nil) then
      table.insert(left, string.sub(field, 3))
    end
  end
end
local count = 0
for _, other in ipairs(redis.call('ZRANGE', processes, 0, -1)) do
  count = count + tonumber(redis.call('HGET', members, other) or '0')
end
if #joined + #left + #signed > 0 or tostring(count) ~= redis.call('HGET', state, 'count') then
  redis.call('HSET', state, 'count', count)
  redis.call('XADD', presence, 'MAXLEN', '~', ARGV[7], '*', 'joined', cjson.encode(joined),
    'left', cjson.encode(left), 'count', count, 'signed_in', cjson.encode(signed))
end
return count
"""

# KEYS: processes. ARGV: names key prefix, field. 1 if a process holds the field.
HELD = """
for _, other in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('HEXISTS', ARGV[1] .. other, ARGV[2]) == 1 then return 1 end
end
return 0
"""


def message(fields: dict[str, str]) -> tuple[str, str, bool]:
    """(name, text, signed_in) of a message as the stream holds it."""
    return fields["name"], fields["text"], fields["signed_in"] == "1"


def where(url: str) -> str:
    """The Redis URL as the client reads it, database included, password left out: for the log."""
    parsed = parse_url(url)
    db = parsed.get("db", 0)
    if "path" in parsed:  # unix://
        return f"unix://{parsed['path']}?db={db}"
    host = parsed.get("host", "localhost")
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return f"{urlsplit(url).scheme}://{host}:{parsed.get('port', 6379)}/{db}"


class RedisStore:
    """A room's store in the Redis at ``url`` (chat.room.Store), its keys under ``prefix``."""

    room: Room  # set by attach()

    def __init__(
        self,
        url: str,
        prefix: str = "chat:",
        block: float = BLOCK,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        self.block, self.heartbeat = block, heartbeat  # (tests shorten them)
        self.post_patience = POST_PATIENCE
        self.url = url
        self.redis = redis.asyncio.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=2 * block + 1,
            # One immediate retry: a pooled connection may be one that a Redis restart
            # closed. It is safe because every write here can be repeated: messages carry a
            # key, presence updates absolute numbers.
            retry=Retry(NoBackoff(), 1),
        )
        self.messages_key = prefix + "messages"
        self.sent_prefix = prefix + "sent:"
        self.presence_key = prefix + "presence"
        self.members_key = prefix + "members"
        self.names_prefix = prefix + "names:"
        self.read_key = prefix + "read"
        self.processes_key = prefix + "processes"
        self.state_key = prefix + "state"
        # Says where each entry comes from, for whoever reads Redis: host, pid, then a token.
        self.process_id = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self._post = self.redis.register_script(POST)
        self._presence = self.redis.register_script(PRESENCE)
        self._held = self.redis.register_script(HELD)
        self._room_count = 0  # the count of the last presence entry read
        self._update = 0  # number of the last presence update sent
        self._full_update = True  # the next update sends every name (Redis may have lost some)
        self._touched: set[str] = set()  # fields whose connections changed since the update
        self._updating = asyncio.Lock()  # one update in flight: they arrive in order
        self.available = False  # until the reader has reached Redis
        self._known = False  # whether the log has said if Redis can be reached
        self._tasks: list[asyncio.Task[None]] = []
        self._cursor: dict[str, str] = {}  # stream -> id of the last entry read
        self._stopping = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None

    def attach(self, room: Room) -> None:
        self.room = room

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._heartbeat())]

    async def stop(self, timeout: float) -> None:
        # The room has closed its members without publishing their leaves: their names stay
        # in Redis under this process's lease; whoever is not back (on another process) when
        # it runs out is announced gone then, by the process that forgets this one.
        deadline = time.monotonic() + timeout
        if self._publisher is not None:  # updates sent before, while the budget lasts
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
        _, pending = await asyncio.wait(tasks, timeout=2 * self.block + 1) if tasks else ((), ())
        if pending:
            log.warning("Chat: %d Redis tasks did not stop; closing their client", len(pending))
        if not self._full_update:  # (a full update now would announce every name gone)
            self._touched.clear()
            # No member here any more, so the count drops now; the names wait for the lease.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._send_presence(), max(0.1, deadline - time.monotonic()))
        await self.redis.aclose()

    # Messages: XADD, then the XREAD loop delivers ------------------------------------------

    async def append(self, name: str, text: str, signed_in: bool, key: str | None) -> str:
        if not self.available:  # nothing is sent: certainly not stored
            raise RoomUnavailable("the chat cannot reach its message store")
        key = key or secrets.token_urlsafe(12)
        keys = [self.messages_key, self.sent_prefix + key]
        args = [SENT_KEPT, name, text, "1" if signed_in else "0"]
        deadline = time.monotonic() + self.post_patience
        while True:
            try:
                return await self._post(keys=keys, args=args)
            except (RedisError, OSError) as error:
                # Redis may have stored it without answering (it stood still, or the link
                # broke after the command went out): ask again under the same key, which
                # stores it once at most, until Redis answers or patience runs out.
                if self._stopping.is_set() or time.monotonic() >= deadline:
                    raise RoomUnconfirmed(
                        "the chat's message store did not answer; if it stored the message,"
                        " it shows in the room, and sending it again will not repeat it",
                        key,
                    ) from error
                await self._pause(0.2)

    async def _read(self) -> None:
        """Deliver what the streams receive, from where this process left off, forever."""
        delay = 0.05
        cursor = self._cursor
        while not self._stopping.is_set():
            try:
                if not self.available:  # starting, or Redis went away: is it there now?
                    # Load the scripts (a restarted Redis has none): a command that Redis
                    # runs late, after a stall, then runs rather than failing unknown.
                    for script in (self._post, self._presence, self._held):
                        await self.redis.script_load(script.script)
                    if not cursor:
                        messages, read_from = await self._load_recent()
                        cursor.update(read_from)
                        # Members hear that the room is available before what they missed:
                        # whoever sees a message may send one.
                        self._set_available(True)
                        self.room.load_history(messages)
                    self._set_available(True)
                    await self._refresh()
                if self._stopping.is_set():
                    return
                reply = await self.redis.xread(cursor, count=100, block=int(self.block * 1000))
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
                        self.room.deliver(entry_id, *message(fields))
                    else:
                        self._room_count = int(fields.get("count", self._room_count))
                        for key in json.loads(fields.get("signed_in", "[]")) or []:
                            self.room.give_back(key)  # taken here before its owner signed in
                        # (Lua's cjson writes an empty list as {}.)
                        self.room.presence_changed(
                            json.loads(fields["joined"]) or [], json.loads(fields["left"]) or []
                        )

    async def signed_in_elsewhere(self, key: str) -> bool:
        try:
            args = [self.names_prefix, "s:" + key]
            return bool(await self._held(keys=[self.processes_key], args=args))
        except (RedisError, OSError):
            return False  # Redis is away: this process's members are all it can ask

    async def _load_recent(
        self,
    ) -> tuple[list[tuple[str, str, str, bool]], dict[str, str]]:
        """The recent messages in the stream, oldest first; the XREAD cursor that follows them."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xrevrange(self.messages_key, count=self.room.history)
            pipe.xrevrange(self.presence_key, count=1)
            messages, presence = await pipe.execute()
        if presence:
            self._room_count = int(presence[0][1].get("count", 0))
        cursor = {
            self.messages_key: messages[0][0] if messages else "0-0",
            self.presence_key: presence[0][0] if presence else "0-0",
        }
        return [(entry_id, *message(fields)) for entry_id, fields in reversed(messages)], cursor

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
        self.room.status_changed()

    # Presence: each process's connections per name, and a lease -----------------------------

    def publish_presence(
        self, joined: Iterable[str] = (), left: Iterable[str] = (), keys: Iterable[str] = ()
    ) -> None:
        # The names whose connections changed go out together, in one update per round trip;
        # the update script decides who joined or left the whole room.
        self._touched.update("n:" + name for name in (*joined, *left))
        self._touched.update("s:" + key for key in keys)
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.ensure_future(self._publish())

    async def _publish(self) -> None:
        while self._touched and not self._stopping.is_set():
            if not await self._send_presence():
                return  # Redis is away: the heartbeat sends everything once it is back

    async def _send_presence(self) -> bool:
        """Renew the lease, send the changed names (all after a failure); False if it failed."""
        async with self._updating:
            full, touched = self._full_update, self._touched
            self._touched = set()
            room = self.room
            if full:
                fields = {"n:" + name: n for name, n in room.names.items()}
                fields.update(("s:" + key, n) for key, n in room.signed_in.items())
            else:
                fields = {
                    field: (room.names if field[0] == "n" else room.signed_in)[field[2:]]
                    for field in touched
                }
            self._update += 1
            lease = self.heartbeat * HEARTBEAT_MISSES
            args = [self.process_id, self._update, int(full), len(room.members), lease]
            args += [2 * self.heartbeat, PRESENCE_KEPT, self.names_prefix]
            args += [self._cursor.get(self.messages_key, "")]
            args += [item for pair in fields.items() for item in pair]
            keys = [self.processes_key, self.members_key, self.read_key]
            keys += [self.presence_key, self.state_key]
            try:
                await self._presence(keys=keys, args=args)
            except (RedisError, OSError):
                # It may still run later: the next update, a full one, numbered after it,
                # makes Redis ignore it.
                self._full_update = True
                return False
            if full:
                self._full_update = False
            return True

    async def _refresh(self) -> None:
        """Renew this process's lease and presence (forgetting processes whose lease ran
        out), and trim the stream."""
        if await self._send_presence():
            with contextlib.suppress(RedisError, OSError):
                await self._trim()

    async def _trim(self) -> None:
        """Drop the messages every live process has read, but not the newest history."""
        alive = await self.redis.zrange(self.processes_key, 0, -1)
        read = await self.redis.hmget(self.read_key, alive) if alive else []
        newest = await self.redis.xrevrange(self.messages_key, count=self.room.history)
        if len(newest) < self.room.history or not read or None in read:
            return  # a short stream, or a process that has not said what it read yet
        keep_from = min(parse_id(entry_id) for entry_id in [newest[-1][0], *read])
        minid = f"{keep_from[0]}-{keep_from[1]}"
        await self.redis.xtrim(self.messages_key, minid=minid, approximate=False)

    async def _heartbeat(self) -> None:
        beats = 0
        while not self._stopping.is_set():
            if beats % TRIM_EVERY:
                await self._send_presence()
            else:
                await self._refresh()
            beats += 1
            await self._pause(self.heartbeat)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the room stops meanwhile."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def member_count(self) -> int:
        return self._room_count  # counted in Redis, by the update script
