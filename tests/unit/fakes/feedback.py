"""In-memory adapters of the feedback and chat ports, mirroring storage/repos/feedback.py and chat.py.

A thread is read for one viewer (their chat read marker), comments page in video order with comments
without a position last, and a comment's author is read through the users table (gone once deleted).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from roughcut.domain.chat_model import ChatMessage, RoomState
from roughcut.domain.feedback_model import (
    Comment,
    CommentCursor,
    FeedbackStatus,
    FeedbackThread,
    FeedbackVersion,
    NewComment,
)
from roughcut.domain.project_model import UserRef
from tests.unit.fakes.store import CommentRow, MessageRow, Store, ThreadRow

# A comment's place in a thread: position in the video (none last), then creation, then id.
CommentKey = tuple[bool, int, datetime, int]


def _key(at_ms: int | None, created_at: datetime, comment_id: int) -> CommentKey:
    return (at_ms is None, at_ms or 0, created_at, comment_id)


def message_of(s: Store, r: MessageRow) -> ChatMessage:
    """A stored message with its author's current nickname (None once the account is gone)."""
    nickname = s.nickname(r.author_id)
    author = UserRef(r.author_id, nickname) if r.author_id is not None and nickname is not None else None
    return ChatMessage(r.id, r.feedback_id, r.seq, author, r.client_id, r.text, r.created_at)


