"""Project events leave this node in id order per project, within a short hold window.

Event ids come from one sequence for all projects, so they are not gap-free per project: a node
cannot tell from ids alone that an earlier event is still on its way. Ids do grow in commit order per
project (every append holds the project row lock until COMMIT, storage/uow.py). So each event waits
HOLD_SECONDS on this node and then goes out together with every held event of its project that has
a smaller id, smallest first: an earlier event that arrives within the window is put in front.

Residual risk (documented, not hidden): an earlier event that reaches this node more than HOLD_SECONDS
after a later one (a publish stalled that long) goes out after it. Clients keep the highest event id
they saw for `subscribe {after_event_id}`, and every event is in the log, so nothing is lost; only that
late event's position is wrong. The price is HOLD_SECONDS more latency on project events.

The recipients are fixed when the event arrives (the sockets in its rooms then, each addressed by its
own sid room), so a member who leaves with this event still receives it although the dispatch closes
the rooms right away, and a socket that subscribes meanwhile reads the event in its `missed` instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from roughcut.realtime.dispatch import Emit

HOLD_SECONDS = 0.08  # as the chat buffer's hold (ordering.py): above a loaded Redis hop between nodes

Deliver = Callable[[Emit], Awaitable[None]]
Recipients = Callable[[str, Sequence[str]], list[str]]  # (namespace, rooms) → sids of this node's sockets


@dataclass(order=True, slots=True)
class _Held:
    id: int
    due: float
    tie: int
    emit: Emit = field(compare=False)


class ProjectOrder:
    """Per-project hold-and-sort buffer in front of this node's `/projects` `event` emits."""

    def __init__(self, deliver: Deliver, recipients: Recipients, hold: float = HOLD_SECONDS) -> None:
        self._deliver = deliver
        self._recipients = recipients
        self._hold = hold
        self._held: dict[int, list[_Held]] = {}  # project id → heap by event id; only while events wait
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._ties = itertools.count()
        self._lock = asyncio.Lock()  # releases go out one after another, in the order they were due
        self._tasks: set[asyncio.Task[None]] = set()

    def event(self, emit: Emit) -> None:
        """Hold a project `event` emit for its window; it goes out in id order with its project's others."""
        sids = self._recipients(emit.namespace, emit.rooms)
        if not sids:
            return  # nobody here to tell
        loop = asyncio.get_running_loop()
        pid, eid = int(emit.payload["project_id"]), int(emit.payload["id"])
        held = _Held(
            eid, loop.time() + self._hold, next(self._ties), Emit(emit.namespace, emit.event, emit.payload, sids)
        )
        heapq.heappush(self._held.setdefault(pid, []), held)
        if pid not in self._timers:
            self._timers[pid] = loop.call_at(held.due, self._due, pid)

    def _due(self, pid: int) -> None:
        self._timers.pop(pid, None)
        heap = self._held.get(pid)
        if not heap:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        ripe = [h.id for h in heap if h.due <= now]
        going: list[Emit] = []
        if ripe:
            upto = max(ripe)
            while heap and heap[0].id <= upto:  # everything earlier than a ripe event goes before it
                going.append(heapq.heappop(heap).emit)
        if heap:
            self._timers[pid] = loop.call_at(min(h.due for h in heap), self._due, pid)
        else:
            del self._held[pid]
        if going:
            task = loop.create_task(self._send(going))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, going: list[Emit]) -> None:
        async with self._lock:
            for emit in going:
                await self._deliver(emit)

    def waiting(self) -> int:
        """How many events wait on this node."""
        return sum(len(heap) for heap in self._held.values())

    async def close(self) -> None:
        """Node shutdown: drop the timers (clients recover from the log)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._held.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
