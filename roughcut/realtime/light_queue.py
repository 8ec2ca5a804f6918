"""The queue engine.io gives each socket, without asyncio.Queue's idle cost.

python-engineio makes one queue per socket (`server.create_queue()`, pinned in
tests/unit/test_light_queue.py). An asyncio.Queue holds three deques and an Event with a fourth from the
start, ~3 KB, whether or not anything is ever queued; on a WebSocket written directly
(realtime/direct_socket.py) the queue is empty for the whole life of the connection. `LightQueue` keeps
the part of asyncio.Queue's interface engine.io and roughcut use (put/put_nowait, get/get_nowait,
task_done/join, empty/qsize) in a slotted object of a few words: the item list and the waiters are made
when first needed and dropped when they empty again. Unbounded, as engine.io's queues are.
"""

from __future__ import annotations

import asyncio
from typing import Any


def _wake_first(waiters: list[asyncio.Future[None]] | None) -> None:
    if waiters:
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                return


class LightQueue:
    """An unbounded FIFO with asyncio.Queue's semantics for the methods it has."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished")

    def __init__(self) -> None:
        self._items: list[Any] | None = None
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        """Whether no item waits."""
        return not self._items

    def put_nowait(self, item: Any) -> None:
        """Append `item` and wake the longest waiting getter."""
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        self._unfinished += 1
        _wake_first(self._getters)

    async def put(self, item: Any) -> None:
        """Same as put_nowait: the queue is unbounded."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        """The oldest item; asyncio.QueueEmpty when there is none."""
        items = self._items
        if not items:
            raise asyncio.QueueEmpty
        item = items.pop(0)
        if not items:
            self._items = None
        return item

    async def get(self) -> Any:
        """The oldest item, waiting for one if need be (getters are served in the order they came)."""
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                if not waiter.cancelled() and waiter.done() and self._items:
                    _wake_first(self._getters)  # woken as it was cancelled: pass the item on
                raise
            finally:
                self._forget(waiter)
        return self.get_nowait()

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        getters = self._getters
        if getters is not None:
            if waiter in getters:
                getters.remove(waiter)
            if not getters:
                self._getters = None

    def task_done(self) -> None:
        """One item taken earlier is dealt with; join() returns when all are."""
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for joiner in joiners:
                if not joiner.done():
                    joiner.set_result(None)

    async def join(self) -> None:
        """Wait until every item put has been taken and marked done."""
        if self._unfinished == 0:
            return
        joiner: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(joiner)
        await joiner
