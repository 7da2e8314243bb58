"""Two devices for big rooms. They change what the chat costs, never what it does.

- ``RoomPinger`` keeps connections alive, and finds dead ones, with one timer for the whole
  room. Tornado's own ``websocket_ping_interval`` arms a timer per connection, which costs
  memory on every idle connection. ``PING_BATCH`` is how many members one round pings before
  it lets other sockets in, so that a big room's round never holds the event loop for long.
- ``HeapFreezer`` keeps the garbage collector out of broadcasts. A full collection walks
  every tracked object, a cost that grows with every open connection, and the write futures
  of a broadcast soon start one in the middle of the next broadcast. ``freeze_from`` is the
  room size from which the heap is frozen: below it a collection is cheap.

A room of a few hundred connections needs neither; they cost nothing until it grows.
"""

import asyncio
import gc
import logging
import secrets
from collections.abc import Set
from datetime import timedelta
from typing import Protocol

import tornado.ioloop

log = logging.getLogger(__name__)

PING_BATCH = 500  # members pinged between two turns of the event loop


class Pingable(Protocol):
    """What the pinger needs of a connection (chat.handlers.ChatSocketHandler is one)."""

    awaiting_pong: bool  # pinged, and not heard from since

    def ping_once(self, token: bytes) -> None: ...

    def drop(self, code: int, reason: str, level: int = logging.WARNING) -> None: ...


class RoomPinger:
    """Pings every member each ``interval`` seconds from one timer; 0 turns pings off.

    A member that has not answered the previous ping (with its pong, or any message) is
    closed. Only a pong carrying this round's random token counts: unsolicited pongs prove
    nothing about the peer.
    """

    def __init__(self, members: Set[Pingable], interval: float) -> None:
        self.members = members
        self.interval = interval
        self.token = b""
        self._timer: tornado.ioloop.PeriodicCallback | None = None

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        if self.interval > 0 and self._timer is None:
            self._timer = tornado.ioloop.PeriodicCallback(
                self._ping_all, timedelta(seconds=self.interval)
            )
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    async def _ping_all(self) -> None:
        self.token = token = secrets.token_bytes(8)
        for count, member in enumerate(list(self.members), 1):
            if not count % PING_BATCH:
                await asyncio.sleep(0)  # let other sockets in: a big room takes a while
            if member not in self.members:
                continue  # left while this round was paused
            if member.awaiting_pong:
                member.drop(1000, "ping timed out", logging.INFO)  # Tornado's wording
                continue
            member.ping_once(token)


class HeapFreezer:
    """Moves long-lived objects out of the garbage collector's way as the room grows.

    From ``freeze_from`` members on, each time the room grows by a quarter, it collects and
    then moves the heap to the collector's permanent generation (``gc.freeze()``, O(1)):
    later full passes walk only what is not frozen. Frozen objects that die are not
    reclaimed, so once more than half as many members have left as were frozen, it hands
    everything back (``gc.unfreeze()``) and collects: at most half a room's worth is held
    back. ``gc.freeze()`` is process-wide: an application has one room.
    """

    def __init__(self, freeze_from: int = 1024) -> None:
        self.freeze_from = freeze_from
        self._next_freeze = freeze_from
        self._frozen = 0  # members at the last gc.freeze(); 0: nothing frozen by us
        self._left = 0  # members gone since the first freeze (a dead frozen object stays)

    def grew(self, members: int) -> None:
        if members >= self._next_freeze:
            self._freeze(members)

    def shrank(self, members: int) -> None:
        if self._frozen:
            self._left += 1
            if self._left > self._frozen // 2:
                self._thaw(members)

    def _freeze(self, members: int) -> None:
        gc.collect()  # freeze only what is alive: the garbage held back is then departures
        gc.freeze()
        self._frozen = members
        self._next_freeze = members + members // 4 + 1

    def _thaw(self, members: int) -> None:
        gc.unfreeze()
        self._frozen = self._left = 0
        if members >= self.freeze_from:
            self._freeze(members)  # collects first
        else:
            gc.collect()
            self._next_freeze = self.freeze_from
