"""Mapping rules from old rows to roughcut rows: pure functions, no I/O.

Each `map_*` answers a row to write or a `Skip` with the reason the report shows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from roughcut.domain.accounts import canonical_email
from roughcut.domain.feedback_model import section_ms
from roughcut.domain.project_model import STAGE_ORDER, ProjectStatus, StageName, StageStatus
from roughcut.security.passwords import DJANGO_PBKDF2

Row = Mapping[str, Any]
NICKNAME_MAX = 50
NAME_MAX = 100
SHORT_MAX = 100  # manager and consumer
TITLE_MAX = 200
SECTION_MAX = 200
COLOR_MAX = 16
URL_MAX = 1024
KEY_MAX = 512  # project_files.key and feedback_versions.blob_key
FILENAME_MAX = 255
EMAIL_MAX = 254
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")
LOGIN_METHODS = frozenset({"email", "google", "kakao", "naver"})
# The old foreign-key column of each stage, in stage order (projects_project.<column>_id → projects_<table>).
STAGE_COLUMNS: tuple[tuple[StageName, str, str], ...] = (
    (StageName.BASIC_PLAN, "basic_plan_id", "projects_basicplan"),
    (StageName.STORYBOARD, "story_board_id", "projects_storyboard"),
    (StageName.FILMING, "filming_id", "projects_filming"),
    (StageName.VIDEO_EDIT, "video_edit_id", "projects_videoedit"),
    (StageName.POST_WORK, "post_work_id", "projects_postwork"),
    (StageName.VIDEO_PREVIEW, "video_preview_id", "projects_videopreview"),
    (StageName.CONFIRMATION, "confirmation_id", "projects_confirmation"),
    (StageName.VIDEO_DELIVERY, "video_delivery_id", "projects_videodelivery"),
)
ROLES = {"manager": "manager", "normal": "member"}
DUPLICATE_MEMBER = "duplicate member"
# Volatile columns left out of a row's digest: a login on the old system is not a change to import.
VOLATILE = frozenset({"last_login"})


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


def digest(row: Row, extra: Any = None) -> str:
    """The content hash of an old row (plus what was read with it), stable across runs and databases."""
    body = {str(k): _plain(v) for k, v in row.items() if k not in VOLATILE}
    return hashlib.sha256(orjson.dumps([body, _plain(extra)], option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _plain(value: Any) -> Any:
    """JSON-ready and the same on both databases (reflected names are str subclasses; SQLite times are naive)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date | bytes | memoryview):
        return str(value)
    return value