class FakeFeedback:
    def __init__(self, s: Store) -> None:
        self.s = s

    def _thread(self, r: ThreadRow, viewer_id: int) -> FeedbackThread:
        versions = sorted((v for v in self.s.versions.values() if v.feedback_id == r.id), key=lambda v: v.number)
        return FeedbackThread(
            r.id,
            r.project_id,
            r.title,
            r.description,
            r.status,
            tuple(
                FeedbackVersion(v.id, v.number, v.duration_ms, v.width, v.height, v.status, v.created_at)
                for v in versions
            ),
            sum(1 for c in self.s.comments.values() if c.feedback_id == r.id),
            r.last_seq,
            self.s.reads.get((r.id, viewer_id), 0),
            r.created_at,
            r.updated_at,
        )

    def _comment(self, r: CommentRow) -> Comment:
        nickname = self.s.nickname(r.author_id)
        author = UserRef(r.author_id, nickname) if r.author_id is not None and nickname is not None else None
        return Comment(
            id=r.id,
            project_id=self.s.threads[r.feedback_id].project_id,
            feedback_id=r.feedback_id,
            version_id=r.version_id,
            parent_id=r.parent_id,
            author=author,
            anonymous=r.anonymous,
            text=r.text,
            at_ms=r.at_ms,
            until_ms=r.until_ms,
            title=r.title,
            section=r.section,
            annotation=r.annotation,
            resolved_at=r.resolved_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    async def create_thread(self, project_id: int, title: str, description: str, author_id: int, now: datetime) -> int:
        row = ThreadRow(next(self.s.ids), project_id, title, description, FeedbackStatus.OPEN, author_id, now, now)
        self.s.threads[row.id] = row
        return row.id

    async def thread_project(self, feedback_id: int) -> int | None:
        row = self.s.threads.get(feedback_id)
        return row.project_id if row else None

    async def thread(self, feedback_id: int, viewer_id: int) -> FeedbackThread | None:
        row = self.s.threads.get(feedback_id)
        return self._thread(row, viewer_id) if row else None

    async def threads(self, project_id: int, viewer_id: int, after_id: int | None, limit: int) -> list[FeedbackThread]:
        rows = sorted(
            (
                t
                for t in self.s.threads.values()
                if t.project_id == project_id and (after_id is None or t.id > after_id)
            ),
            key=lambda t: t.id,
        )
        return [self._thread(t, viewer_id) for t in rows[:limit]]

    async def update_thread(self, feedback_id: int, now: datetime, **fields: Any) -> None:
        if "status" in fields:
            fields["status"] = FeedbackStatus(fields["status"])
        self.s.threads[feedback_id] = replace(self.s.threads[feedback_id], updated_at=now, **fields)

    async def delete_thread(self, feedback_id: int) -> None:
        if feedback_id in self.s.threads:
            self.s.drop_thread(feedback_id)

    async def thread_ids(self, project_id: int) -> list[int]:
        return sorted(fid for fid, row in self.s.threads.items() if row.project_id == project_id)

    async def version_thread(self, version_id: int) -> int | None:
        row = self.s.versions.get(version_id)
        return row.feedback_id if row else None

    async def comment(self, comment_id: int) -> Comment | None:
        row = self.s.comments.get(comment_id)
        return self._comment(row) if row else None

    async def comments(
        self, feedback_id: int, version_id: int | None, after: CommentCursor | None, limit: int
    ) -> list[Comment]:
        rows = [
            c
            for c in self.s.comments.values()
            if c.feedback_id == feedback_id
            and (version_id is None or c.version_id == version_id)
            and (after is None or _key(c.at_ms, c.created_at, c.id) > _key(*after))
        ]
        rows.sort(key=lambda c: _key(c.at_ms, c.created_at, c.id))
        return [self._comment(c) for c in rows[:limit]]

    async def add_comment(self, new: NewComment, author_id: int, now: datetime) -> Comment:
        row = CommentRow(
            id=next(self.s.ids),
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
            annotation=new.annotation,
            resolved_at=None,
            resolved_by=None,
            created_at=now,
            updated_at=now,
        )
        self.s.comments[row.id] = row
        return self._comment(row)

    async def update_comment(self, comment_id: int, now: datetime, **fields: Any) -> Comment:
        self.s.comments[comment_id] = replace(self.s.comments[comment_id], updated_at=now, **fields)
        return self._comment(self.s.comments[comment_id])

    async def set_resolved(self, comment_id: int, now: datetime, by: int | None) -> Comment:
        at = now if by is not None else None
        row = replace(self.s.comments[comment_id], resolved_at=at, resolved_by=by, updated_at=now)
        self.s.comments[comment_id] = row
        return self._comment(self.s.comments[comment_id])

    async def delete_comment(self, comment_id: int) -> list[int]:
        """The comment and every reply below it (ON DELETE CASCADE); its id first, then the replies'."""
        tree, frontier = {comment_id}, {comment_id}
        while frontier:
            frontier = {c.id for c in self.s.comments.values() if c.parent_id in frontier}
            tree |= frontier
        for cid in tree:
            self.s.comments.pop(cid, None)
        return [comment_id, *sorted(tree - {comment_id})]


class FakeChatRooms:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def room(self, feedback_id: int, user_id: int) -> RoomState | None:
        thread = self.s.threads.get(feedback_id)
        if thread is None or self.s.role_of(thread.project_id, user_id) is None:
            return None
        return RoomState(thread.project_id, thread.last_seq, self.s.reads.get((feedback_id, user_id), 0))

    async def members(self, feedback_id: int) -> tuple[int, ...]:
        thread = self.s.threads.get(feedback_id)
        return tuple(self.s.member_ids(thread.project_id)) if thread else ()

    def _messages(self, feedback_id: int) -> list[MessageRow]:
        return sorted((m for m in self.s.messages.values() if m.feedback_id == feedback_id), key=lambda m: m.seq)

    async def after(self, feedback_id: int, after_seq: int, limit: int) -> list[ChatMessage]:
        rows = [m for m in self._messages(feedback_id) if m.seq > after_seq][:limit]
        return [message_of(self.s, m) for m in rows]

    async def before(self, feedback_id: int, before_seq: int | None, limit: int) -> list[ChatMessage]:
        rows = [m for m in self._messages(feedback_id) if before_seq is None or m.seq < before_seq]
        return [message_of(self.s, m) for m in rows[-limit:]] if limit > 0 else []

    async def mark_read(self, feedback_id: int, user_id: int, seq: int, now: datetime) -> int:
        """Upsert with GREATEST: the marker never moves back."""
        key = (feedback_id, user_id)
        self.s.reads[key] = max(self.s.reads.get(key, seq), seq)
        return self.s.reads[key]
