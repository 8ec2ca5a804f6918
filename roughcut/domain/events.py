"""Domain events: recorded by use cases, stored with their transaction, published after commit.

The unit of work fixes each event's `Audience` inside the transaction that made it (the members it
read under the project lock), so what leaves after commit needs no further query: a member removed
later never receives it, and a member removed by this very event receives it once more, then loses
the project's rooms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from roughcut.domain.chat_model import ChatMessage


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, in the past tense (`stage.changed`, `session.revoked`)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    actor_id: int | None = None
    # Users who lose the project with this event (member.left, project.deleted): they receive it too,
    # then their rooms close. Never stored.
    leaving: tuple[int, ...] = ()
    # Login sessions this event ends (session.revoked, user.deleted): their sockets and streams close.
    ended_sessions: tuple[int, ...] = ()
    # Threads whose chat rooms close for everyone it reaches (a deleted thread, a deleted project's
    # threads: read before the delete, since the transaction no longer sees them at commit).
    closes_threads: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A committed event with its id in the durable log."""

    id: int
    type: str
    data: dict[str, Any]
    project_id: int | None
    actor_id: int | None
    at: datetime
    # Gap-free per project, in commit order (None for an event of no project): a receiver that holds
    # seq n knows exactly which ones it misses, which the shared ids cannot tell it.
    seq: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The wire shape shared by Socket.IO, SSE and the REST log."""
        return {
            "id": self.id,
            "seq": self.seq,
            "project_id": self.project_id,
            "type": self.type,
            "data": self.data,
            "actor": self.actor_id,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a committed change reaches, as the transaction that made it saw it."""

    users: tuple[int, ...] = ()  # receive it live
    leaving: tuple[int, ...] = ()  # lose the project's rooms right after it
    threads: tuple[int, ...] = ()  # the project's chat rooms that `leaving` users lose
    sessions: tuple[int, ...] = ()  # login sessions that ended: their sockets close on every node
    closed_threads: tuple[int, ...] = ()  # threads whose chat rooms close for all of `users`


@dataclass(frozen=True, slots=True)
class MessagePosted:
    """A chat message stored by the group commit: an event of the thread's room."""

    message: ChatMessage


@dataclass(frozen=True, slots=True)
class ReadMoved:
    """A member's read marker moved in a thread: live only, not kept in the durable log."""

    feedback_id: int
    user_id: int
    seq: int


@dataclass(frozen=True, slots=True)
class TypingChanged:
    """A member started or stopped typing in a thread: live only, never stored. `origin` is the socket that
    typed (it does not hear its own notice)."""

    feedback_id: int
    user_id: int
    typing: bool
    origin: str


@dataclass(frozen=True, slots=True)
class PresenceChanged:
    """A user's net presence change in a project, or in one of its threads (after coalescing): live only."""

    project_id: int
    user_id: int
    status: str
    at: datetime
    feedback_id: int | None = None  # set: who is watching this thread (a review), not the whole project


@dataclass(frozen=True, slots=True)
class UploadProgressed:
    """Bytes an uploader reports sent (throttled at the source): live only, never stored."""

    project_id: int
    upload_id: int
    user_id: int
    bytes: int
    size: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Committed:
    """A committed change and its audience: what the one publisher hands on."""

    event: StoredEvent | MessagePosted | ReadMoved | TypingChanged | PresenceChanged | UploadProgressed
    audience: Audience


def audience_of(
    event: DomainEvent, members: Mapping[int, Sequence[int]], threads: Mapping[int, Sequence[int]]
) -> Audience:
    """The audience of an event from the rows its transaction read (members and threads per project)."""
    if event.project_id is None:
        return Audience(sessions=event.ended_sessions)
    current = tuple(members.get(event.project_id, ()))
    users = current + tuple(u for u in event.leaving if u not in current)
    gone = threads.get(event.project_id, ()) if event.leaving else ()
    return Audience(
        users=users,
        leaving=event.leaving,
        threads=tuple(gone),
        sessions=event.ended_sessions,
        closed_threads=event.closes_threads,
    )


SESSION_REVOKED = "session.revoked"
USER_DELETED = "user.deleted"

PROJECT_UPDATED = "project.updated"
PROJECT_DELETED = "project.deleted"
STAGE_CHANGED = "stage.changed"
MEMBER_JOINED = "member.joined"
MEMBER_LEFT = "member.left"
MEMBER_ROLE_CHANGED = "member.role_changed"
INVITATION_CREATED = "invitation.created"
MEMO_CHANGED = "memo.changed"
FEEDBACK_CREATED = "feedback.created"
FEEDBACK_UPDATED = "feedback.updated"
FEEDBACK_DELETED = "feedback.deleted"
COMMENT_CREATED = "comment.created"
COMMENT_UPDATED = "comment.updated"
COMMENT_DELETED = "comment.deleted"
COMMENT_RESOLVED = "comment.resolved"
UPLOAD_COMPLETED = "upload.completed"
UPLOAD_PROGRESS = "upload.progress"  # live only: the /projects emit of UploadProgressed
FILE_ADDED = "file.added"
FILE_REMOVED = "file.removed"
VERSION_ADDED = "version.added"
PROCESSING_PROGRESS = "processing.progress"  # durable (ordered before processing.done), throttled at the job
PROCESSING_DONE = "processing.done"
PROCESSING_FAILED = "processing.failed"
