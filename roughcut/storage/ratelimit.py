"""Sliding-window rate limiters: in process for the embedded default, Redis when REDIS_URL is set.

A sliding log (one timestamp per accepted hit) is exact at window edges, unlike fixed windows, and the
limits it guards (logins, codes, refreshes) are small, so the log stays short. Refused hits are not
logged, so a client that waits `Retry-After` seconds is let through.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from roughcut.domain import errors
from roughcut.domain.ports import Hit, Verdict
from roughcut.storage.script_calls import ScriptCall

# Forget idle in-process keys past this many; the embedded default serves one node of modest load.
MAX_LOCAL_KEYS = 100_000

# ARGV[4] names the hit (a fresh uuid per call, kept when the client retries the call after a dropped
# connection): a replay of a hit that was already logged answers "allowed" again instead of counting it
# twice or refusing it, so the script is safe to retry (storage/redis_client.py).
# Several limits are checked in one call (one round trip): KEYS[i] with ARGV[3i-1..3i+1] = window, limit,
# member; ARGV[1] is the time. Each key is counted on its own, as separate calls would.
_SLIDING_LOG = """
local now, out = tonumber(ARGV[1]), {}
for i, key in ipairs(KEYS) do
  local window, limit, member = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), ARGV[3 * i + 1]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if redis.call('ZSCORE', key, member) then
    table.insert(out, {1, limit - count, '0'})
  elseif count < limit then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
    table.insert(out, {1, limit - count - 1, '0'})
  else
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    table.insert(out, {0, 0, tostring(tonumber(oldest[2]) + window - now)})
  end
end
return out
"""


class LocalRateLimiter:
    """Keeps each key's recent hit times in a deque."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = {}

    async def hit(self, name: str, key: str, limit: int, window: int) -> Verdict:
        now = time.monotonic()
        if len(self._hits) > MAX_LOCAL_KEYS:
            self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - window}
        log = self._hits.setdefault((name, key), deque())
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) < limit:
            log.append(now)
            return Verdict(True, limit, limit - len(log), 0)
        return Verdict(False, limit, 0, max(1, math.ceil(log[0] + window - now)))

    async def hit_many(self, hits: Sequence[Hit]) -> list[Verdict]:
        return [await self.hit(*hit) for hit in hits]


class RedisRateLimiter:
    """The same sliding log in a Redis sorted set, checked and updated atomically by a script."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self._prefix = prefix
        self._script = redis.register_script(_SLIDING_LOG)

    async def hit(self, name: str, key: str, limit: int, window: int) -> Verdict:
        (verdict,) = await self.hit_many([(name, key, limit, window)])
        return verdict

    async def hit_many(self, hits: Sequence[Hit]) -> list[Verdict]:
        call = self.call(hits)
        try:
            answers = await call.run(self.redis)
        except (RedisError, OSError) as exc:
            answers = exc
        return self.verdicts(hits, answers)

    def call(self, hits: Sequence[Hit]) -> ScriptCall:
        """The script call that counts `hits` (to run alone, or with others: storage/script_calls.py)."""
        keys = [f"{self._prefix}:rl:{name}:{key}" for name, key, _limit, _window in hits]
        args: list[float | int | str] = [time.time()]
        for _name, _key, limit, window in hits:
            args += [window, limit, uuid.uuid4().hex]
        return ScriptCall(self._script, keys, args)

    @staticmethod
    def verdicts(hits: Sequence[Hit], answers: Any) -> list[Verdict]:
        """The verdicts in the script's answer; raises LimiterUnavailable when Redis failed it (the caller
        decides whether to fail open or closed)."""
        if isinstance(answers, (RedisError, OSError)):
            raise errors.LimiterUnavailable() from answers
        return [_verdict(answer, hit[2]) for answer, hit in zip(answers, hits, strict=True)]


def _verdict(answer: list[bytes | int], limit: int) -> Verdict:
    allowed, remaining, wait = answer
    if int(allowed):
        return Verdict(True, limit, int(remaining), 0)
    return Verdict(False, limit, 0, max(1, math.ceil(float(wait))))
