"""Fixed-window rate limiters: in process for the embedded default, Redis when REDIS_URL is set."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

# Forget in-process windows past this many keys; the embedded default serves one node of modest load.
MAX_LOCAL_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window ends


class RateLimiter(Protocol):
    async def hit(self, name: str, key: str, limit: int, window: int) -> Verdict: ...


def _window(window: int) -> tuple[int, int]:
    now = time.time()
    index = int(now // window)
    return index, max(1, math.ceil((index + 1) * window - now))


class LocalRateLimiter:
    """Counts in a dict; windows of past periods are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}

    async def hit(self, name: str, key: str, limit: int, window: int) -> Verdict:
        index, reset = _window(window)
        if len(self._counts) > MAX_LOCAL_KEYS:
            self._counts = {k: v for k, v in self._counts.items() if k[2] == int(time.time() // window)}
        slot = (name, key, index)
        count = self._counts.get(slot, 0) + 1
        self._counts[slot] = count
        return Verdict(count <= limit, limit, max(0, limit - count), reset)


class RedisRateLimiter:
    """INCR on a key per window, expiring with it: shared by every node."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, name: str, key: str, limit: int, window: int) -> Verdict:
        index, reset = _window(window)
        rkey = f"{self._prefix}:rl:{name}:{key}:{index}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(rkey)
            pipe.expire(rkey, window + 1)
            count, _ = await pipe.execute()
        return Verdict(int(count) <= limit, limit, max(0, limit - int(count)), reset)
