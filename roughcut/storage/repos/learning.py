"""E-learning video links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.learning_model import LearningLink
from roughcut.storage import tables as t


def _link(r: RowMapping) -> LearningLink:
    return LearningLink(r["id"], r["url"], r["title"], r["created_at"], r["updated_at"])


class SqlLearningLinks:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list(self) -> list[LearningLink]:
        c = t.learning_links.c
        q = select(t.learning_links).order_by(c.created_at.desc(), c.id.desc())  # newest first, as the old page
        return [_link(r) for r in (await self._conn.execute(q)).mappings()]

    async def get(self, link_id: int) -> LearningLink | None:
        q = select(t.learning_links).where(t.learning_links.c.id == link_id)
        row = (await self._conn.execute(q)).mappings().first()
        return _link(row) if row else None

    async def add(self, url: str, title: str, now: datetime) -> LearningLink:
        q = (
            insert(t.learning_links)
            .values(url=url, title=title, created_at=now, updated_at=now)
            .returning(*t.learning_links.c)
        )
        return _link((await self._conn.execute(q)).mappings().one())

    async def update(self, link_id: int, now: datetime, **fields: Any) -> LearningLink:
        q = (
            update(t.learning_links)
            .where(t.learning_links.c.id == link_id)
            .values(updated_at=now, **fields)
            .returning(*t.learning_links.c)
        )
        return _link((await self._conn.execute(q)).mappings().one())

    async def delete(self, link_id: int) -> None:
        await self._conn.execute(delete(t.learning_links).where(t.learning_links.c.id == link_id))
