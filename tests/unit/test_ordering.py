"""The reorder buffer (realtime/ordering.py) as plain code: fakes for delivery, the store and resync."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from roughcut.realtime import ordering
from roughcut.realtime.dispatch import Emit
from roughcut.realtime.ordering import CHAT, PROJECT, SeqOrder
from roughcut.realtime.rooms import CHAT_NAMESPACE, PROJECTS_NAMESPACE, chat_room, member_room

FID = 7
ROOMS = [chat_room(FID, 1)]
HOLD = 0.02  # short, so the waits below end quickly; each wait is bounded by WAIT
WAIT = 2.0


def message(seq: int, fid: int = FID) -> Emit:
    return Emit(CHAT_NAMESPACE, "message", {"feedback_id": fid, "seq": seq}, ROOMS)


class World:
    """Records deliveries and resyncs; the 'database' holds the messages a fill may read."""

    def __init__(self, stored: Sequence[int] = (), local: bool = True) -> None:
        self.delivered: list[int] = []
        self.resynced: list[int] = []
        self.reads: list[tuple[int, int, int]] = []
        self.stored = set(stored)
        self.local = local
        self.changed = asyncio.Event()
        self.fail_reads = False
        self.order = SeqOrder(CHAT, self.deliver, lambda emit: emit if self.local else None, hold=HOLD)
        self.order.attach(self.fetch, self.resync)

    async def deliver(self, emit: Emit) -> None:
        await asyncio.sleep(0)  # a delivery may yield: arrivals meanwhile must not overtake it
        self.delivered.append(int(emit.payload["seq"]))
        self.changed.set()

    async def fetch(self, fid: int, after: int, before: int) -> list[Mapping[str, Any]]:
        self.reads.append((fid, after, before))
        if self.fail_reads:
            raise OSError("database gone")
        return [{"feedback_id": fid, "seq": s} for s in sorted(self.stored) if after < s < before]

    async def resync(self, fid: int) -> None:
        self.resynced.append(fid)
        self.changed.set()

    async def until(self, done: Any) -> None:
        async with asyncio.timeout(WAIT):
            while not done():
                self.changed.clear()
                await self.changed.wait()


async def test_in_order_arrivals_pass_at_once() -> None:
    world = World()
    world.order.joined(FID, 3)
    for seq in (4, 5, 6):
        await world.order.put(message(seq))
    assert world.delivered == [4, 5, 6]
    assert world.reads == []


async def test_a_later_seq_waits_for_the_earlier_one() -> None:
    world = World()
    world.order.joined(FID, 3)
    await world.order.put(message(5))
    await world.order.put(message(6))
    assert world.delivered == []  # held
    await world.order.put(message(4))
    assert world.delivered == [4, 5, 6]
    assert world.reads == []  # came in time: nothing read from the store


async def test_duplicates_are_dropped() -> None:
    world = World()
    world.order.joined(FID, 3)
    for seq in (4, 4, 3, 6, 6, 5, 5):
        await world.order.put(message(seq))
    assert world.delivered == [4, 5, 6]


async def test_a_gap_that_does_not_arrive_is_read_from_the_store() -> None:
    world = World(stored=[4, 5])
    world.order.joined(FID, 3)
    await world.order.put(message(6))
    await world.order.put(message(7))
    await world.until(lambda: len(world.delivered) == 4)
    assert world.delivered == [4, 5, 6, 7]
    assert world.reads == [(FID, 3, 6)]
    await world.order.put(message(5))  # the late broker copy is a duplicate now
    await world.order.put(message(8))
    assert world.delivered == [4, 5, 6, 7, 8]
    assert world.resynced == []


async def test_arrivals_during_the_read_wait_and_follow_in_order() -> None:
    world = World(stored=[2])
    world.order.joined(FID, 1)
    await world.order.put(message(3))
    await world.until(lambda: world.reads)  # the fill started
    await world.order.put(message(5))
    await world.order.put(message(4))
    await world.until(lambda: len(world.delivered) == 4)
    assert world.delivered == [2, 3, 4, 5]


async def test_a_gap_the_store_cannot_fill_resyncs_the_room() -> None:
    world = World()
    world.fail_reads = True
    world.order.joined(FID, 3)
    await world.order.put(message(5))
    await world.until(lambda: world.delivered == [5])
    assert world.resynced == [FID]  # the sockets re-join from their last seq: never a silent gap


async def test_a_gap_wider_than_a_read_resyncs_without_reading() -> None:
    world = World()
    world.order.joined(FID, 0)
    late = ordering.FILL_MAX + 2
    await world.order.put(message(late))
    await world.until(lambda: world.delivered == [late])
    assert (world.reads, world.resynced) == ([], [FID])


async def test_untracked_threads_pass_through_and_empty_ones_are_forgotten() -> None:
    world = World(local=False)
    await world.order.put(message(9, fid=99))  # nobody joined here: as it comes
    assert world.delivered == [9]
    world.order.joined(FID, 3)
    await world.order.put(message(4))  # nobody left in its rooms on this node
    assert world.order.last_seq(FID) is None
    assert world.delivered == [9]


async def test_after_a_resync_the_re_join_moves_the_baseline_up() -> None:
    world = World()
    world.order.joined(FID, 3)
    await world.order.put(message(6))  # 4 and 5 were lost between nodes
    world.order.resyncing([FID])
    world.order.joined(FID, 6)  # the sockets re-joined and read 4..6 from the store
    await world.order.put(message(7))
    assert world.delivered == [7]
    assert world.reads == []


class Feeds:
    """A node's /projects sockets: member rooms resolve to the sids in them at arrival, as the publisher does."""

    def __init__(self, stored: Sequence[int] = ()) -> None:
        self.in_room: dict[str, list[str]] = {member_room(PID, 1): ["sid-a"], member_room(PID, 2): ["sid-b"]}
        self.delivered: list[tuple[int, tuple[str, ...]]] = []
        self.stored = set(stored)
        self.resynced: list[int] = []
        self.changed = asyncio.Event()
        self.order = SeqOrder(PROJECT, self.deliver, self.pin, hold=HOLD)
        self.order.attach(self.fetch, self.resync)

    def pin(self, emit: Emit) -> Emit | None:
        sids = [sid for room in emit.rooms for sid in self.in_room.get(room, [])]
        return Emit(emit.namespace, emit.event, emit.payload, sids) if sids else None

    async def deliver(self, emit: Emit) -> None:
        self.delivered.append((int(emit.payload.get("seq", -1)), tuple(emit.rooms)))
        self.changed.set()

    async def fetch(self, pid: int, after: int, before: int) -> list[Mapping[str, Any]]:
        return [{"project_id": pid, "seq": s} for s in sorted(self.stored) if after < s < before]

    async def resync(self, pid: int) -> None:
        self.resynced.append(pid)


