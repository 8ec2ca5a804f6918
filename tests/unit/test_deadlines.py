"""Deadlines (realtime/deadlines.py): never early, one loop timer per slot, cancel and reset leave nothing."""

from __future__ import annotations

import asyncio

from roughcut.realtime.deadlines import Deadlines

WAIT = 5.0


async def test_keys_fire_once_never_before_their_time_sharing_one_timer_per_slot() -> None:
    loop = asyncio.get_running_loop()
    fired: dict[str, float] = {}
    every = asyncio.Event()

    def fire(key: str) -> None:
        fired[key] = loop.time()
        if len(fired) == 3:
            every.set()

    deadlines: Deadlines[str] = Deadlines(fire, resolution=0.05)
    start = loop.time()
    for key, delay in (("a", 0.0), ("b", 0.01), ("c", 0.12)):
        deadlines.set(key, delay)
    assert len(deadlines) == 3 and deadlines.timers <= 3
    await asyncio.wait_for(every.wait(), WAIT)
    assert fired["b"] - start >= 0.01 and fired["c"] - start >= 0.12
    assert len(deadlines) == 0 and deadlines.timers == 0


async def test_many_keys_due_together_hold_one_timer() -> None:
    deadlines: Deadlines[int] = Deadlines(lambda _key: None, resolution=60.0)
    for key in range(1000):
        deadlines.set(key, 1.0)
    assert len(deadlines) == 1000 and deadlines.timers == 1
    for key in range(1000):
        deadlines.cancel(key)
    assert len(deadlines) == 0 and deadlines.timers == 0  # the last cancel dropped the slot's timer


async def test_setting_again_replaces_the_deadline_and_cancel_forgets_it() -> None:
    fired: list[str] = []
    done = asyncio.Event()

    def fire(key: str) -> None:
        fired.append(key)
        done.set()

    deadlines: Deadlines[str] = Deadlines(fire, resolution=0.01)
    deadlines.set("moved", 3600.0)
    deadlines.set("moved", 0.0)
    deadlines.set("cancelled", 0.0)
    deadlines.cancel("cancelled")
    deadlines.cancel("never set")
    await asyncio.wait_for(done.wait(), WAIT)
    assert fired == ["moved"] and deadlines.timers == 0


async def test_a_failing_handler_does_not_cost_the_others_their_turn() -> None:
    fired: list[int] = []
    done = asyncio.Event()

    def fire(key: int) -> None:
        if key == 0:
            raise RuntimeError("boom")
        fired.append(key)
        if len(fired) == 2:
            done.set()

    deadlines: Deadlines[int] = Deadlines(fire, resolution=0.01)
    for key in range(3):
        deadlines.set(key, 0.0)
    await asyncio.wait_for(done.wait(), WAIT)
    assert sorted(fired) == [1, 2]
