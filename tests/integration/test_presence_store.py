"""The Redis presence store on real Redis: entries per project, heartbeats, and sweeps of dead nodes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from roughcut.domain.presence_model import Connection, Status
from roughcut.storage.presence import RedisPresenceStore, encode
from tests.conftest import REDIS_URL

TTL = 2.0  # a short TTL: times below are passed in, so nothing waits for it to pass
PID = 41


class CountingRedis(Redis):
    """Counts the commands sent one by one (scripts included; pipelines are one round trip each)."""

    sent: list[str]

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.sent.append(str(args[0]))
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[CountingRedis]:
    client = cast(CountingRedis, CountingRedis.from_url(REDIS_URL))
    client.sent = []
    yield client
    await client.aclose()


@pytest.fixture
def prefix(redis_prefix: str) -> str:
    return f"{redis_prefix}:p{uuid.uuid4().hex[:8]}"  # under the run's prefix, so the run's cleanup takes it


def entry(user_id: int, node: str, sid: str, status: Status = Status.ONLINE) -> Connection:
    return Connection(user_id, node, sid, status, 1_000)


async def test_a_change_answers_the_live_entries_before_it_in_one_command(redis: CountingRedis, prefix: str) -> None:
    store = RedisPresenceStore(redis, prefix)
    now = time.time()
    a, b = entry(1, "n1", "s1"), entry(2, "n1", "s2")
    await store.change(PID, None, a, now, now + TTL)  # loads the script once per node
    redis.sent.clear()
    assert await store.change(PID, None, b, now, now + TTL) == [a]
    assert redis.sent == ["EVALSHA"]  # one Redis command per subscribe
    away = Connection(1, "n1", "s1", Status.AWAY, 2_000)
    assert sorted(await store.change(PID, a, away, now, now + TTL), key=lambda c: c.user_id) == [a, b]
    assert await store.change(PID, b, None, now, now + TTL, everyone=False) == [b]  # only the user's entries
    assert await store.online(PID, now) == [away]
    assert await store.online(PID, now + TTL + 1) == []  # expired entries are not listed, swept or not


async def test_a_dead_nodes_users_are_swept_once_even_when_nodes_sweep_together(redis: Redis, prefix: str) -> None:
    dead, alive, other = (RedisPresenceStore(redis, prefix) for _ in range(3))
    t0 = time.time()
    gone, both_dead, both_alive = entry(1, "dead", "s1"), entry(2, "dead", "s2"), entry(2, "alive", "s3")
    await dead.change(PID, None, gone, t0, t0 + TTL)
    await dead.change(PID, None, both_dead, t0, t0 + TTL)
    await dead.change(PID + 1, None, entry(3, "dead", "s4"), t0, t0 + TTL)
    await alive.change(PID, None, both_alive, t0, t0 + TTL)

    later = t0 + TTL - 0.5
    await alive.heartbeat("alive", {PID: [both_alive]}, later, later + TTL)  # "dead" sends no more beats
    assert await other.sweep(later) == []  # nobody's heartbeat has run out yet

    after = t0 + TTL + 0.5
    first, second = await asyncio.gather(alive.sweep(after), other.sweep(after))
    assert [] in (first, second)
    swept = {s.project_id: s for s in first or second}
    assert set(swept) == {PID, PID + 1}
    assert set(swept[PID].removed) == {gone, both_dead} and swept[PID].kept == (both_alive,)
    assert swept[PID + 1].kept == ()
    assert await alive.online(PID, after) == [both_alive]
    assert await other.sweep(after + 1) == []
    assert await redis.exists(f"{prefix}:presence:n:dead") == 0
    assert await redis.zscore(f"{prefix}:presence:nodes", "dead") is None


async def test_a_node_swept_by_mistake_restores_its_entries_at_its_next_beat(redis: Redis, prefix: str) -> None:
    store = RedisPresenceStore(redis, prefix)
    t0 = time.time()
    mine = entry(5, "slow", "s1")
    await store.change(PID, None, mine, t0, t0 + TTL)
    assert [s.removed for s in await store.sweep(t0 + TTL + 1)] == [(mine,)]  # paused longer than the TTL
    assert await store.heartbeat("slow", {PID: [mine]}, t0 + TTL + 2, t0 + 2 * TTL + 2) is True
    assert await store.heartbeat("slow", {PID: [mine]}, t0 + TTL + 3, t0 + 2 * TTL + 2) is False
    assert await store.online(PID, t0 + TTL + 2) == [mine]
    assert await redis.zscore(f"{prefix}:presence:p:{PID}", encode(mine)) == pytest.approx(t0 + 2 * TTL + 2)


async def test_a_released_node_is_swept_after_its_grace(redis: Redis, prefix: str) -> None:
    store = RedisPresenceStore(redis, prefix)
    t0 = time.time()
    await store.change(PID, None, entry(6, "leaving", "s1"), t0, t0 + TTL)
    await store.release("leaving", t0 + 0.5)
    assert await store.sweep(t0 + 0.4) == []
    assert [s.project_id for s in await store.sweep(t0 + 0.6)] == [PID]  # before its entries' own expiry
