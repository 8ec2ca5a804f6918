"""Read gates (the ReadGate port): a cached read's rate limits and cache lookup, together.

On Redis, both scripts go in one round trip (storage/script_calls.py): a cached read then costs one call to
Redis instead of two before it answers, about a tenth of a hit's CPU. Each part keeps its own rules: a lookup
Redis failed counts against the cache (which then skips Redis for a while, storage/response_cache.py), a count
Redis failed comes back as LimiterUnavailable for the middleware to fail open on. The pair runs on the
limiter's client (which retries for up to ~2 s), so it is only built when the cache lives in the same Redis (no
RESPONSE_CACHE_URL of its own); a lookup alone, while the limits are skipped after a failure, goes through the
cache's own client, which gives up at once. Otherwise, and in process, the gate asks one after the other.
"""

from __future__ import annotations

from collections.abc import Sequence

from roughcut.domain import errors
from roughcut.domain.ports import Admitted, Hit, RateLimiter, ResponseCache, Verdict
from roughcut.domain.read_cache import CacheKey, Lookup
from roughcut.storage.ratelimit import RedisRateLimiter
from roughcut.storage.response_cache import RedisResponseCache
from roughcut.storage.script_calls import run_together


class SequentialReadGate:
    """The limits, then the lookup: in process, or when the cache has a Redis of its own."""

    def __init__(self, limiter: RateLimiter, cache: ResponseCache) -> None:
        self._limiter = limiter
        self._cache = cache

    async def admit(self, hits: Sequence[Hit], key: CacheKey) -> Admitted:
        verdicts: list[Verdict] | None = []
        failed = None
        if hits:
            try:
                verdicts = await self._limiter.hit_many(hits)
            except errors.LimiterUnavailable as exc:
                verdicts, failed = None, exc
        return Admitted(verdicts, failed, await self._cache.get(key))


class RedisReadGate:
    """The limits and the lookup in one pipeline on the limiter's Redis."""

    def __init__(self, limiter: RedisRateLimiter, cache: RedisResponseCache) -> None:
        self._limiter = limiter
        self._cache = cache

    async def admit(self, hits: Sequence[Hit], key: CacheKey) -> Admitted:
        if not hits:  # the limits are skipped (their Redis failed lately): the cache's own fail-fast client
            return Admitted([], None, await self._cache.get(key))
        lookup_call = await self._cache.lookup_call(key)
        calls = [self._limiter.call(hits)] + ([lookup_call] if lookup_call is not None else [])
        answers = await run_together(self._limiter.redis, calls)
        verdicts: list[Verdict] | None
        failed = None
        try:
            verdicts = self._limiter.verdicts(hits, answers[0])
        except errors.LimiterUnavailable as exc:
            verdicts, failed = None, exc
        lookup = Lookup(None, None) if lookup_call is None else self._cache.lookup_answer(answers[-1])
        return Admitted(verdicts, failed, lookup)
