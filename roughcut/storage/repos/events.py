"""The durable event log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.events import DomainEvent, StoredEvent
from roughcut.storage import tables as t


def _event(row: RowMapping, audience: tuple[int, ...] | None = None) -> StoredEvent:
    return StoredEvent(
        row["id"], row["type"], row["data"], row["project_id"], row["actor_id"], row["created_at"], audience
    )


class SqlEventLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def append(self, events: Sequence[DomainEvent]) -> list[StoredEvent]:
        """Insert events in order and return them with their ids."""
        now = datetime.now(UTC)
        rows = [
            {"project_id": e.project_id, "type": e.type, "data": e.data, "actor_id": e.actor_id, "created_at": now}
            for e in events
        ]
        result = await self._conn.execute(insert(t.events).returning(*t.events.c, sort_by_parameter_order=True), rows)
        return [_event(r, e.audience) for r, e in zip(result.mappings(), events, strict=True)]

    async def lock_projects(self, project_ids: set[int]) -> None:
        """Row-lock the projects (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers)."""
        if project_ids and self._conn.dialect.name == "postgresql":
            q = select(t.projects.c.id).where(t.projects.c.id.in_(sorted(project_ids))).order_by(t.projects.c.id)
            await self._conn.execute(q.with_for_update())

    async def last_id(self, project_id: int) -> int:
        """The newest event id of a project (0 when it has none)."""
        q = select(func.max(t.events.c.id)).where(t.events.c.project_id == project_id)
        return int((await self._conn.execute(q)).scalar() or 0)

    async def after(self, project_id: int, after_id: int, limit: int) -> list[StoredEvent]:
        """Events of a project with ids above `after_id`, oldest first."""
        q = (
            select(t.events)
            .where(t.events.c.project_id == project_id, t.events.c.id > after_id)
            .order_by(t.events.c.id)
            .limit(limit)
        )
        return [_event(r) for r in (await self._conn.execute(q)).mappings()]
