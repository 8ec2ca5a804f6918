"""Chat messages and project events leave this node in `seq` order per room, whichever node stored them.

Two nodes' writers publish after commit, each on its own: node B may apply its seq 5 (locally, at once)
before node A's seq 4 reaches it through Redis. A `SeqOrder` keeps, per thread (chat) or project
(events) with sockets on this node, the last seq it delivered; a later seq waits up to HOLD_SECONDS for
the missing ones, then they are read from the database (`fetch`: committed before the later seq, since
seqs are given out under the thread's or project's row lock) and delivered first. A gap too wide to
fill, or a failed read, tells the room's sockets to `resync` instead: never a silent gap. In-order
arrivals go out at once: only a gap costs latency.

State exists only for keys a local socket joined or subscribed (`joined` sets the baseline from that
read) and is dropped when an arrival finds no recipients here; KEYS_MAX bounds it besides. A key
without state is passed through as it comes.

Project events are addressed to their recipients on arrival (`local` turns member rooms into the
sockets' own sid rooms): a member who leaves with an event still receives it although the dispatch
closes the rooms right away.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from roughcut.realtime.dispatch import Emit
from roughcut.realtime.rooms import CHAT_NAMESPACE, PROJECTS_NAMESPACE

log = logging.getLogger(__name__)

# How long a later seq waits for the earlier ones through the broker before they are read from the
# database: above a loaded Redis round trip between nodes (~1-20 ms), short enough not to be noticed.
HOLD_SECONDS = 0.08
FILL_MAX = 200  # widest gap read from the database; past it the room's sockets resync (join after_seq)
HELD_MAX = 1000  # emits held per key at most: past it the gap is filled at once, without waiting
KEYS_MAX = 100_000  # keys tracked per node; past it an idle one is forgotten (passes through after)

Deliver = Callable[[Emit], Awaitable[None]]
# The emit as this node delivers it (possibly re-addressed), or None when nobody here receives it.
Local = Callable[[Emit], Emit | None]
# (key, after_seq, before_seq) → the stored items strictly between, as emit payloads.
Fetch = Callable[[int, int, int], Awaitable[Sequence[Mapping[str, Any]]]]
Resync = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Stream:
    """One kind of ordered emit: its namespace and event, and the payload field that names its key."""

    namespace: str
    event: str
    key: str
    label: str  # in logs


CHAT = Stream(CHAT_NAMESPACE, "message", "feedback_id", "chat")
PROJECT = Stream(PROJECTS_NAMESPACE, "event", "project_id", "project")


@dataclass(slots=True)
class _Room:
    last: int  # highest seq delivered on this node (or known to the sockets that joined or subscribed)
    held: dict[int, Emit] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    busy: bool = False  # a drain or fill runs: arrivals only go on `held`, the runner picks them up
    resyncing: bool = False  # the room's sockets were told to resync: their next join moves `last` up


class SeqOrder:
    """Per-key reorder buffer in front of this node's emits of one stream."""

    def __init__(self, stream: Stream, deliver: Deliver, local: Local, hold: float = HOLD_SECONDS) -> None:
        self.stream = stream
        self._deliver = deliver
        self._local = local
        self._hold = hold
        self._fetch: Fetch | None = None
        self._resync: Resync | None = None
        self._rooms: dict[int, _Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def attach(self, fetch: Fetch, resync: Resync) -> None:
        """Give the buffer its database read and its resync (built after the publisher)."""
        self._fetch, self._resync = fetch, resync

    def last_seq(self, key: int) -> int | None:
        """The last seq delivered here for a key, or None when it is not tracked."""
        room = self._rooms.get(key)
        return None if room is None else room.last

    def joined(self, key: int, last_seq: int) -> None:
        """A local socket joined and read up to `last_seq`: track the key from there (if not yet)."""
        room = self._rooms.get(key)
        if room is not None:
            if room.resyncing:
                # Every local socket of the room re-joins and reads up to its own join: nothing before
                # this read needs delivering live any more (a later re-join reads even further).
                room.resyncing = False
                room.last = max(room.last, last_seq)
                for seq in [s for s in room.held if s <= room.last]:
                    del room.held[seq]
            # Otherwise kept as is: seqs after ours may still be on their way to the sockets already
            # here; the new socket may receive some it read in `missed` (clients drop seqs they have).
            return
        if len(self._rooms) >= KEYS_MAX:
            idle = next((k for k, r in self._rooms.items() if not r.held and not r.busy), None)
            if idle is None:
                return
            del self._rooms[idle]
        self._rooms[key] = _Room(last_seq)

    def resyncing(self, keys: Iterable[int] | None) -> None:
        """These keys' local sockets (None: every key's) were told to resync and will re-join."""
        for key in self._rooms if keys is None else keys:
            room = self._rooms.get(key)
            if room is not None:
                room.resyncing = True

    async def put(self, emit: Emit) -> None:
        """Deliver an emit of this stream in seq order (now, later, or after the gap is read)."""
        key, given = int(emit.payload[self.stream.key]), emit.payload.get("seq")
        room = self._rooms.get(key)
        if room is None or given is None:
            await self._deliver(emit)
            return
        seq = int(given)
        if seq <= room.last or seq in room.held:
            return  # delivered already (a retried broker message, or read from the database)
        here = self._local(emit)
        if here is None:
            if not room.held and not room.busy:
                del self._rooms[key]  # nobody here any more: forget the key (a new join sets it again)
                return
            here = Emit(emit.namespace, emit.event, emit.payload, [])  # keeps the count: delivers to nobody
        room.held[seq] = here
        if not room.busy:
            await self._drain(key, room)

    async def _drain(self, fid: int, room: _Room) -> None:
        room.busy = True
        try:
            while (nxt := room.held.pop(room.last + 1, None)) is not None:
                room.last += 1
                if nxt.rooms:
                    await self._deliver(nxt)
        finally:
            room.busy = False
        if room.timer is not None and (not room.held or len(room.held) >= HELD_MAX):
            room.timer.cancel()
            room.timer = None
        if room.held and room.timer is None:
            delay = 0.0 if len(room.held) >= HELD_MAX else self._hold
            room.timer = asyncio.get_running_loop().call_later(delay, self._expired, fid, room)

    def _expired(self, fid: int, room: _Room) -> None:
        room.timer = None
        if room.busy or not room.held:
            return
        room.busy = True  # from now: arrivals wait on `held` until the fill is done
        task = asyncio.get_running_loop().create_task(self._fill(fid, room))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, fid: int, room: _Room) -> None:
        """Read the gap before the first held seq from the database and deliver it, then the held ones."""
        first = min(room.held)
        # The gap goes to whoever receives the first held emit here (re-addressed on arrival, if at all).
        rooms = next((e.rooms for _, e in sorted(room.held.items()) if e.rooms), [])
        try:
            if first - room.last - 1 > FILL_MAX or self._fetch is None:
                await self._lost(fid, room, first, "gap too wide")
            else:
                found = await self._fetch(fid, room.last, first)
                for payload in sorted(found, key=lambda p: int(p["seq"])):
                    if room.last < int(payload["seq"]) < first:
                        room.last = int(payload["seq"])
                        if rooms:
                            await self._deliver(Emit(self.stream.namespace, self.stream.event, payload, rooms))
                if room.last < first - 1:  # not in the database (the thread is gone): nothing to show
                    room.last = first - 1
        except Exception:
            log.exception("could not read a gap", extra={"stream": self.stream.label, "key": fid})
            await self._lost(fid, room, first, "read failed")
        finally:
            room.busy = False
        await self._drain(fid, room)

    async def _lost(self, fid: int, room: _Room, first: int, why: str) -> None:
        log.warning("gap not filled; the room resyncs", extra={"stream": self.stream.label, "key": fid, "reason": why})
        room.last = first - 1
        if self._resync is not None:
            try:
                await self._resync(fid)
            except Exception:
                log.exception("could not tell a room to resync", extra={"stream": self.stream.label, "key": fid})

    async def close(self) -> None:
        """Node shutdown: stop the timers and fills."""
        for room in self._rooms.values():
            if room.timer is not None:
                room.timer.cancel()
        self._rooms.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
