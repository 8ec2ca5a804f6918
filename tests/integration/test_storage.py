"""Storage against real PostgreSQL, SQLite and Redis: unit of work, event log, rate limits, migrations."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.domain.events import Audience, Committed, DomainEvent, StoredEvent
from roughcut.domain.project_model import NewProject, Role
from roughcut.domain.projects import full_schedule
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from roughcut.storage.ratelimit import LocalRateLimiter, RedisRateLimiter
from roughcut.storage.uow import SqlUnitOfWork
from tests.conftest import REDIS_URL


class Recorder:
    """An EventPublisher that remembers what it was given, JSON round-tripping each event."""

    def __init__(self) -> None:
        self.published: list[StoredEvent] = []
        self.audiences: list[Audience] = []

    async def publish(self, batch: Sequence[Committed]) -> None:
        for c in batch:
            assert isinstance(c.event, StoredEvent)
            json.loads(json.dumps(c.event.as_dict(), default=str))  # unserialisable payloads fail here
            self.published.append(c.event)
            self.audiences.append(c.audience)


def _user(email: str) -> NewUser:
    return NewUser(email, "n", None, LoginMethod.EMAIL, None, datetime.now(UTC))


async def _count_events(engine: AsyncEngine, type_: str) -> int:
    async with engine.connect() as conn:
        q = select(func.count()).select_from(t.events).where(t.events.c.type == type_)
        return int((await conn.execute(q)).scalar_one())


async def test_events_commit_with_state_and_publish_after(engine: AsyncEngine) -> None:
    recorder = Recorder()
    kind = f"test.{uuid.uuid4().hex[:8]}"
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    async with SqlUnitOfWork(engine, recorder) as uow:
        await uow.users.add(_user(email))
        uow.record(DomainEvent(kind, {"n": 1}, project_id=7, actor_id=1))
        uow.record(DomainEvent(kind, {"n": 2}, project_id=7, actor_id=1))
        assert recorder.published == []  # nothing leaves before commit
        stored = await uow.commit()
    assert [e.data["n"] for e in stored] == [1, 2]
    assert stored[0].id < stored[1].id
    assert recorder.published == stored
    async with SqlUnitOfWork(engine, recorder) as uow:
        assert await uow.users.by_email(email) is not None
        log = await uow.events.after(7, stored[0].id - 1, 10)
    assert [e.id for e in log if e.type == kind] == [e.id for e in stored]


async def test_the_audience_is_fixed_inside_the_transaction(engine: AsyncEngine) -> None:
    """Members as the committing transaction sees them; a leaving member once more, with the rooms to close."""
    recorder = Recorder()
    now = datetime.now(UTC)
    async with SqlUnitOfWork(engine, recorder) as uow:
        owner, stays, goes = [(await uow.users.add(_user(f"{uuid.uuid4().hex[:8]}@example.com"))).id for _ in "abc"]
        project = await uow.projects.create(NewProject("p", "", "", "", "", full_schedule(())), owner, now)
        thread = await uow.feedback.create_thread(project.id, "t", "", owner, now)
        await uow.projects.add_member(project.id, stays, Role.MEMBER, now)
        await uow.projects.add_member(project.id, goes, Role.MEMBER, now)
        await uow.commit()
    async with SqlUnitOfWork(engine, recorder) as uow:
        await uow.projects.remove_member(project.id, goes)
        uow.record(DomainEvent("member.left", {"user_id": goes}, project_id=project.id, leaving=(goes,)))
        uow.record(DomainEvent("memo.changed", {}, project_id=project.id))
        await uow.commit()
    left, memo = recorder.audiences[-2:]
    assert sorted(left.users) == sorted([owner, stays, goes])
    assert (left.leaving, left.threads) == ((goes,), (thread,))
    assert sorted(memo.users) == sorted([owner, stays])
    assert memo.leaving == memo.threads == ()


async def test_rollback_keeps_neither_state_nor_events(engine: AsyncEngine) -> None:
    recorder = Recorder()
    kind = f"test.{uuid.uuid4().hex[:8]}"
    email = f"{uuid.uuid4().hex[:8]}@example.com"

    async def failing_use_case() -> None:
        async with SqlUnitOfWork(engine, recorder) as uow:
            await uow.users.add(_user(email))
            uow.record(DomainEvent(kind, {}, project_id=1))
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert recorder.published == []
    assert await _count_events(engine, kind) == 0
    async with SqlUnitOfWork(engine, recorder) as uow:
        assert await uow.users.by_email(email) is None


async def test_a_failing_publisher_does_not_undo_the_commit(engine: AsyncEngine) -> None:
    class Broken:
        async def publish(self, batch: Sequence[Committed]) -> None:
            raise ConnectionError("broker down")

    kind = f"test.{uuid.uuid4().hex[:8]}"
    async with SqlUnitOfWork(engine, Broken()) as uow:
        uow.record(DomainEvent(kind, {}, project_id=2))
        await uow.commit()
    assert await _count_events(engine, kind) == 1


async def test_refresh_rotation_is_won_by_exactly_one(engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    digest = uuid.uuid4().hex
    async with SqlUnitOfWork(engine, Recorder()) as uow:
        user = await uow.users.add(_user(f"{uuid.uuid4().hex[:8]}@example.com"))
        session = await uow.sessions.create(user.id, now, now, now, "", "")
        await uow.sessions.add_refresh(session.id, digest, now)
        await uow.commit()

    async def rotate() -> bool:
        async with SqlUnitOfWork(engine, Recorder()) as uow:
            won = await uow.sessions.rotate_refresh(digest, datetime.now(UTC))
            await uow.commit()
            return won

    assert sorted(await asyncio.gather(rotate(), rotate(), rotate())) == [False, False, True]


async def test_migrations_match_the_tables(pg_url: str) -> None:
    eng = make_engine(pg_url)
    try:
        async with eng.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), t.metadata))
    finally:
        await eng.dispose()
    # The trigram index is an expression index made in raw SQL by migration 0002; the table model omits it.
    assert [d for d in diff if not (d[0] == "remove_index" and d[1].name == "ix_projects_search_trgm")] == []


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_rate_limiter_slides_per_key(backend: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    limiter = LocalRateLimiter() if backend == "local" else RedisRateLimiter(client, redis_prefix)
    key = uuid.uuid4().hex
    verdicts = [await limiter.hit("login", key, 3, 60) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True, True, True, False, False]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0, 0]
    assert all(58 <= v.reset <= 60 for v in verdicts[3:])
    assert (await limiter.hit("login", key + "-other", 3, 60)).allowed
    assert (await limiter.hit("refresh", key, 3, 60)).allowed
    # A one-second window: refused now, allowed once the oldest hit has slid out (wait on the verdict, not a guess).
    short = [await limiter.hit("short", key, 1, 1) for _ in range(2)]
    assert [v.allowed for v in short] == [True, False]
    await asyncio.sleep(short[1].reset)
    assert (await limiter.hit("short", key, 1, 1)).allowed
    await client.aclose()


@pytest.mark.parametrize("backend", ["local", "redis"])
async def test_several_limits_are_counted_at_once_each_on_its_own(backend: str, redis_prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    limiter = LocalRateLimiter() if backend == "local" else RedisRateLimiter(client, redis_prefix)
    key = uuid.uuid4().hex
    hits = [("api_ip", key, 3, 60), ("api_user", key, 2, 60)]
    rounds = [await limiter.hit_many(hits) for _ in range(4)]
    assert [[v.allowed for v in r] for r in rounds] == [[True, True], [True, True], [True, False], [False, False]]
    assert [[v.remaining for v in r] for r in rounds] == [[2, 1], [1, 0], [0, 0], [0, 0]]
    assert rounds[2][1].reset >= 58 and rounds[3][0].reset >= 58
    # The same keys one at a time see what the batches counted.
    assert not (await limiter.hit("api_ip", key, 3, 60)).allowed
    assert (await limiter.hit("api_ip", key + "-other", 3, 60)).remaining == 2
    await client.aclose()
