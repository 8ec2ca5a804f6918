"""Single-use tickets in process and on real Redis: taken once, kept only as a digest, gone after their time."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from roughcut.storage.tickets import LocalTicketStore, RedisTicketStore
from tests.conftest import REDIS_URL

Store = LocalTicketStore | RedisTicketStore


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["local", "redis"])
def store(request: pytest.FixtureRequest, redis: Redis, redis_prefix: str) -> Store:
    return LocalTicketStore() if request.param == "local" else RedisTicketStore(redis, redis_prefix)


async def test_a_ticket_is_taken_once(store: Store) -> None:
    await store.put("t-1", '{"a": 1}', 30)
    assert await store.take("t-1") == '{"a": 1}'
    assert await store.take("t-1") is None
    assert await store.take("never-issued") is None


async def test_concurrent_takes_give_the_ticket_to_one(store: Store) -> None:
    await store.put("t-2", "grant", 30)
    taken = await asyncio.gather(*(store.take("t-2") for _ in range(8)))
    assert taken.count("grant") == 1


async def test_a_local_ticket_past_its_time_is_refused() -> None:
    store = LocalTicketStore()
    await store.put("t-3", "grant", 0)
    assert await store.take("t-3") is None


async def test_redis_keeps_the_digest_with_its_expiry(redis: Redis, redis_prefix: str) -> None:
    store = RedisTicketStore(redis, redis_prefix)
    await store.put("t-4", "grant", 30)
    key = f"{redis_prefix}:ticket:{hashlib.sha256(b't-4').hexdigest()}"
    assert 0 < await redis.pttl(key) <= 30_000  # Redis removes it when the time is up
    assert [k async for k in redis.scan_iter(f"{redis_prefix}:ticket:*t-4*")] == []
    assert await store.take("t-4") == "grant"
    assert await redis.exists(key) == 0
