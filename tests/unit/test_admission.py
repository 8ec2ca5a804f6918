"""Admission's line: first come, first served; a place passes straight to the next waiter; nobody waits forever."""

from __future__ import annotations

import asyncio

import pytest

from roughcut.http.admission import Admission, counted

WAIT = 5.0


async def _wait_for_line(gate: Admission, waiting: int) -> None:
    async with asyncio.timeout(WAIT):
        while gate.waiting != waiting:  # noqa: ASYNC110 - one loop turn lets the waiter task join the line
            await asyncio.sleep(0)


async def test_waiters_are_admitted_in_arrival_order_and_newcomers_do_not_overtake() -> None:
    gate = Admission(limit=1, queue=10, max_wait=WAIT)
    assert await gate.enter()
    order: list[int] = []

    async def wait_then_hold(n: int) -> None:
        assert await gate.enter()
        order.append(n)
        gate.leave()

    waiters = []
    for n in range(3):
        waiters.append(asyncio.create_task(wait_then_hold(n)))
        await _wait_for_line(gate, n + 1)
    gate.leave()
    await asyncio.wait_for(asyncio.gather(*waiters), WAIT)
    assert order == [0, 1, 2]
    assert (gate.active, gate.waiting) == (0, 0)


async def test_a_full_line_refuses_at_once_and_a_long_wait_refuses_when_it_runs_out() -> None:
    gate = Admission(limit=1, queue=1, max_wait=0.05)
    assert await gate.enter()
    waiter = asyncio.create_task(gate.enter())
    await _wait_for_line(gate, 1)
    assert not await gate.enter()  # the line is full
    assert not await asyncio.wait_for(waiter, WAIT)  # the holder never left
    assert (gate.active, gate.waiting) == (1, 0)
    gate.leave()
    assert gate.active == 0


async def test_a_waiter_that_goes_away_gives_up_its_place_in_line() -> None:
    gate = Admission(limit=1, queue=5, max_wait=WAIT)
    assert await gate.enter()
    gone = asyncio.create_task(gate.enter())
    await _wait_for_line(gate, 1)
    stays = asyncio.create_task(gate.enter())
    await _wait_for_line(gate, 2)
    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert gate.waiting == 1
    gate.leave()
    assert await asyncio.wait_for(stays, WAIT)
    assert (gate.active, gate.waiting) == (1, 0)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/projects", True),
        ("/api/v1/projects/7/events", True),
        ("/projects/project_list", True),  # the old app's REST
        ("/api/v1/projects/7/events/stream", False),  # SSE
        ("/socket.io/", False),
        ("/ws/chat/7/", False),
        ("/blobs/projects/7/cut.mp4", False),
        ("/healthz", False),
        ("/readyz", False),
        ("/metrics", False),
        ("/.well-known/jwks.json", False),
        ("/api/docs/", False),
    ],
)
def test_operational_and_long_lived_paths_are_not_counted(path: str, expected: bool) -> None:
    assert counted("GET", path) is expected
    assert counted("HEAD", path) is expected


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE", "OPTIONS"])
def test_writes_are_not_counted(method: str) -> None:
    assert not counted(method, "/api/v1/projects")
