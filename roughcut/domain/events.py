"""Domain events: recorded by use cases, stored in the event log with the transaction, published after."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, in the past tense (`stage.changed`, `session.revoked`)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    project_id: int | None = None
    actor_id: int | None = None
    # Who receives it live, when not simply the project's members at publish time (never stored).
    audience: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A committed event with its id in the durable log."""

    id: int
    type: str
    data: dict[str, Any]
    project_id: int | None
    actor_id: int | None
    at: datetime
    audience: tuple[int, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The wire shape shared by Socket.IO, SSE and the REST log."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "type": self.type,
            "data": self.data,
            "actor": self.actor_id,
            "at": self.at,
        }


SESSION_REVOKED = "session.revoked"
USER_DELETED = "user.deleted"
USER_UPDATED = "user.updated"

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
