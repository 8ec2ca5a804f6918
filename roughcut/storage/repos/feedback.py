"""Feedback threads (the projects issue creates the first; the feedback issue fills in the rest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.storage import tables as t


class SqlFeedback:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create_thread(self, project_id: int, title: str, description: str, author_id: int, now: datetime) -> int:
        q = (
            insert(t.feedback_threads)
            .values(
                project_id=project_id,
                title=title,
                description=description,
                status="open",
                created_by=author_id,
                created_at=now,
                updated_at=now,
            )
            .returning(t.feedback_threads.c.id)
        )
        return int((await self._conn.execute(q)).scalar_one())
