"""The project event buffer (realtime/project_order.py) as plain code: a fake delivery, short windows."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from roughcut.realtime.dispatch import Emit
from roughcut.realtime.project_order import ProjectOrder
from roughcut.realtime.rooms import PROJECTS_NAMESPACE, member_room

HOLD = 0.03
WAIT = 2.0


class World:
    def __init__(self, here: bool = True) -> None:
        self.delivered: list[tuple[int, list[str]]] = []
        self.here = here
        self.changed = asyncio.Event()
        self.order = ProjectOrder(self.deliver, self.recipients, hold=HOLD)

    def recipients(self, namespace: str, rooms: Sequence[str]) -> list[str]:
        return [f"sid-of-{room}" for room in rooms] if self.here else []

    async def deliver(self, emit: Emit) -> None:
        await asyncio.sleep(0)
        self.delivered.append((int(emit.payload["id"]), emit.rooms))
        self.changed.set()

    def event(self, eid: int, pid: int = 1) -> None:
        payload = {"id": eid, "project_id": pid}
        self.order.event(Emit(PROJECTS_NAMESPACE, "event", payload, [member_room(pid, 5)]))

    async def until(self, count: int) -> list[int]:
        async with asyncio.timeout(WAIT):
            while len(self.delivered) < count:
                self.changed.clear()
                await self.changed.wait()
        return [eid for eid, _ in self.delivered]


async def test_an_earlier_event_within_the_window_goes_first() -> None:
    world = World()
    world.event(105)
    world.event(100)  # id gaps are normal: one sequence for every project
    world.event(107)
    assert world.delivered == []  # held for the window
    assert await world.until(3) == [100, 105, 107]
    assert world.order.waiting() == 0  # nothing kept once delivered


async def test_projects_do_not_wait_for_each_other_and_recipients_are_fixed_on_arrival() -> None:
    world = World()
    world.event(9, pid=2)
    world.event(3, pid=1)
    assert sorted(await world.until(2)) == [3, 9]
    assert world.delivered[0][1][0].startswith("sid-of-project:")  # addressed to the sockets seen on arrival


async def test_a_late_event_still_goes_out_never_dropped() -> None:
    world = World()
    world.event(10)
    assert await world.until(1) == [10]
    world.event(8)  # later than the window: out of place (the documented residual), but delivered
    assert await world.until(2) == [10, 8]


async def test_nothing_is_held_without_local_recipients() -> None:
    world = World(here=False)
    world.event(1)
    assert world.order.waiting() == 0
