"""LightQueue (realtime/light_queue.py): asyncio.Queue's behaviour for what engine.io uses, and the pin that
engine.io takes each socket's queue from `server.create_queue()`."""

from __future__ import annotations

import asyncio
import sys

import pytest
from engineio import packet
from engineio.async_socket import AsyncSocket

from roughcut.realtime.direct_socket import DirectEngine
from roughcut.realtime.light_queue import LightQueue

WAIT = 5.0


async def test_items_come_out_in_order_and_get_nowait_raises_when_empty() -> None:
    queue = LightQueue()
    assert queue.empty() and queue.qsize() == 0
    with pytest.raises(asyncio.QueueEmpty):
        queue.get_nowait()
    for n in range(3):
        await queue.put(n)
    assert queue.qsize() == 3 and not queue.empty()
    assert [queue.get_nowait(), await queue.get(), queue.get_nowait()] == [0, 1, 2]
    assert queue.empty()


async def test_getters_wait_and_are_served_in_the_order_they_came() -> None:
    queue = LightQueue()
    got: list[tuple[int, str]] = []

    async def getter(n: int) -> None:
        got.append((n, await queue.get()))

    tasks = [asyncio.create_task(getter(n)) for n in range(3)]
    await asyncio.sleep(0)  # all three wait
    for item in ("a", "b", "c"):
        queue.put_nowait(item)
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    assert got == [(0, "a"), (1, "b"), (2, "c")]


async def test_a_getter_cancelled_after_being_woken_passes_the_item_on() -> None:
    queue = LightQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("x")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, WAIT) == "x"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert queue.empty()


async def test_a_getter_that_times_out_leaves_nothing_behind() -> None:
    queue = LightQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.get(), 0.01)
    queue.put_nowait(1)
    assert queue.get_nowait() == 1


async def test_join_waits_for_every_item_to_be_done() -> None:
    queue = LightQueue()
    await asyncio.wait_for(queue.join(), WAIT)  # nothing put: at once
    queue.put_nowait(1)
    queue.put_nowait(2)
    joined = asyncio.create_task(queue.join())
    queue.get_nowait()
    queue.task_done()
    await asyncio.sleep(0)
    assert not joined.done()
    queue.get_nowait()
    queue.task_done()
    await asyncio.wait_for(joined, WAIT)
    with pytest.raises(ValueError, match="too many"):
        queue.task_done()


async def test_an_idle_queue_is_a_few_words() -> None:
    queue, standard = LightQueue(), asyncio.Queue[int]()
    assert sys.getsizeof(queue) < 100
    assert not hasattr(queue, "__dict__")
    queue.put_nowait(1)
    queue.get_nowait()
    assert queue._items is None and queue._getters is None  # what a burst made is let go
    assert sys.getsizeof(queue) < sys.getsizeof(standard._queue)


async def test_engine_io_sockets_take_their_queue_from_the_server_and_poll_through_it() -> None:
    """python-engineio's BaseSocket asks `server.create_queue()`; its long-poll reads the queue with get,
    get_nowait and task_done, and close(wait=True) joins it."""
    server = DirectEngine(async_mode="aiohttp")
    sock = AsyncSocket(server, "eio0")
    assert type(sock.queue) is LightQueue
    poll = asyncio.create_task(sock.poll())
    await asyncio.sleep(0)
    sock.queue.put_nowait(packet.Packet(packet.MESSAGE, "a"))
    sock.queue.put_nowait(packet.Packet(packet.MESSAGE, "b"))
    packets = await asyncio.wait_for(poll, WAIT)
    assert [p.data for p in packets] == ["a", "b"]
    await asyncio.wait_for(sock.queue.join(), WAIT)  # the poll marked both done
