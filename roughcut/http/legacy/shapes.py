"""The old response bodies ([S] views): projects with their eight stage objects and derived fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from roughcut.domain.account_model import Memo
from roughcut.domain.feedback_model import Comment
from roughcut.domain.learning_model import LearningLink
from roughcut.domain.project_model import Member, Project, ProjectMemo, Role, Stage, StageName
from roughcut.domain.projects import ProjectDetail
from roughcut.domain.upload_model import SignedFile

# roughcut's stage names → the old Project fields (only the storyboard's differs).
OLD_STAGE = {name: name.value for name in StageName} | {StageName.STORYBOARD: "story_board"}
NEW_STAGE = {old: name for name, old in OLD_STAGE.items()}
OLD_RATING = {Role.MANAGER: "manager", Role.MEMBER: "normal"}
NO_PROJECT = "존재하지 않는 프로젝트입니다."


def when(value: datetime | None) -> str | None:
    """DjangoJSONEncoder: ISO-8601 in UTC with a "Z"."""
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _stage(stage: Stage, *, keyed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"start_date": when(stage.start_at), "end_date": when(stage.end_at)}
    if keyed:
        body["key"] = OLD_STAGE[stage.stage]
    return body


def owner_of(members: list[Member]) -> Member | None:
    return next((m for m in members if m.role is Role.OWNER), None)


def member_list(members: list[Member]) -> list[dict[str, Any]]:
    """The old Members rows: everyone but the owner (who had none); the id is the user's."""
    return [
        {"id": m.user_id, "rating": OLD_RATING[m.role], "email": m.email, "nickname": m.nickname}
        for m in members
        if m.role is not Role.OWNER
    ]


def project(detail: ProjectDetail, *, keyed: bool) -> dict[str, Any]:
    """The fields the list and the detail share, with the owner's e-mail and nickname and `member_list`."""
    p: Project = detail.project
    owner = owner_of(detail.members)
    body: dict[str, Any] = {
        "id": p.id,
        "name": p.name,
        "manager": p.manager,
        "consumer": p.consumer,
        "description": p.description,
        "color": p.color,
        **{OLD_STAGE[s.stage]: _stage(s, keyed=keyed) for s in p.stages},
        "created": when(p.created_at),
        "updated": when(p.updated_at),
        "owner_email": owner.email if owner else None,
        "owner_nickname": owner.nickname if owner else None,
        "member_list": member_list(detail.members),
    }
    if not keyed:
        starts = [s.start_at for s in p.stages if s.start_at is not None]
        ends = [s.end_at for s in p.stages if s.end_at is not None]
        body["first_date"] = when(starts[0]) if starts else None
        body["end_date"] = when(ends[-1]) if ends else None
    return body


def memo(m: Memo | ProjectMemo) -> dict[str, Any]:
    return {"id": m.id, "date": m.date.isoformat(), "memo": m.memo}


def detail(d: ProjectDetail, memos: list[ProjectMemo], files: list[SignedFile]) -> dict[str, Any]:
    """GET /projects/detail/<id>: pending invitations for owner and managers, files with download URLs."""
    return {
        **project(d, keyed=True),
        "pending_list": [{"id": i.id, "email": i.email} for i in d.invitations or []],
        "files": [{"id": f.file.id, "file_name": f.file.filename, "files": f.url} for f in files],
        "memo": [memo(m) for m in memos],
    }


def feedback_comment(c: Comment, viewer_id: int, emails: dict[int, str]) -> dict[str, Any]:
    """An old comment; an anonymous one names its author to the author only (the old API leaked it)."""
    shown = c.author is not None and (not c.anonymous or c.author.id == viewer_id)
    return {
        "id": c.id,
        "security": c.anonymous,
        "title": c.title,
        "section": c.section or _clock(c.at_ms),
        "text": c.text,
        "email": emails.get(c.author.id, "") if shown and c.author else "",
        "nickname": c.author.nickname if shown and c.author else "",
        "created": when(c.created_at),
    }


def _clock(at_ms: int | None) -> str:
    """A position as the old free-text section read it: `05:30`, `1:02:03`."""
    if at_ms is None:
        return ""
    minutes, seconds = divmod(at_ms // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def link(x: LearningLink) -> dict[str, Any]:
    return {"link": x.url}
