"""The Redis retry policy (storage/redis_client.py) on real Redis: a restart is ridden out, a replay counts once."""

from __future__ import annotations

import signal
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from roughcut.domain.ports import Verdict
from roughcut.storage import ratelimit, redis_client
from roughcut.storage.ratelimit import RedisRateLimiter
from tests.conftest import REDIS_URL
from tests.private_redis import PrivateRedis


async def test_a_replayed_hit_counts_once(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A retried rate-limit script (its first reply lost) sends the same hit id again: allowed once, logged once."""
    client = Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, redis_prefix)
    key = uuid.uuid4().hex
    try:
        with monkeypatch.context() as patch:
            patch.setattr(ratelimit.uuid, "uuid4", lambda: uuid.UUID(int=1))  # every hit now has the same id
            first, replayed = [await limiter.hit("login", key, 1, 60) for _ in range(2)]
        assert first == replayed == Verdict(True, 1, 0, 0)
        refused = await limiter.hit("login", key, 1, 60)  # a new hit: the one slot is taken, once
        assert not refused.allowed
    finally:
        await client.aclose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
async def test_the_retrying_client_rides_out_a_restart_and_a_plain_one_does_not(
    private_redis: PrivateRedis, sig: signal.Signals
) -> None:
    """Pins why the policy exists: redis-py's from_url() client does not retry (it did not in 5.x-8.x)."""
    plain, retrying = Redis.from_url(private_redis.url), redis_client.connect(private_redis.url)
    limiter = RedisRateLimiter(retrying, "rctest-retry")
    try:
        assert await plain.ping() and await retrying.ping()
        assert (await limiter.hit("login", "k", 5, 60)).allowed
        await private_redis.restart(sig)
        with pytest.raises(RedisConnectionError):
            await plain.ping()
        assert await retrying.ping()
        assert (await limiter.hit("login", "k", 5, 60)).allowed  # the script is gone too: loaded again
    finally:
        await plain.aclose()
        await retrying.aclose()