PID = 3


def event(seq: int) -> Emit:
    return Emit(PROJECTS_NAMESPACE, "event", {"project_id": PID, "seq": seq, "id": 100 + seq}, list(ROOMS_P))


ROOMS_P = (member_room(PID, 1), member_room(PID, 2))


async def test_project_events_wait_for_a_gap_and_read_it_from_the_store() -> None:
    feeds = Feeds(stored=[2])
    feeds.order.joined(PID, 1)
    await feeds.order.put(event(3))
    assert feeds.delivered == []  # 2 is missing: held
    async with asyncio.timeout(WAIT):
        while len(feeds.delivered) < 2:
            feeds.changed.clear()
            await feeds.changed.wait()
    assert [seq for seq, _ in feeds.delivered] == [2, 3]
    assert feeds.resynced == []


async def test_recipients_of_a_held_project_event_are_fixed_when_it_arrives() -> None:
    feeds = Feeds()
    feeds.order.joined(PID, 1)
    await feeds.order.put(event(3))  # held: 2 is on its way
    del feeds.in_room[member_room(PID, 2)]  # member 2 left with event 3: its rooms closed at once
    await feeds.order.put(event(2))
    assert feeds.delivered == [(2, ("sid-a",)), (3, ("sid-a", "sid-b"))]  # 3 still reaches who it was for


async def test_project_events_without_a_seq_pass_through_without_moving_the_baseline() -> None:
    feeds = Feeds()
    feeds.order.joined(PID, 5)
    live = Emit(PROJECTS_NAMESPACE, "event", {"project_id": PID, "type": "upload.progress"}, list(ROOMS_P))
    await feeds.order.put(live)  # live only, not in the log: nothing to order it by
    await feeds.order.put(event(6))
    assert feeds.delivered == [(-1, ROOMS_P), (6, ("sid-a", "sid-b"))]
    assert feeds.order.last_seq(PID) == 6
