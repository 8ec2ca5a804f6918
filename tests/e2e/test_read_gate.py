"""A cached read's rate limits and cache lookup go to Redis together (storage/read_gate.py): each is asked once
a read, a Redis that forgot its scripts still counts each read once, and a Redis that is down serves the read
uncounted and uncached."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from roughcut.config import RateLimit, Settings
from tests.conftest import AppFactory
from tests.e2e.test_response_cache import API, counted, hot_reads, two_members
from tests.helpers import Mailbox, auth
from tests.private_redis import PrivateRedis

Client = TestClient[Any, Any]
WAIT = 10.0
T = TypeVar("T")


def remaining(resp: Any) -> int:
    """The caller's quota left (RateLimit: "user";r=…;t=…; the user's limit is the tightest, see `counting`)."""
    found = re.fullmatch(r'"user";r=(\d+);t=\d+', resp.headers["RateLimit"])
    assert found, resp.headers["RateLimit"]
    return int(found.group(1))


async def counting(make_client: AppFactory, redis_prefix: str) -> tuple[Client, str]:
    """A node whose limits count only this test's requests (a Redis prefix of its own) in windows longer than
    the test, so no earlier hit ages out between two reads; and that prefix."""
    prefix = f"{redis_prefix}:gate{uuid.uuid4().hex[:8]}"
    client = await make_client(
        redis_prefix=prefix, rate_api=RateLimit(1_000, 3_600), rate_api_ip=RateLimit(100_000, 3_600)
    )
    return client, prefix


async def commands_during(redis_url: str, action: Callable[[], Awaitable[T]]) -> tuple[T, list[str]]:
    """Every command clients sent Redis while `action` ran, as MONITOR shows them (until a marker sent after
    it), and what `action` returned; the commands that scripts ran are left out."""
    redis = Redis.from_url(redis_url)
    marker = f"end-{uuid.uuid4().hex}"
    seen: list[str] = []
    try:
        async with redis.monitor() as monitor:
            result = await action()
            await redis.echo(marker)
            async with asyncio.timeout(WAIT):
                while marker not in (command := await monitor.next_command())["command"]:
                    if command["client_type"] != "lua":
                        seen.append(command["command"])
    finally:
        await redis.aclose()
    return result, seen


async def test_a_cached_read_counts_and_looks_up_once(
    make_client: AppFactory, pg_settings: Settings, redis_prefix: str, mailbox: Mailbox
) -> None:
    client, prefix = await counting(make_client, redis_prefix)
    owner, _member, pid, fid = await two_members(client, mailbox)
    for resource, path in hot_reads(pid, fid).items():
        first = await client.get(f"{API}{path}", headers=auth(owner))
        assert first.status == 200, resource
        hits = await counted(client, resource, "hit")
        read = functools.partial(client.get, f"{API}{path}", headers=auth(owner))
        second, sent = await commands_during(pg_settings.redis_url, read)
        ours = [c for c in sent if f"{prefix}:" in c]
        assert second.status == 200 and await second.read() == await first.read(), resource
        assert await counted(client, resource, "hit") == hits + 1, resource
        assert remaining(second) == remaining(first) - 1, resource
        limits = [c for c in ours if f"{prefix}:rl:api_" in c]
        lookups = [c for c in ours if f"{prefix}:rc:v:" in c]
        assert (len(limits), len(lookups)) == (1, 1), (resource, ours)
        assert all(c.startswith("EVALSHA") for c in limits + lookups), ours
        assert len(ours) == 2, (resource, ours)  # nothing else: no second lookup by the handler


async def test_a_redis_that_forgot_its_scripts_still_counts_each_read_once(
    make_client: AppFactory, pg_settings: Settings, redis_prefix: str, mailbox: Mailbox
) -> None:
    client, _prefix = await counting(make_client, redis_prefix)
    owner, _member, pid, fid = await two_members(client, mailbox)
    path = hot_reads(pid, fid)["project"]
    first = await client.get(f"{API}{path}", headers=auth(owner))
    assert first.status == 200
    hits = await counted(client, "project", "hit")
    redis = Redis.from_url(pg_settings.redis_url)
    try:
        await redis.script_flush()  # as a Redis restarted with its data (or a failover) would be: NOSCRIPT
    finally:
        await redis.aclose()
    again = await client.get(f"{API}{path}", headers=auth(owner))
    assert again.status == 200 and await again.read() == await first.read()
    assert remaining(again) == remaining(first) - 1  # NOSCRIPT ran nothing: the rerun is the only count
    assert await counted(client, "project", "hit") == hits + 1


async def test_a_cached_read_is_served_uncounted_and_uncached_while_redis_is_down(
    make_client: AppFactory, mailbox: Mailbox, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(redis_url=private_redis.url)
    owner, _member, pid, fid = await two_members(client, mailbox)
    paths = hot_reads(pid, fid)
    before = {r: await (await client.get(f"{API}{p}", headers=auth(owner))).read() for r, p in paths.items()}
    misses = await counted(client, "project", "miss")

    await private_redis.stop()
    with caplog.at_level(logging.WARNING):
        for resource, path in paths.items():
            resp = await client.get(f"{API}{path}", headers=auth(owner))
            assert resp.status == 200, (resource, await resp.text())
            assert "RateLimit" not in resp.headers, resource
            assert await resp.read() == before[resource], resource
    assert await counted(client, "project", "miss") == misses + 1  # rendered afresh, not stored
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("rate limiter unavailable") for m in messages) == 1, messages
    assert sum(m.startswith("response cache unavailable") for m in messages) == 1, messages
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