def utc(value: datetime) -> datetime:
    """Django stores UTC; SQLite hands it back naive."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: Any, fallback: datetime) -> datetime:
    return utc(value) if isinstance(value, datetime) else fallback


def text(value: Any, limit: int | None = None) -> str:
    found = "" if value is None else str(value).strip()
    return found[:limit] if limit is not None else found


@dataclass(frozen=True, slots=True)
class UserRow:
    email: str
    nickname: str
    password_hash: str | None
    login_method: str
    created_at: datetime


def map_user(row: Row, now: datetime) -> UserRow | Skip:
    """E-mail from `email`, else `username`; Django PBKDF2 hashes kept; social accounts keep their provider."""
    email = canonical_email(text(row.get("email")) or text(row.get("username")))
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        return Skip("no valid e-mail address")
    method = text(row.get("login_method")) or "email"
    if method not in LOGIN_METHODS:
        return Skip(f"unknown login method {method!r}")
    password = text(row.get("password"))
    kept = password if method == "email" and password.startswith(DJANGO_PBKDF2 + "$") else None
    nickname = text(row.get("nickname"), NICKNAME_MAX) or email.split("@")[0][:NICKNAME_MAX]
    return UserRow(email, nickname, kept, method, when(row.get("date_joined"), now))


@dataclass(frozen=True, slots=True)
class MemoRow:
    owner_id: int
    day: date
    memo: str
    created_at: datetime
    updated_at: datetime


def map_memo(row: Row, owner_id: int | None, now: datetime, owner: str) -> MemoRow | Skip:
    """A dated memo (personal: owner is the user; project: the project)."""
    if owner_id is None:
        return Skip(f"{owner} gone")
    day = row.get("date")
    if isinstance(day, datetime):
        day = day.date()
    if not isinstance(day, date):
        return Skip("no date")
    memo = text(row.get("memo"))
    if not memo:
        return Skip("empty memo")
    created = when(row.get("created"), now)
    return MemoRow(owner_id, day, memo, created, when(row.get("updated"), created))


@dataclass(frozen=True, slots=True)
class StageRow:
    stage: StageName
    start_at: datetime | None
    end_at: datetime | None
    status: StageStatus


@dataclass(frozen=True, slots=True)
class ProjectRow:
    owner_id: int
    name: str
    manager: str
    consumer: str
    description: str
    color: str
    status: str
    current_stage: StageName
    stages: tuple[StageRow, ...]
    created_at: datetime
    updated_at: datetime


def stage_status(start: datetime | None, end: datetime | None, now: datetime) -> StageStatus:
    """Done once its end has passed, in progress once it started."""
    if end is not None and end <= now:
        return StageStatus.DONE
    if start is not None and start <= now:
        return StageStatus.IN_PROGRESS
    return StageStatus.TODO


def map_project(
    row: Row, owner_id: int | None, stage_rows: Mapping[str, Row | None], now: datetime
) -> ProjectRow | Skip:
    """A project with its eight stages (an orphaned stage row gives an empty stage); status derived if none."""
    if owner_id is None:
        return Skip("owner gone")
    name = text(row.get("name"), NAME_MAX)
    if not name:
        return Skip("no name")
    stages = []
    for stage, _column, table in STAGE_COLUMNS:
        found = stage_rows.get(table)
        start = when(found["start_date"], now) if found and found.get("start_date") else None
        end = when(found["end_date"], now) if found and found.get("end_date") else None
        if start is not None and end is not None and end < start:
            start, end = end, start  # the old editor checked the order on the client only
        stages.append(StageRow(stage, start, end, stage_status(start, end, now)))
    old_status = text(row.get("status"))
    status = old_status if old_status in set(ProjectStatus) else _derived_status(stages).value
    current = next((s.stage for s in stages if s.status is not StageStatus.DONE), STAGE_ORDER[-1])
    created = when(row.get("created"), now)
    return ProjectRow(
        owner_id,
        name,
        text(row.get("manager"), SHORT_MAX),
        text(row.get("consumer"), SHORT_MAX),
        text(row.get("description")),
        text(row.get("color"), COLOR_MAX),
        status,
        current,
        tuple(stages),
        created,
        when(row.get("updated"), created),
    )


def _derived_status(stages: list[StageRow]) -> ProjectStatus:
    if all(s.status is StageStatus.DONE for s in stages):
        return ProjectStatus.COMPLETED
    if any(s.status is not StageStatus.TODO for s in stages):
        return ProjectStatus.IN_PROGRESS
    return ProjectStatus.PLANNING


@dataclass(frozen=True, slots=True)
class MemberRow:
    project_id: int
    user_id: int
    role: str
    joined_at: datetime


def map_member(
    row: Row, project_id: int | None, user_id: int | None, old_owner: Any, now: datetime
) -> MemberRow | Skip:
    """`manager` → manager, `normal` (or anything else) → member; a row for the owner is a duplicate."""
    if project_id is None:
        return Skip("project gone")
    if user_id is None:
        return Skip("user gone")
    if row.get("user_id") == old_owner:
        return Skip(DUPLICATE_MEMBER)
    return MemberRow(project_id, user_id, ROLES.get(text(row.get("rating")), "member"), when(row.get("created"), now))


@dataclass(frozen=True, slots=True)
class InvitationRow:
    project_id: int
    email: str
    created_at: datetime


def map_invite(row: Row, project_id: int | None, now: datetime) -> InvitationRow | Skip:
    """A pending invite becomes an expired invitation an owner can resend (old tokens are not reusable)."""
    if project_id is None:
        return Skip("project gone")
    email = canonical_email(text(row.get("email")))
    if len(email) > EMAIL_MAX or not _EMAIL.match(email):
        return Skip("no valid e-mail address")
    return InvitationRow(project_id, email, when(row.get("created"), now))


@dataclass(frozen=True, slots=True)
class FileRow:
    project_id: int | None
    kind: str
    object_key: str
    created_at: datetime


def map_file(row: Row, project_id: int | None, kind: str, now: datetime, *, needs_project: bool) -> FileRow | Skip:
    """The old storage key, kept as it is."""
    if needs_project and project_id is None:
        return Skip("project gone")
    key = text(row.get("files"))
    if not key:
        return Skip("no file")
    if len(key) > KEY_MAX:
        return Skip("storage key too long")
    return FileRow(project_id, kind, key, when(row.get("created"), now))


@dataclass(frozen=True, slots=True)
class ThreadRow:
    project_id: int
    title: str
    description: str
    video_key: str | None
    created_at: datetime
    updated_at: datetime


def map_feedback(row: Row, project_id: int | None, default_title: str, now: datetime) -> ThreadRow | Skip:
    """A feedback thread ([V2] title and description when present) with its review video's key."""
    if project_id is None:
        return Skip("project gone")
    created = when(row.get("created"), now)
    return ThreadRow(
        project_id,
        text(row.get("title"), TITLE_MAX) or default_title,
        text(row.get("description")),
        text(row.get("files"), KEY_MAX) or None,
        created,
        when(row.get("updated"), created),
    )


@dataclass(frozen=True, slots=True)
class CommentRow:
    feedback_id: int
    author_id: int
    anonymous: bool
    title: str
    section: str
    at_ms: int | None
    text: str
    created_at: datetime
    updated_at: datetime


def map_comment(row: Row, feedback_id: int | None, author_id: int | None, now: datetime) -> CommentRow | Skip:
    """`security` → anonymous; a time-like `section` (or [V2] `timestamp` seconds) → at_ms."""
    if feedback_id is None:
        return Skip("feedback gone")
    if author_id is None:
        return Skip("author gone")
    body = text(row.get("text"))
    if not body:
        return Skip("empty text")
    section = text(row.get("section"))
    at_ms = section_ms(section)
    seconds = row.get("timestamp")
    if at_ms is None and isinstance(seconds, int | float) and seconds >= 0:
        at_ms = round(seconds * 1000)
    created = when(row.get("created"), now)
    return CommentRow(
        feedback_id,
        author_id,
        bool(row.get("security")),
        text(row.get("title"), TITLE_MAX),
        "" if at_ms is not None and section else section[:SECTION_MAX],
        at_ms,
        body,
        created,
        when(row.get("updated"), created),
    )


@dataclass(frozen=True, slots=True)
class LinkRow:
    url: str
    created_at: datetime
    updated_at: datetime


def map_link(row: Row, now: datetime) -> LinkRow | Skip:
    """An e-learning video link; only http(s) addresses are kept."""
    url = text(row.get("link"))
    if len(url) > URL_MAX or not _URL.match(url):
        return Skip("not an http(s) link")
    created = when(row.get("created"), now)
    return LinkRow(url, created, when(row.get("updated"), created))
