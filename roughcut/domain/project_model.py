"""Entities of the projects area: projects, their eight stages, roles and members."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from roughcut.domain.commands import UNSET, Unset


class Role(enum.StrEnum):
    OWNER = "owner"
    MANAGER = "manager"
    MEMBER = "member"


class ProjectStatus(enum.StrEnum):
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    COMPLETED = "completed"
    ON_HOLD = "on_hold"
    CANCELLED = "cancelled"


class StageName(enum.StrEnum):
    """The eight stages, in the order a production runs through them."""

    BASIC_PLAN = "basic_plan"
    STORYBOARD = "storyboard"
    FILMING = "filming"
    VIDEO_EDIT = "video_edit"
    POST_WORK = "post_work"
    VIDEO_PREVIEW = "video_preview"
    CONFIRMATION = "confirmation"
    VIDEO_DELIVERY = "video_delivery"


STAGE_ORDER: tuple[StageName, ...] = tuple(StageName)


class StageStatus(enum.StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"


EDITORS = frozenset({Role.OWNER, Role.MANAGER})


@dataclass(frozen=True, slots=True)
class Stage:
    stage: StageName
    start_at: datetime | None
    end_at: datetime | None
    status: StageStatus


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    manager: str
    consumer: str
    description: str
    color: str
    status: ProjectStatus
    current_stage: StageName
    stages: tuple[Stage, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserRef:
    id: int
    nickname: str


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """A project as the list shows it to one caller."""

    project: Project
    owner: UserRef
    my_role: Role
    member_count: int


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    nickname: str
    email: str
    avatar_url: str | None
    role: Role
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class NewProject:
    name: str
    manager: str
    consumer: str
    description: str
    color: str
    stages: tuple[Stage, ...]


@dataclass(frozen=True, slots=True)
class ProjectQuery:
    """Filters, order and page of `GET /projects`."""

    q: str | None = None
    stage: StageName | None = None
    role: Role | None = None
    start: datetime | None = None
    end: datetime | None = None
    sort: str = "-updated_at"
    after: tuple[object, int] | None = None
    limit: int = 20


SORTS = ("-updated_at", "updated_at", "-created_at", "created_at", "name", "-name")


@dataclass(frozen=True, slots=True)
class UpdateProject:
    """Change a project's editable fields; the ones left UNSET stay as they are."""

    project_id: int
    name: str | Unset = UNSET
    manager: str | Unset = UNSET
    consumer: str | Unset = UNSET
    description: str | Unset = UNSET
    color: str | Unset = UNSET
    status: ProjectStatus | Unset = UNSET


class InvitationStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    project_id: int
    email: str
    role: Role
    message: str
    inviter: UserRef | None
    created_at: datetime
    expires_at: datetime
    status: InvitationStatus
    responded_at: datetime | None

    def effective_status(self, now: datetime) -> InvitationStatus:
        """Pending invitations past their expiry read as expired."""
        if self.status is InvitationStatus.PENDING and now >= self.expires_at:
            return InvitationStatus.EXPIRED
        return self.status


@dataclass(frozen=True, slots=True)
class ProjectMemo:
    id: int
    project_id: int
    date: date
    memo: str
    author: UserRef | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpdateProjectMemo:
    """Change a project memo's date or text; the ones left UNSET stay as they are."""

    project_id: int
    memo_id: int
    date: date | Unset = UNSET
    memo: str | Unset = UNSET


@dataclass(frozen=True, slots=True)
class CalendarStage:
    """A scheduled stage of one of the caller's projects, for the calendar."""

    project_id: int
    project_name: str
    color: str
    stage: Stage


def current_stage(stages: tuple[Stage, ...]) -> StageName:
    """The first stage not done yet; the last stage once all are done."""
    for stage in sorted(stages, key=lambda s: STAGE_ORDER.index(s.stage)):
        if stage.status is not StageStatus.DONE:
            return stage.stage
    return STAGE_ORDER[-1]
