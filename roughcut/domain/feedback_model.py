"""Entities of feedback: threads, their video versions, time-coded comments and the drawings on them."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roughcut.domain.commands import UNSET, Unset
from roughcut.domain.project_model import UserRef

TITLE_MAX = 200
DESCRIPTION_MAX = 5000
COMMENT_MAX = 5000
LABEL_MAX = 200  # a comment's title and section (kept from the old system) and a shape's text

MAX_SHAPES = 50
MAX_POINTS = 500
ANNOTATION_MAX_BYTES = 32 * 1024  # of the compact JSON that is stored
WIDTH_MIN = 1
WIDTH_MAX = 20
COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"


class FeedbackStatus(enum.StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CLOSED = "closed"


class ShapeKind(enum.StrEnum):
    ARROW = "arrow"
    RECT = "rect"
    ELLIPSE = "ellipse"
    FREEHAND = "freehand"
    TEXT = "text"


# An arrow runs from its first point to its second; a rect or an ellipse fills the box of the two.
TWO_POINT_KINDS = frozenset({ShapeKind.ARROW, ShapeKind.RECT, ShapeKind.ELLIPSE})
TWO_POINTS = 2

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn shape; coordinates are fractions (0 to 1) of the frame's width and height."""

    kind: ShapeKind
    points: tuple[Point, ...]
    color: str
    width: float
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stored and wire form."""
        return {
            "kind": self.kind.value,
            "points": [[x, y] for x, y in self.points],
            "color": self.color,
            "width": self.width,
            "text": self.text,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Shape:
        """A shape from its stored form (validated when it was written)."""
        return cls(
            ShapeKind(raw["kind"]),
            tuple((float(x), float(y)) for x, y in raw["points"]),
            str(raw["color"]),
            float(raw["width"]),
            raw.get("text"),
        )


Annotation = tuple[Shape, ...]


@dataclass(frozen=True, slots=True)
class FeedbackVersion:
    id: int
    number: int
    duration_ms: int | None
    width: int | None
    height: int | None
    status: str
    created_at: datetime
    fps: float | None = None
    key: str | None = None  # the video's blob
    poster_key: str | None = None  # the poster frame processing made


@dataclass(frozen=True, slots=True)
class FeedbackThread:
    """A thread as one caller sees it: `my_read_seq` is that caller's chat read marker."""

    id: int
    project_id: int
    title: str
    description: str
    status: FeedbackStatus
    versions: tuple[FeedbackVersion, ...]
    comment_count: int
    last_message_seq: int
    my_read_seq: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment with its true author; `comment_data` decides who may see the author."""

    id: int
    project_id: int
    feedback_id: int
    version_id: int | None
    parent_id: int | None
    author: UserRef | None  # None once the author's account is gone
    anonymous: bool
    text: str
    at_ms: int | None
    until_ms: int | None
    title: str
    section: str
    annotation: Annotation | None
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def written_by(self, user_id: int) -> bool:
        """Whether `user_id` wrote this comment."""
        return self.author is not None and self.author.id == user_id

    def actor(self, user_id: int) -> int | None:
        """Who an event about this comment names as actor: never the author of an anonymous comment."""
        return None if self.anonymous and self.written_by(user_id) else user_id


@dataclass(frozen=True, slots=True)
class NewComment:
    feedback_id: int
    text: str
    at_ms: int | None = None
    until_ms: int | None = None
    version_id: int | None = None
    parent_id: int | None = None
    anonymous: bool = False
    title: str = ""
    section: str = ""
    annotation: Annotation | None = None


@dataclass(frozen=True, slots=True)
class UpdateThread:
    """Change a thread's title, description or status; the ones left UNSET stay as they are."""

    feedback_id: int
    title: str | Unset = UNSET
    description: str | Unset = UNSET
    status: FeedbackStatus | Unset = UNSET


@dataclass(frozen=True, slots=True)
class EditComment:
    """Change a comment; the fields left UNSET stay as they are, None clears a position or the drawing."""

    comment_id: int
    text: str | Unset = UNSET
    at_ms: int | Unset | None = UNSET
    until_ms: int | Unset | None = UNSET
    title: str | Unset = UNSET
    section: str | Unset = UNSET
    annotation: Annotation | Unset | None = UNSET


# Where a page of comments resumes: the last comment's (at_ms, created_at, id).
CommentCursor = tuple[int | None, datetime, int]


def comment_data(comment: Comment, viewer_id: int | None) -> dict[str, Any]:
    """The wire shape of a comment for a viewer, or for events when `viewer_id` is None."""
    # The author shows only when the comment is not anonymous or the viewer wrote it; events leave a
    # hidden author out entirely, REST says null.
    body: dict[str, Any] = {
        "id": comment.id,
        "feedback_id": comment.feedback_id,
        "version_id": comment.version_id,
        "parent_id": comment.parent_id,
        "anonymous": comment.anonymous,
        "text": comment.text,
        "at_ms": comment.at_ms,
        "until_ms": comment.until_ms,
        "title": comment.title,
        "section": comment.section,
        "annotation": None if comment.annotation is None else [s.as_dict() for s in comment.annotation],
        "resolved": comment.resolved_at is not None,
        "resolved_at": comment.resolved_at,
        "created_at": comment.created_at,
        "updated_at": comment.updated_at,
    }
    author = comment.author
    if author is not None and (not comment.anonymous or author.id == viewer_id):
        body["author"] = {"id": author.id, "nickname": author.nickname}
    elif viewer_id is not None:
        body["author"] = None
    if viewer_id is not None:
        body["mine"] = comment.written_by(viewer_id)
    return body


# The old app's free-text `section` when it reads as a time: [h:]mm:ss with an optional fraction.
_SECTION_TIME = re.compile(r"^\s*(?:(\d{1,3}):)?(\d{1,3}):(\d{2})(?:[.,](\d{1,3}))?\s*$")


def section_ms(section: str) -> int | None:
    """`05:30` → 330000, `1:02:03` → 3723000, `0:07.5` → 7500; anything else is not a time."""
    m = _SECTION_TIME.match(section)
    if m is None:
        return None
    hours, minutes, seconds, fraction = m.groups()
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        return None
    total = (int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)) * 1000
    return total + (int(fraction.ljust(3, "0")) if fraction else 0)
