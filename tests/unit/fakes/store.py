"""The in-memory 'database' of the unit tier: committed state, copied into each unit of work, swapped in on commit.

Rows are frozen dataclasses (or domain entities) so a shallow copy of each table is a snapshot; only the
e-mail code rows are dicts and are copied one by one. Ids come from one counter shared by every copy, so an
id is never handed out twice, even by a unit of work that rolled back (like a database sequence).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from roughcut.domain.account_model import AuthSession, LoginMethod, Memo, RefreshToken, User
from roughcut.domain.events import StoredEvent
from roughcut.domain.feedback_model import Annotation, FeedbackStatus
from roughcut.domain.project_model import InvitationStatus, Project, Role

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.current = START

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


@dataclass(frozen=True, slots=True)
class MemberRow:
    role: Role
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class InvitationRow:
    id: int
    project_id: int
    email: str
    role: Role
    message: str
    token_hash: str
    inviter_id: int | None
    created_at: datetime
    expires_at: datetime
    status: InvitationStatus
    responded_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProjectMemoRow:
    id: int
    project_id: int
    author_id: int | None
    date: date
    memo: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ThreadRow:
    id: int
    project_id: int
    title: str
    description: str
    status: FeedbackStatus
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    last_seq: int = 0  # the chat's counter, moved by the group commit


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    feedback_id: int
    number: int
    duration_ms: int | None
    width: int | None
    height: int | None
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CommentRow:
    id: int
    feedback_id: int
    version_id: int | None
    parent_id: int | None
    author_id: int | None
    anonymous: bool
    text: str
    at_ms: int | None
    until_ms: int | None
    title: str
    section: str
    annotation: Annotation | None
    resolved_at: datetime | None
    resolved_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    feedback_id: int
    seq: int
    author_id: int | None
    client_id: str
    text: str
    created_at: datetime


class Store:
    """Every table the domain reaches through its ports."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.social: dict[tuple[str, str], int] = {}
        self.codes: dict[int, dict[str, Any]] = {}
        self.sessions: dict[int, AuthSession] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.memos: dict[int, Memo] = {}
        self.events: list[StoredEvent] = []
        # Projects owned outside this store: the account tests seed it to stand for whole projects.
        self.owned_projects: dict[int, int] = {}
        self.projects: dict[int, Project] = {}
        self.members: dict[tuple[int, int], MemberRow] = {}  # (project_id, user_id)
        self.invitations: dict[int, InvitationRow] = {}
        self.project_memos: dict[int, ProjectMemoRow] = {}
        self.threads: dict[int, ThreadRow] = {}
        self.versions: dict[int, VersionRow] = {}
        self.comments: dict[int, CommentRow] = {}
        self.messages: dict[int, MessageRow] = {}
        self.reads: dict[tuple[int, int], int] = {}  # (feedback_id, user_id) -> read_seq
        self.jobs: dict[int, Any] = {}  # fakes/jobs.py EnqueuedJob by id: what units of work enqueued
        self.ids = itertools.count(1)

    def copy(self) -> Store:
        """A snapshot: each table copied, rows shared (they are immutable)."""
        other = Store.__new__(Store)
        other.__dict__ = {
            k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
            for k, v in self.__dict__.items()
        }
        other.codes = {k: dict(v) for k, v in self.codes.items()}
        return other

    def swap_in(self, committed: Store) -> None:
        """Make a unit of work's state the committed state."""
        self.__dict__.update(committed.copy().__dict__)

    # ---- reads shared by several fakes (the joins of the SQL repositories) ----

    def member_ids(self, project_id: int) -> list[int]:
        return sorted(uid for (pid, uid) in self.members if pid == project_id)

    def role_of(self, project_id: int, user_id: int) -> Role | None:
        row = self.members.get((project_id, user_id))
        return row.role if row is not None else None

    def nickname(self, user_id: int | None) -> str | None:
        user = self.users.get(user_id) if user_id is not None else None
        return user.nickname if user is not None else None

    def thread_ids(self, project_id: int) -> list[int]:
        return sorted(t.id for t in self.threads.values() if t.project_id == project_id)

    # ---- cascades (ON DELETE CASCADE / SET NULL of tables.py) ----

    def drop_thread(self, feedback_id: int) -> None:
        del self.threads[feedback_id]
        self.versions = {k: v for k, v in self.versions.items() if v.feedback_id != feedback_id}
        self.comments = {k: c for k, c in self.comments.items() if c.feedback_id != feedback_id}
        self.messages = {k: m for k, m in self.messages.items() if m.feedback_id != feedback_id}
        self.reads = {k: v for k, v in self.reads.items() if k[0] != feedback_id}

    def drop_project(self, project_id: int) -> None:
        del self.projects[project_id]
        self.members = {k: v for k, v in self.members.items() if k[0] != project_id}
        self.invitations = {k: i for k, i in self.invitations.items() if i.project_id != project_id}
        self.project_memos = {k: m for k, m in self.project_memos.items() if m.project_id != project_id}
        for feedback_id in self.thread_ids(project_id):
            self.drop_thread(feedback_id)

    def drop_user(self, user_id: int) -> None:
        """Delete a user with what cascades; authorship elsewhere reads as gone (SET NULL)."""
        del self.users[user_id]
        self.social = {k: v for k, v in self.social.items() if v != user_id}
        gone = {sid for sid, s in self.sessions.items() if s.user_id == user_id}
        self.sessions = {k: v for k, v in self.sessions.items() if k not in gone}
        self.refresh = {k: v for k, v in self.refresh.items() if v.session_id not in gone}
        self.memos = {k: v for k, v in self.memos.items() if v.user_id != user_id}
        self.members = {k: v for k, v in self.members.items() if k[1] != user_id}
        self.reads = {k: v for k, v in self.reads.items() if k[1] != user_id}

    # ---- seeding helpers for tests (state a test starts from, not a use case) ----

    def add_user(self, nickname: str, email: str | None = None) -> User:
        user_id = next(self.ids)
        email = email or f"{nickname.lower()}@example.com"
        user = User(user_id, email, nickname, "plain$pw", LoginMethod.EMAIL, None, START, START)
        self.users[user_id] = user
        return user

    def join(self, project_id: int, user_id: int, role: Role = Role.MEMBER, at: datetime = START) -> None:
        self.members[(project_id, user_id)] = MemberRow(role, at)

    def add_version(self, feedback_id: int, number: int, duration_ms: int | None = None) -> int:
        version_id = next(self.ids)
        self.versions[version_id] = VersionRow(version_id, feedback_id, number, duration_ms, None, None, "ready", START)
        return version_id
