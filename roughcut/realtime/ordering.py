"""Chat messages leave this node in `seq` order per room, whichever node stored them.

Two nodes' writers publish after commit, each on its own: node B may apply its seq 5 (locally, at once)
before node A's seq 4 reaches it through Redis. `ChatOrder` keeps, per thread with sockets on this
node, the last seq it delivered; a later seq waits up to HOLD_SECONDS for the missing ones, then they
are read from the database (`fetch`: committed before the later seq, since seqs are given out under
the thread's row lock) and delivered first. A gap too wide to fill, or a failed read, tells the room's
sockets to `resync` instead: never a silent gap.

State exists only for threads a local socket joined (`joined` sets the baseline from the join's read)
and is dropped when a message finds none of its rooms here; ROOMS_MAX bounds it besides. A thread
without state is passed through as it comes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from roughcut.realtime.dispatch import Emit
from roughcut.realtime.rooms import CHAT_NAMESPACE

log = logging.getLogger(__name__)

# How long a later seq waits for the earlier ones through the broker before they are read from the
# database: above a loaded Redis round trip between nodes (~1-20 ms), short enough not to be noticed.
HOLD_SECONDS = 0.08
FILL_MAX = 200  # widest gap read from the database; past it the room's sockets resync (join after_seq)
HELD_MAX = 1000  # messages held per room at most: past it the gap is filled at once, without waiting
ROOMS_MAX = 100_000  # threads tracked per node; past it an idle one is forgotten (passes through after)

Deliver = Callable[[Emit], Awaitable[None]]
HasLocal = Callable[[Sequence[str]], bool]
# (feedback_id, after_seq, before_seq) → the stored messages strictly between, as `message` payloads.
Fetch = Callable[[int, int, int], Awaitable[Sequence[Mapping[str, Any]]]]
Resync = Callable[[int], Awaitable[None]]


@dataclass(slots=True)
class _Room:
    last: int  # highest seq delivered on this node (or known to the sockets that joined)
    held: dict[int, Emit] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None
    busy: bool = False  # a drain or fill runs: arrivals only go on `held`, the runner picks them up
    resyncing: bool = False  # the room's sockets were told to resync: their next join moves `last` up


class ChatOrder:
    """Per-room reorder buffer in front of this node's chat `message` emits."""

    def __init__(self, deliver: Deliver, has_local: HasLocal, hold: float = HOLD_SECONDS) -> None:
        self._deliver = deliver
        self._has_local = has_local
        self._hold = hold
        self._fetch: Fetch | None = None
        self._resync: Resync | None = None
        self._rooms: dict[int, _Room] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def attach(self, fetch: Fetch, resync: Resync) -> None:
        """Give the buffer its database read and its resync (built after the publisher)."""
        self._fetch, self._resync = fetch, resync

    def last_seq(self, feedback_id: int) -> int | None:
        """The last seq delivered here for a thread, or None when it is not tracked."""
        room = self._rooms.get(feedback_id)
        return None if room is None else room.last

    def joined(self, feedback_id: int, last_seq: int) -> None:
        """A local socket joined and read up to `last_seq`: track the thread from there (if not yet)."""
        room = self._rooms.get(feedback_id)
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
        if len(self._rooms) >= ROOMS_MAX:
            idle = next((fid for fid, r in self._rooms.items() if not r.held and not r.busy), None)
            if idle is None:
                return
            del self._rooms[idle]
        self._rooms[feedback_id] = _Room(last_seq)

    def resyncing(self, feedback_ids: Iterable[int] | None) -> None:
        """These threads' local sockets (None: every thread's) were told to resync and will re-join."""
        for fid in self._rooms if feedback_ids is None else feedback_ids:
            room = self._rooms.get(fid)
            if room is not None:
                room.resyncing = True

    async def message(self, emit: Emit) -> None:
        """Deliver a `message` emit in seq order (now, later, or after the gap is read)."""
        fid, seq = int(emit.payload["feedback_id"]), int(emit.payload["seq"])
        room = self._rooms.get(fid)
        if room is None:
            await self._deliver(emit)
            return
        if seq <= room.last or seq in room.held:
            return  # delivered already (a retried broker message, or read from the database)
        if not room.held and not room.busy and not self._has_local(emit.rooms):
            del self._rooms[fid]  # nobody here any more: forget the thread (a new join sets it again)
            return
        room.held[seq] = emit
        if not room.busy:
            await self._drain(fid, room)

    async def _drain(self, fid: int, room: _Room) -> None:
        room.busy = True
        try:
            while (nxt := room.held.pop(room.last + 1, None)) is not None:
                room.last += 1
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
        rooms = room.held[first].rooms
        try:
            if first - room.last - 1 > FILL_MAX or self._fetch is None:
                await self._lost(fid, room, first, "gap too wide")
            else:
                found = await self._fetch(fid, room.last, first)
                for payload in sorted(found, key=lambda p: int(p["seq"])):
                    if room.last < int(payload["seq"]) < first:
                        room.last = int(payload["seq"])
                        await self._deliver(Emit(CHAT_NAMESPACE, "message", payload, rooms))
                if room.last < first - 1:  # not in the database (the thread is gone): nothing to show
                    room.last = first - 1
        except Exception:
            log.exception("could not read a chat gap", extra={"feedback_id": fid})
            await self._lost(fid, room, first, "read failed")
        finally:
            room.busy = False
        await self._drain(fid, room)

    async def _lost(self, fid: int, room: _Room, first: int, why: str) -> None:
        log.warning("chat gap not filled; the room resyncs", extra={"feedback_id": fid, "reason": why})
        room.last = first - 1
        if self._resync is not None:
            try:
                await self._resync(fid)
            except Exception:
                log.exception("could not tell a chat room to resync", extra={"feedback_id": fid})

    async def close(self) -> None:
        """Node shutdown: stop the timers and fills."""
        for room in self._rooms.values():
            if room.timer is not None:
                room.timer.cancel()
        self._rooms.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
