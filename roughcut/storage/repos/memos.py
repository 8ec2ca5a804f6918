"""Personal calendar memos."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.account_model import Memo
from roughcut.storage import tables as t


def _memo(r: RowMapping) -> Memo:
    return Memo(r["id"], r["user_id"], r["date"], r["memo"], r["created_at"], r["updated_at"])


class SqlMemos:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list(
        self, user_id: int, start: date | None, end: date | None, after: tuple[date, int] | None, limit: int
    ) -> list[Memo]:
        c = t.user_memos.c
        q = select(t.user_memos).where(c.user_id == user_id)
        if start is not None:
            q = q.where(c.date >= start)
        if end is not None:
            q = q.where(c.date <= end)
        if after is not None:
            q = q.where(or_(c.date > after[0], and_(c.date == after[0], c.id > after[1])))
        q = q.order_by(c.date, c.id).limit(limit)
        return [_memo(r) for r in (await self._conn.execute(q)).mappings()]

    async def add(self, user_id: int, day: date, memo: str, now: datetime) -> Memo:
        q = (
            insert(t.user_memos)
            .values(user_id=user_id, date=day, memo=memo, created_at=now, updated_at=now)
            .returning(*t.user_memos.c)
        )
        return _memo((await self._conn.execute(q)).mappings().one())

    async def get(self, memo_id: int) -> Memo | None:
        row = (await self._conn.execute(select(t.user_memos).where(t.user_memos.c.id == memo_id))).mappings().first()
        return _memo(row) if row else None

    async def update(self, memo_id: int, now: datetime, **fields: Any) -> Memo:
        q = (
            update(t.user_memos)
            .where(t.user_memos.c.id == memo_id)
            .values(updated_at=now, **fields)
            .returning(*t.user_memos.c)
        )
        return _memo((await self._conn.execute(q)).mappings().one())

    async def delete(self, memo_id: int) -> None:
        await self._conn.execute(delete(t.user_memos).where(t.user_memos.c.id == memo_id))
