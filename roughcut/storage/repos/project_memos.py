"""Project memos, with their author."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.project_model import ProjectMemo, UserRef
from roughcut.storage import tables as t

PM, U, M = t.project_memos, t.users, t.project_members


def _memo(r: RowMapping) -> ProjectMemo:
    author = UserRef(r["author_id"], r["author_nickname"]) if r["author_id"] is not None else None
    return ProjectMemo(r["id"], r["project_id"], r["date"], r["memo"], author, r["created_at"], r["updated_at"])


def _base() -> Any:
    return select(PM, U.c.nickname.label("author_nickname")).outerjoin(U, U.c.id == PM.c.author_id)


class SqlProjectMemos:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def page(
        self, project_id: int, start: date | None, end: date | None, after: tuple[date, int] | None, limit: int
    ) -> list[ProjectMemo]:
        q = _base().where(PM.c.project_id == project_id)
        if start is not None:
            q = q.where(PM.c.date >= start)
        if end is not None:
            q = q.where(PM.c.date <= end)
        if after is not None:
            q = q.where(or_(PM.c.date > after[0], and_(PM.c.date == after[0], PM.c.id > after[1])))
        q = q.order_by(PM.c.date, PM.c.id).limit(limit)
        return [_memo(r) for r in (await self._conn.execute(q)).mappings()]

    async def add(self, project_id: int, author_id: int, day: date, memo: str, now: datetime) -> ProjectMemo:
        new_id = (
            await self._conn.execute(
                insert(PM)
                .values(project_id=project_id, author_id=author_id, date=day, memo=memo, created_at=now, updated_at=now)
                .returning(PM.c.id)
            )
        ).scalar_one()
        found = await self.get(new_id)
        assert found is not None
        return found

    async def get(self, memo_id: int) -> ProjectMemo | None:
        row = (await self._conn.execute(_base().where(PM.c.id == memo_id))).mappings().first()
        return _memo(row) if row else None

    async def update(self, memo_id: int, now: datetime, **fields: Any) -> ProjectMemo:
        await self._conn.execute(update(PM).where(PM.c.id == memo_id).values(updated_at=now, **fields))
        found = await self.get(memo_id)
        assert found is not None
        return found

    async def delete(self, memo_id: int) -> None:
        await self._conn.execute(delete(PM).where(PM.c.id == memo_id))

    async def in_range_for(self, user_id: int, start: date, end: date) -> list[ProjectMemo]:
        q = (
            _base()
            .join(M, and_(M.c.project_id == PM.c.project_id, M.c.user_id == user_id))
            .where(PM.c.date >= start, PM.c.date <= end)
            .order_by(PM.c.date, PM.c.id)
        )
        return [_memo(r) for r in (await self._conn.execute(q)).mappings()]
