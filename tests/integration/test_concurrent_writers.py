"""Concurrent writers against the real databases: one lock order on PostgreSQL, one queued writer on SQLite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.domain.events import Committed, DomainEvent, StoredEvent
from roughcut.domain.project_model import NewProject
from roughcut.domain.projects import full_schedule
from roughcut.domain.transactions import writes
from roughcut.storage import migrate
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine, write_slot
from roughcut.storage.uow import SqlUnitOfWork

QUICK = 10.0  # seconds: far above what these steps need (a deadlock is found after deadlock_timeout, 1 s)
READER_WAIT = 2.0  # a reader must not wait for the writer (the SQLite busy timeout is 5 s)
DAY = date(2026, 5, 1)


class Recorder:
    """An EventPublisher that keeps the events it was handed, in order."""

    def __init__(self) -> None:
        self.published: list[StoredEvent] = []

    async def publish(self, batch: Sequence[Committed]) -> None:
        self.published += [c.event for c in batch if isinstance(c.event, StoredEvent)]


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await migrate.upgrade(engine)
    yield engine
    await engine.dispose()


async def _project(engine: AsyncEngine) -> tuple[int, int]:
    """A new owner and project: (owner id, project id)."""
    now = datetime.now(UTC)
    async with SqlUnitOfWork(engine, Recorder()) as uow:
        owner = await uow.users.add(
            NewUser(f"{uuid.uuid4().hex[:8]}@example.com", "o", None, LoginMethod.EMAIL, None, now)
        )
        project = await uow.projects.create(NewProject("p", "", "", "", "", full_schedule(())), owner.id, now)
        await uow.commit()
    return owner.id, project.id


async def _event_ids(engine: AsyncEngine, kind: str) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(t.events.c.id).where(t.events.c.type == kind))).scalars())


Write = Callable[[SqlUnitOfWork, int, int], Awaitable[None]]  # (unit of work, owner id, project id)


async def _memo(uow: SqlUnitOfWork, owner: int, pid: int) -> None:
    await uow.project_memos.add(pid, owner, DAY, "memo", datetime.now(UTC))


async def _rename(uow: SqlUnitOfWork, owner: int, pid: int) -> None:
    await uow.projects.update(pid, datetime.now(UTC), name="renamed")


async def _both_commit(engine: AsyncEngine, first: Write) -> None:
    """Two transactions on one project: `first` in one, a memo insert in the other, then both commit at once.

    Both reach COMMIT while the other's rows are still uncommitted, which is when the commit-time project
    locks used to wait for each other (the memo's foreign-key check holds FOR KEY SHARE on the project).
    """
    owner, pid = await _project(engine)
    kind, recorder, both_written = f"test.{uuid.uuid4().hex[:8]}", Recorder(), asyncio.Barrier(2)

    async def transaction(write: Write) -> None:
        async with SqlUnitOfWork(engine, recorder) as uow:
            await write(uow, owner, pid)
            uow.record(DomainEvent(kind, {}, project_id=pid, actor_id=owner))
            await both_written.wait()
            await uow.commit()

    async with asyncio.timeout(QUICK):
        await asyncio.gather(transaction(first), transaction(_memo))
    ids = sorted(e.id for e in recorder.published)
    assert len(ids) == 2 and sorted(await _event_ids(engine, kind)) == ids


async def test_two_inserts_under_one_project_commit_without_deadlock(pg: AsyncEngine) -> None:
    await _both_commit(pg, _memo)


async def test_a_project_update_beside_an_insert_commits_without_deadlock(pg: AsyncEngine) -> None:
    await _both_commit(pg, _rename)


async def test_a_deadlock_runs_the_write_again_and_publishes_each_event_once(pg: AsyncEngine) -> None:
    """Two writes lock two projects in opposite orders: PostgreSQL kills one, `@writes` runs it again."""
    (_, a), (_, b) = await _project(pg), await _project(pg)
    kind, recorder, both_hold_one = f"test.{uuid.uuid4().hex[:8]}", Recorder(), asyncio.Barrier(2)
    attempts: list[int] = []

    @writes
    async def cross(first: int, second: int) -> None:
        attempts.append(first)
        async with SqlUnitOfWork(pg, recorder) as uow:
            await uow.projects.update(first, datetime.now(UTC), name="x")
            if attempts.count(first) == 1:
                await both_hold_one.wait()
            await uow.projects.update(second, datetime.now(UTC), name="y")
            uow.record(DomainEvent(kind, {"first": first}, project_id=first))
            await uow.commit()

    async with asyncio.timeout(QUICK):
        await asyncio.gather(cross(a, b), cross(b, a))
    assert len(attempts) == 3 and set(attempts) == {a, b}  # the one PostgreSQL chose as victim ran twice
    assert sorted(e.data["first"] for e in recorder.published) == sorted([a, b])
    assert len(await _event_ids(pg, kind)) == 2


async def test_sqlite_writers_queue_without_connections_and_readers_never_wait(lite: AsyncEngine) -> None:
    owner, pid = await _project(lite)
    recorder, holding, release = Recorder(), asyncio.Event(), asyncio.Event()

    @writes
    async def add_memo(hold: bool) -> None:
        async with SqlUnitOfWork(lite, recorder) as uow:
            # Read first, write after: a deferred SQLite transaction fails this upgrade under contention.
            assert await uow.projects.get(pid) is not None
            await uow.project_memos.add(pid, owner, DAY, "memo", datetime.now(UTC))
            uow.record(DomainEvent("memo.changed", {}, project_id=pid, actor_id=owner))
            if hold:
                holding.set()
                await release.wait()
            await uow.commit()

    first = asyncio.create_task(add_memo(True))
    await holding.wait()
    queued = [asyncio.create_task(add_memo(False)) for _ in range(16)]
    for _ in range(3):
        await asyncio.sleep(0)  # let each queued writer run up to the slot
    slot = write_slot(lite)
    assert slot is not None and slot.locked()
    async with asyncio.timeout(READER_WAIT):
        async with SqlUnitOfWork(lite, recorder) as uow:  # a reader beside the open write transaction
            assert await uow.projects.role_of(pid, owner) is not None
    # Only the open writer holds a connection: the queued ones wait for the slot without one.
    assert isinstance(lite.pool, QueuePool) and lite.pool.checkedout() == 1
    release.set()
    async with asyncio.timeout(QUICK):
        await asyncio.gather(first, *queued)
    ids = [e.id for e in recorder.published]
    assert len(ids) == 17 and ids == sorted(ids)


async def _numbered_in_commit_order(engine: AsyncEngine) -> None:
    """Receiving nodes order by seq (realtime/ordering.py): seqs must be 1..n and follow the ids."""
    owner, pid = await _project(engine)
    kind, recorder = f"test.{uuid.uuid4().hex[:8]}", Recorder()

    async def transaction(i: int) -> None:
        async with SqlUnitOfWork(engine, recorder) as uow:
            await uow.project_memos.add(pid, owner, DAY, f"memo {i}", datetime.now(UTC))
            uow.record(DomainEvent(kind, {"i": i}, project_id=pid, actor_id=owner))
            uow.record(DomainEvent(kind, {"i": i}, project_id=pid, actor_id=owner))
            await uow.commit()

    async with asyncio.timeout(QUICK * 3):
        await asyncio.gather(*(transaction(i) for i in range(12)))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(t.events.c.id, t.events.c.seq).where(t.events.c.project_id == pid).order_by(t.events.c.id)
            )
        ).all()
    assert [seq for _, seq in rows] == list(range(1, len(rows) + 1))
    assert sum(1 for e in recorder.published if e.type == kind) == 24
    published = {e.id: e.seq for e in recorder.published}
    assert all(published[i] == seq for i, seq in rows if i in published)


async def test_parallel_writers_number_a_projects_events_gap_free_in_commit_order(pg: AsyncEngine) -> None:
    await _numbered_in_commit_order(pg)


async def test_queued_writers_number_a_projects_events_gap_free_on_sqlite(lite: AsyncEngine) -> None:
    await _numbered_in_commit_order(lite)
