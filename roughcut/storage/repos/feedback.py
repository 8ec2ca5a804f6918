"""Feedback threads with their versions and counters, and their comments. Lists run a constant number of statements."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select

from roughcut.domain.feedback_model import (
    Annotation,
    Comment,
    CommentCursor,
    FeedbackStatus,
    FeedbackThread,
    FeedbackVersion,
    NewComment,
    Shape,
)
from roughcut.domain.project_model import UserRef
from roughcut.storage import tables as t

F, V, C, U, R = t.feedback_threads, t.feedback_versions, t.comments, t.users, t.chat_reads


def _thread_base() -> Select[Any]:
    # Counts and the caller's read marker come from the same statement, whatever the page size.
    count = select(func.count()).select_from(C).where(C.c.feedback_id == F.c.id).scalar_subquery()
    return select(F, count.label("comment_count"), func.coalesce(R.c.read_seq, 0).label("my_read_seq")).outerjoin(
        R, and_(R.c.feedback_id == F.c.id, R.c.user_id == bindparam("me"))
    )


def _comment_base() -> Select[Any]:
    return (
        select(C, F.c.project_id, U.c.nickname.label("author_nickname"))
        .join(F, F.c.id == C.c.feedback_id)
        .outerjoin(U, U.c.id == C.c.author_id)
    )


# Built once: composing subqueries per call costs more than running the query.
_THREADS = _thread_base()
_COMMENTS = _comment_base()
# Position in the video first (comments without one last), then creation, then id.
_COMMENT_ORDER = (C.c.at_ms.asc().nulls_last(), C.c.created_at, C.c.id)


def _version(r: RowMapping) -> FeedbackVersion:
    return FeedbackVersion(
        r["id"], r["number"], r["duration_ms"], r["width"], r["height"], r["status"], r["created_at"],
        r["fps"], r["blob_key"], r["poster_key"],
    )  # fmt: skip


def _thread(r: RowMapping, versions: tuple[FeedbackVersion, ...]) -> FeedbackThread:
    return FeedbackThread(
        r["id"],
        r["project_id"],
        r["title"],
        r["description"],
        FeedbackStatus(r["status"]),
        versions,
        int(r["comment_count"]),
        int(r["last_seq"]),
        int(r["my_read_seq"]),
        r["created_at"],
        r["updated_at"],
    )


def _annotation_json(annotation: Annotation | None) -> Any:
    return null() if annotation is None else [s.as_dict() for s in annotation]


def _comment(r: RowMapping) -> Comment:
    author = UserRef(r["author_id"], r["author_nickname"]) if r["author_id"] is not None else None
    raw = r["annotation"]
    return Comment(
        id=r["id"],
        project_id=r["project_id"],
        feedback_id=r["feedback_id"],
        version_id=r["version_id"],
        parent_id=r["parent_id"],
        author=author,
        anonymous=r["anonymous"],
        text=r["text"],
        at_ms=r["at_ms"],
        until_ms=r["until_ms"],
        title=r["title"],
        section=r["section"],
        annotation=None if raw is None else tuple(Shape.from_dict(s) for s in raw),
        resolved_at=r["resolved_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _after(cursor: CommentCursor) -> ColumnElement[bool]:
    at_ms, created_at, last_id = cursor
    later = or_(C.c.created_at > created_at, and_(C.c.created_at == created_at, C.c.id > last_id))
    if at_ms is None:
        return and_(C.c.at_ms.is_(None), later)
    return or_(C.c.at_ms > at_ms, C.c.at_ms.is_(None), and_(C.c.at_ms == at_ms, later))


class SqlFeedback:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create_thread(self, project_id: int, title: str, description: str, author_id: int, now: datetime) -> int:
        q = (
            insert(F)
            .values(
                project_id=project_id,
                title=title,
                description=description,
                status=FeedbackStatus.OPEN.value,
                created_by=author_id,
                created_at=now,
                updated_at=now,
            )
            .returning(F.c.id)
        )
        return int((await self._conn.execute(q)).scalar_one())

    async def _versions(self, ids: list[int]) -> dict[int, tuple[FeedbackVersion, ...]]:
        if not ids:
            return {}
        q = select(V).where(V.c.feedback_id.in_(ids)).order_by(V.c.feedback_id, V.c.number)
        grouped: dict[int, list[FeedbackVersion]] = defaultdict(list)
        for r in (await self._conn.execute(q)).mappings():
            grouped[r["feedback_id"]].append(_version(r))
        return {k: tuple(v) for k, v in grouped.items()}

    async def _threads(self, q: Select[Any], viewer_id: int) -> list[FeedbackThread]:
        rows = list((await self._conn.execute(q, {"me": viewer_id})).mappings())
        versions = await self._versions([r["id"] for r in rows])
        return [_thread(r, versions.get(r["id"], ())) for r in rows]

    async def thread_project(self, feedback_id: int) -> int | None:
        q = select(F.c.project_id).where(F.c.id == feedback_id)
        found = (await self._conn.execute(q)).scalar()
        return None if found is None else int(found)

    async def thread(self, feedback_id: int, viewer_id: int) -> FeedbackThread | None:
        found = await self._threads(_THREADS.where(F.c.id == feedback_id), viewer_id)
        return found[0] if found else None

    async def threads(self, project_id: int, viewer_id: int, after_id: int | None, limit: int) -> list[FeedbackThread]:
        q = _THREADS.where(F.c.project_id == project_id)
        if after_id is not None:
            q = q.where(F.c.id > after_id)
        return await self._threads(q.order_by(F.c.id).limit(limit), viewer_id)

    async def update_thread(self, feedback_id: int, now: datetime, **fields: Any) -> None:
        values = {k: (v.value if isinstance(v, FeedbackStatus) else v) for k, v in fields.items()}
        await self._conn.execute(update(F).where(F.c.id == feedback_id).values(updated_at=now, **values))

    async def delete_thread(self, feedback_id: int) -> None:
        await self._conn.execute(delete(F).where(F.c.id == feedback_id))

    async def thread_ids(self, project_id: int) -> list[int]:
        return list((await self._conn.execute(select(F.c.id).where(F.c.project_id == project_id))).scalars())

    async def version_thread(self, version_id: int) -> int | None:
        found = (await self._conn.execute(select(V.c.feedback_id).where(V.c.id == version_id))).scalar()
        return None if found is None else int(found)

    async def comment(self, comment_id: int) -> Comment | None:
        row = (await self._conn.execute(_COMMENTS.where(C.c.id == comment_id))).mappings().first()
        return _comment(row) if row else None

    async def comments(
        self, feedback_id: int, version_id: int | None, after: CommentCursor | None, limit: int
    ) -> list[Comment]:
        q = _COMMENTS.where(C.c.feedback_id == feedback_id)
        if version_id is not None:
            q = q.where(C.c.version_id == version_id)
        if after is not None:
            q = q.where(_after(after))
        q = q.order_by(*_COMMENT_ORDER).limit(limit)
        return [_comment(r) for r in (await self._conn.execute(q)).mappings()]

    async def _get(self, comment_id: int) -> Comment:
        found = await self.comment(comment_id)
        assert found is not None
        return found

    async def add_comment(self, new: NewComment, author_id: int, now: datetime) -> Comment:
        q = (
            insert(C)
            .values(
                feedback_id=new.feedback_id,
                version_id=new.version_id,
                parent_id=new.parent_id,
                author_id=author_id,
                anonymous=new.anonymous,
                text=new.text,
                at_ms=new.at_ms,
                until_ms=new.until_ms,
                title=new.title,
                section=new.section,
                annotation=_annotation_json(new.annotation),
                created_at=now,
                updated_at=now,
            )
            .returning(C.c.id)
        )
        return await self._get(int((await self._conn.execute(q)).scalar_one()))

    async def update_comment(self, comment_id: int, now: datetime, **fields: Any) -> Comment:
        if "annotation" in fields:
            fields["annotation"] = _annotation_json(fields["annotation"])
        await self._conn.execute(update(C).where(C.c.id == comment_id).values(updated_at=now, **fields))
        return await self._get(comment_id)

    async def set_resolved(self, comment_id: int, now: datetime, by: int | None) -> Comment:
        values = {"resolved_at": now if by is not None else None, "resolved_by": by, "updated_at": now}
        await self._conn.execute(update(C).where(C.c.id == comment_id).values(**values))
        return await self._get(comment_id)

    async def delete_comment(self, comment_id: int) -> list[int]:
        """Delete a comment and every reply below it; the ids deleted, the comment's first."""
        tree = select(C.c.id).where(C.c.id == comment_id).cte("tree", recursive=True)
        tree = tree.union_all(select(C.c.id).where(C.c.parent_id == tree.c.id))
        replies = sorted(int(i) for i in (await self._conn.execute(select(tree.c.id))).scalars() if i != comment_id)
        # The replies go with it (ON DELETE CASCADE); SQLite's RETURNING would not list them.
        await self._conn.execute(delete(C).where(C.c.id == comment_id))
        return [comment_id, *replies]
