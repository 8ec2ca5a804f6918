"""The durable job queue in SQL: `SqlJobs` enqueues inside a unit of work, `SqlJobStore` serves the workers.

A job is one row of `jobs`. Claiming sets a lease (`locked_until`, `locked_by` = a fresh token per
claim) and counts the attempt; the worker renews the lease while the handler runs. A worker that dies
leaves its lease to lapse, and the row is claimable again. On PostgreSQL the claim's subselect takes
`FOR UPDATE SKIP LOCKED`, so concurrent claimers skip each other's rows instead of waiting, and the
row lock re-checks the lease on the row's latest version, so two claimers never both take a row. On
SQLite the claim runs in the single write slot (BEGIN IMMEDIATE), one claimer at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain.job_model import Job, JobStatus
from roughcut.storage import tables as t
from roughcut.storage.db import begin_write

MAX_ERROR_CHARS = 4000  # the last error kept on the row: a traceback's tail is enough to read

_c = t.jobs.c


def _job(r: RowMapping) -> Job:
    return Job(
        id=r["id"],
        kind=r["kind"],
        payload=r["payload"],
        key=r["key"],
        status=JobStatus(r["status"]),
        attempts=r["attempts"],
        run_at=r["run_at"],
        created_at=r["created_at"],
        token=r["locked_by"],
        last_error=r["last_error"],
        finished_at=r["finished_at"],
    )


async def _insert(
    conn: AsyncConnection, kind: str, payload: dict[str, Any], key: str | None, run_at: datetime, now: datetime
) -> int | None:
    # ON CONFLICT DO NOTHING against the partial unique index on (kind, key) of pending jobs: a second
    # enqueue with the same key while one is pending inserts nothing and returns no row.
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    q = (
        dialect_insert(t.jobs)
        .values(kind=kind, key=key, payload=payload, status=JobStatus.PENDING, run_at=run_at, created_at=now)
        .on_conflict_do_nothing()
        .returning(_c.id)
    )
    job_id: int | None = (await conn.execute(q)).scalar_one_or_none()
    return job_id


class SqlJobs:
    """The JobQueue port on a unit of work's connection: the job commits or rolls back with it."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.enqueued = False  # the unit of work wakes this node's worker after a commit that enqueued

    async def enqueue(
        self, kind: str, payload: dict[str, Any], *, key: str | None = None, run_at: datetime | None = None
    ) -> int | None:
        now = datetime.now(UTC)
        job_id = await _insert(self._conn, kind, payload, key, run_at or now, now)
        self.enqueued = self.enqueued or job_id is not None
        return job_id


class SqlJobStore:
    """The JobStore port: each call is one short write transaction of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, kinds: Collection[str], limit: int, now: datetime, lease_until: datetime) -> list[Job]:
        due = (
            select(_c.id)
            .where(
                _c.status == JobStatus.PENDING,
                _c.run_at <= now,
                or_(_c.locked_until.is_(None), _c.locked_until < now),
                _c.kind.in_(sorted(kinds)),
            )
            .order_by(_c.run_at, _c.id)
            .limit(limit)
        )
        # An idle poll only reads (a deferred transaction beside the writers): it takes no write slot, which
        # on SQLite is the one every write of the node queues for.
        async with self._engine.connect() as conn:
            if (await conn.execute(due.limit(1))).first() is None:
                return []
        token = uuid.uuid4().hex
        due = due.with_for_update(skip_locked=True)  # PostgreSQL only; SQLite compiles it to nothing
        q = (
            update(t.jobs)
            .where(_c.id.in_(due.scalar_subquery()))
            .values(locked_until=lease_until, locked_by=token, attempts=_c.attempts + 1)
            .returning(*t.jobs.c)
        )
        async with begin_write(self._engine) as conn:
            rows = (await conn.execute(q)).mappings().all()
        return sorted((_job(r) for r in rows), key=lambda j: (j.run_at, j.id))

    async def _held(self, job: Job, **values: Any) -> bool:
        q = update(t.jobs).where(_c.id == job.id, _c.locked_by == job.token, _c.status == JobStatus.PENDING)
        async with begin_write(self._engine) as conn:
            return (await conn.execute(q.values(**values))).rowcount == 1

    async def extend(self, job: Job, lease_until: datetime) -> bool:
        return await self._held(job, locked_until=lease_until)

    async def finish(self, job: Job, now: datetime, next_run: datetime | None = None) -> bool:
        q = (
            update(t.jobs)
            .where(_c.id == job.id, _c.locked_by == job.token, _c.status == JobStatus.PENDING)
            .values(status=JobStatus.DONE, finished_at=now, locked_until=None, last_error=None)
        )
        async with begin_write(self._engine) as conn:
            if (await conn.execute(q)).rowcount != 1:
                return False
            if next_run is not None:
                await _insert(conn, job.kind, job.payload, job.key, next_run, now)
        return True

    async def retry(self, job: Job, run_at: datetime, error: str) -> bool:
        return await self._held(job, run_at=run_at, locked_until=None, last_error=error[-MAX_ERROR_CHARS:])

    async def bury(self, job: Job, now: datetime, error: str) -> bool:
        return await self._held(
            job, status=JobStatus.DEAD, finished_at=now, locked_until=None, last_error=error[-MAX_ERROR_CHARS:]
        )

    async def release(self, job: Job) -> None:
        # A worker stopping hands the job back at once, and the interrupted attempt does not count.
        await self._held(job, locked_until=None, attempts=_c.attempts - 1)

    async def schedule(self, kind: str, key: str, run_at: datetime, now: datetime) -> None:
        async with begin_write(self._engine) as conn:
            await _insert(conn, kind, {}, key, run_at, now)

    async def dead(self, limit: int, kind: str | None = None) -> list[Job]:
        q = select(t.jobs).where(_c.status == JobStatus.DEAD).order_by(_c.finished_at.desc(), _c.id.desc())
        if kind is not None:
            q = q.where(_c.kind == kind)
        async with self._engine.connect() as conn:
            return [_job(r) for r in (await conn.execute(q.limit(limit))).mappings()]

    async def revive(self, job_id: int, kind: str | None, now: datetime) -> bool:
        # A dead job runs again as if new (its attempts and age start afresh), unless a job of its kind and
        # key is pending already (the unique index of pending keys would refuse it).
        twin = t.jobs.alias("twin")
        pending_twin = (
            select(twin.c.id)
            .where(twin.c.kind == _c.kind, twin.c.key == _c.key, twin.c.status == JobStatus.PENDING)
            .exists()
        )
        q = (
            update(t.jobs)
            .where(_c.id == job_id, _c.status == JobStatus.DEAD, ~pending_twin)
            .values(status=JobStatus.PENDING, attempts=0, run_at=now, created_at=now, finished_at=None)
        )
        if kind is not None:
            q = q.where(_c.kind == kind)
        async with begin_write(self._engine) as conn:
            return (await conn.execute(q)).rowcount == 1

    async def prune(self, finished_before: datetime) -> int:
        q = delete(t.jobs).where(_c.status == JobStatus.DONE, _c.finished_at < finished_before)
        async with begin_write(self._engine) as conn:
            return (await conn.execute(q)).rowcount
