"""The durable event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.events import DomainEvent, StoredEvent
from roughcut.storage import tables as t


def _event(row: RowMapping) -> StoredEvent:
    return StoredEvent(
        row["id"], row["type"], row["data"], row["project_id"], row["actor_id"], row["created_at"], row["seq"]
    )


P, PM, FT = t.projects, t.project_members, t.feedback_threads
# Built once (a statement memoises its cache key). The outer join keeps a project that has no members.
_MEMBERS = (
    select(P.c.id, PM.c.user_id)
    .select_from(P.outerjoin(PM, PM.c.project_id == P.c.id))
    .where(P.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(P.c.id)
)
# FOR NO KEY UPDATE, not FOR UPDATE: it still serialises the project's committers, but it does not
# conflict with the FOR KEY SHARE that inserting a row under the project takes (foreign-key check);
# with FOR UPDATE two writers that each inserted a memo waited for each other (see storage/uow.py).
_MEMBERS_LOCKED = _MEMBERS.with_for_update(of=P, key_share=True)
E = t.events
_LAST_SEQS = (
    select(E.c.project_id, func.max(E.c.seq))
    .where(E.c.project_id.in_(bindparam("ids", expanding=True)))
    .group_by(E.c.project_id)
)
_THREADS = select(FT.c.project_id, FT.c.id).where(FT.c.project_id.in_(bindparam("ids", expanding=True)))


class SqlEventLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def append(self, events: Sequence[DomainEvent]) -> list[StoredEvent]:
        """Insert events in order and return them with their ids and per-project seqs.

        The caller holds the projects' row locks (`lock_members`), so the last seq read here stays the
        last until COMMIT; the unique (project_id, seq) index turns any lapse into an error, never a
        duplicate number.
        """
        now = datetime.now(UTC)
        pids = sorted({e.project_id for e in events if e.project_id is not None})
        seqs: dict[int, int] = dict.fromkeys(pids, 0)
        if pids:
            for pid, last in await self._conn.execute(_LAST_SEQS, {"ids": pids}):
                seqs[pid] = int(last or 0)
        rows = []
        for e in events:
            seq = None
            if e.project_id is not None:
                seq = seqs[e.project_id] = seqs[e.project_id] + 1
            rows.append(
                {
                    "project_id": e.project_id,
                    "seq": seq,
                    "type": e.type,
                    "data": e.data,
                    "actor_id": e.actor_id,
                    "created_at": now,
                }
            )
        result = await self._conn.execute(insert(t.events).returning(*t.events.c, sort_by_parameter_order=True), rows)
        return [_event(r) for r in result.mappings()]

    async def lock_members(self, project_ids: set[int]) -> dict[int, list[int]]:
        """Row-lock the projects in id order and read their members, in one statement.

        The lock (PostgreSQL, FOR NO KEY UPDATE; on SQLite the one write slot already serialises writers)
        makes a project's event ids follow its commit order and fixes who is a member until the events
        are stored. A `@writes` use case already holds it from its role lookup; then this only reads.
        """
        if not project_ids:
            return {}
        q = _MEMBERS_LOCKED if self._conn.dialect.name == "postgresql" else _MEMBERS
        members: dict[int, list[int]] = {}
        for project_id, user_id in await self._conn.execute(q, {"ids": sorted(project_ids)}):
            found = members.setdefault(project_id, [])
            if user_id is not None:
                found.append(user_id)
        return members

    async def threads_of(self, project_ids: set[int]) -> dict[int, list[int]]:
        """The feedback thread ids per project (whose chat rooms a leaving member loses)."""
        if not project_ids:
            return {}
        threads: dict[int, list[int]] = {}
        for project_id, thread_id in await self._conn.execute(_THREADS, {"ids": sorted(project_ids)}):
            threads.setdefault(project_id, []).append(thread_id)
        return threads

    async def last(self, project_id: int) -> tuple[int, int]:
        """The newest event id and seq of a project ((0, 0) when it has none)."""
        q = select(func.max(E.c.id), func.max(E.c.seq)).where(E.c.project_id == project_id)
        last_id, last_seq = (await self._conn.execute(q)).one()
        return int(last_id or 0), int(last_seq or 0)

    async def between(self, project_id: int, after_seq: int, before_seq: int) -> list[StoredEvent]:
        """Events of a project with seqs strictly between two, in seq order."""
        q = select(E).where(E.c.project_id == project_id, E.c.seq > after_seq, E.c.seq < before_seq).order_by(E.c.seq)
        return [_event(r) for r in (await self._conn.execute(q)).mappings()]

    async def after(self, project_id: int, after_id: int, limit: int) -> list[StoredEvent]:
        """Events of a project with ids above `after_id`, oldest first."""
        q = (
            select(t.events)
            .where(t.events.c.project_id == project_id, t.events.c.id > after_id)
            .order_by(t.events.c.id)
            .limit(limit)
        )
        return [_event(r) for r in (await self._conn.execute(q)).mappings()]
