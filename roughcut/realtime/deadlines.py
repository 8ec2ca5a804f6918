"""Per-socket deadlines (the next engine.io ping, the access token's expiry) without a timer per socket.

A `loop.call_at` handle per socket costs ~0.5-0.9 KB once its bound method, arguments and copied context
are counted, and 10,000 idle sockets keep 10,000 of them in the loop's heap. `Deadlines` groups keys by
the `resolution`-wide slot they fall due in (rounded up: never early) and keeps one loop timer per slot
that holds any: per key only a dict entry and a set entry. When a slot's time comes, each of its keys is
handed to `fire`, in no particular order.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class _Slot(Generic[K]):
    __slots__ = ("keys", "number", "timer")

    def __init__(self, number: int, timer: asyncio.TimerHandle) -> None:
        self.number = number
        self.timer = timer
        self.keys: set[K] = set()


class Deadlines(Generic[K]):
    """At most one deadline per key; `fire(key)` runs once it has passed (a little after, never before)."""

    def __init__(self, fire: Callable[[K], None], resolution: float = 1.0) -> None:
        self._fire = fire
        self._resolution = resolution
        self._slots: dict[int, _Slot[K]] = {}
        self._slot_of: dict[K, _Slot[K]] = {}

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: K) -> bool:
        return key in self._slot_of

    @property
    def timers(self) -> int:
        """Loop timers held: one per slot with keys in it."""
        return len(self._slots)

    def set(self, key: K, delay: float) -> None:
        """Fire `key` `delay` seconds from now (replacing its earlier deadline, if any)."""
        self.cancel(key)
        loop = asyncio.get_running_loop()
        number = math.ceil((loop.time() + max(0.0, delay)) / self._resolution)
        slot = self._slots.get(number)
        if slot is None:
            timer = loop.call_at(number * self._resolution, self._run, number)
            slot = self._slots[number] = _Slot(number, timer)
        slot.keys.add(key)
        self._slot_of[key] = slot

    def cancel(self, key: K) -> None:
        """Forget `key`'s deadline (nothing when it has none)."""
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        slot.keys.discard(key)
        if not slot.keys:
            slot.timer.cancel()
            del self._slots[slot.number]

    def _run(self, number: int) -> None:
        slot = self._slots.pop(number, None)
        if slot is None:
            return
        for key in slot.keys:
            del self._slot_of[key]
        for key in slot.keys:
            try:
                self._fire(key)
            except Exception:  # one key's failure must not cost the others their turn
                log.exception("a deadline's handler failed")
