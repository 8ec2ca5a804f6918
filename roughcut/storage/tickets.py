"""Single-use tickets: in process for the embedded default, Redis (shared by every node) when REDIS_URL is set.

A ticket is a random value handed to one client; the store keeps only its SHA-256, so a ticket never
appears in a Redis key or a memory dump of keys. Taking a ticket removes it (Redis GETDEL: one atomic step,
so two nodes can never both redeem it).
"""

from __future__ import annotations

import hashlib
import math
import time

from redis.asyncio import Redis

# Forget expired in-process tickets once this many are held; tickets live seconds, so few ever are.
MAX_LOCAL_TICKETS = 10_000


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class LocalTicketStore:
    """Tickets in a dict of digest -> (payload, expiry on the monotonic clock)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, float]] = {}

    async def put(self, ticket: str, payload: str, ttl: float) -> None:
        now = time.monotonic()
        if len(self._held) > MAX_LOCAL_TICKETS:
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
        self._held[_digest(ticket)] = (payload, now + ttl)

    async def take(self, ticket: str) -> str | None:
        held = self._held.pop(_digest(ticket), None)
        if held is None or held[1] <= time.monotonic():
            return None
        return held[0]


class RedisTicketStore:
    """Tickets as `{prefix}:ticket:{sha256}` keys that expire on their own."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, ticket: str) -> str:
        return f"{self._prefix}:ticket:{_digest(ticket)}"

    async def put(self, ticket: str, payload: str, ttl: float) -> None:
        await self._redis.set(self._key(ticket), payload, px=math.ceil(ttl * 1000))

    async def take(self, ticket: str) -> str | None:
        value = await self._redis.getdel(self._key(ticket))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
