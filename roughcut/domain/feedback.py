"""Feedback use cases: a project's review threads and their time-coded comments.

Every member reads and comments; owner and managers manage threads and resolve comments; authors edit and
delete their own comments. An anonymous comment's author is named to nobody else: events about it carry
no author in their data, and none as actor when the author acted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from roughcut.domain import errors
from roughcut.domain.commands import UNSET, given
from roughcut.domain.events import (
    COMMENT_CREATED,
    COMMENT_DELETED,
    COMMENT_RESOLVED,
    COMMENT_UPDATED,
    FEEDBACK_CREATED,
    FEEDBACK_DELETED,
    FEEDBACK_UPDATED,
    DomainEvent,
)
from roughcut.domain.feedback_model import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    TITLE_MAX,
    Comment,
    CommentCursor,
    EditComment,
    FeedbackThread,
    NewComment,
    UpdateThread,
    comment_data,
)
from roughcut.domain.ports import UnitOfWork
from roughcut.domain.project_model import EDITORS, Role
from roughcut.domain.projects import Projects, require_role
from roughcut.domain.transactions import writes


def _title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= TITLE_MAX:
        raise errors.ValidationFailed(fields={"title": [f"Use 1 to {TITLE_MAX} characters."]})
    return title


def _description(description: str) -> str:
    if len(description) > DESCRIPTION_MAX:
        raise errors.ValidationFailed(fields={"description": [f"Use at most {DESCRIPTION_MAX} characters."]})
    return description


def _text(text: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= COMMENT_MAX:
        raise errors.ValidationFailed(fields={"text": [f"Use 1 to {COMMENT_MAX} characters."]})
    return text


def _check_position(at_ms: int | None, until_ms: int | None) -> None:
    """A point (`at_ms`) or a range (`at_ms` to `until_ms`) in the video, or neither."""
    for name, value in (("at_ms", at_ms), ("until_ms", until_ms)):
        if value is not None and value < 0:
            raise errors.ValidationFailed(fields={name: ["Must not be negative."]})
    if until_ms is not None and (at_ms is None or until_ms < at_ms):
        raise errors.ValidationFailed(fields={"until_ms": ["Needs at_ms and must not be before it."]})


async def _thread_role(uow: UnitOfWork, user_id: int, feedback_id: int, allowed: frozenset[Role] | None = None) -> int:
    """The thread's project id; a missing thread and a non-member's are both not_found."""
    project_id = await uow.feedback.thread_project(feedback_id)
    if project_id is None:
        raise errors.NotFound("No such feedback thread.")
    await require_role(uow, project_id, user_id, allowed)
    return project_id


async def _comment_role(
    uow: UnitOfWork, user_id: int, comment_id: int, allowed: frozenset[Role] | None = None
) -> Comment:
    comment = await uow.feedback.comment(comment_id)
    if comment is None:
        raise errors.NotFound("No such comment.")
    await require_role(uow, comment.project_id, user_id, allowed)
    return comment


async def _thread(uow: UnitOfWork, user_id: int, feedback_id: int) -> FeedbackThread:
    thread = await uow.feedback.thread(feedback_id, user_id)
    if thread is None:
        raise errors.NotFound("No such feedback thread.")
    return thread


def _record_thread(uow: UnitOfWork, kind: str, project_id: int, user_id: int, data: dict[str, Any]) -> None:
    uow.record(DomainEvent(kind, data, project_id=project_id, actor_id=user_id))


def _record_comment(uow: UnitOfWork, kind: str, comment: Comment, user_id: int, data: dict[str, Any]) -> None:
    uow.record(
        DomainEvent(
            kind,
            {"feedback_id": comment.feedback_id, "comment_id": comment.id, **data},
            project_id=comment.project_id,
            actor_id=comment.actor(user_id),
        )
    )


async def list_threads(
    deps: Projects, user_id: int, project_id: int, after_id: int | None, limit: int
) -> list[FeedbackThread]:
    """A member's page of the project's threads, oldest first."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id)
        return await uow.feedback.threads(project_id, user_id, after_id, limit)


@writes
async def create_thread(deps: Projects, user_id: int, project_id: int, title: str, description: str) -> FeedbackThread:
    """Open a new thread (owner and managers)."""
    title, description = _title(title), _description(description)
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, EDITORS)
        feedback_id = await uow.feedback.create_thread(project_id, title, description, user_id, deps.clock.now())
        _record_thread(uow, FEEDBACK_CREATED, project_id, user_id, {"feedback_id": feedback_id, "title": title})
        thread = await _thread(uow, user_id, feedback_id)
        await uow.commit()
    return thread


async def get_thread(deps: Projects, user_id: int, feedback_id: int) -> FeedbackThread:
    """One thread with its versions and counters, for a member."""
    async with deps.uow() as uow:
        thread = await _thread(uow, user_id, feedback_id)
        await require_role(uow, thread.project_id, user_id)
    return thread


@writes
async def update_thread(deps: Projects, user_id: int, cmd: UpdateThread) -> FeedbackThread:
    """Change a thread's title, description or status (owner and managers)."""
    changes = given(cmd)
    if cmd.title is not UNSET:
        changes["title"] = _title(cmd.title)
    if cmd.description is not UNSET:
        changes["description"] = _description(cmd.description)
    feedback_id = cmd.feedback_id
    async with deps.uow() as uow:
        project_id = await _thread_role(uow, user_id, feedback_id, EDITORS)
        before = await _thread(uow, user_id, feedback_id)
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if not changed:
            return before
        await uow.feedback.update_thread(feedback_id, deps.clock.now(), **changed)
        wire = {k: str(v) for k, v in changed.items()}
        _record_thread(uow, FEEDBACK_UPDATED, project_id, user_id, {"feedback_id": feedback_id, "changes": wire})
        thread = await _thread(uow, user_id, feedback_id)
        await uow.commit()
    return thread


@writes
async def delete_thread(deps: Projects, user_id: int, feedback_id: int) -> None:
    """Delete a thread with its versions, comments and chat (owner and managers)."""
    async with deps.uow() as uow:
        project_id = await _thread_role(uow, user_id, feedback_id, EDITORS)
        await uow.feedback.delete_thread(feedback_id)
        uow.record(
            DomainEvent(
                FEEDBACK_DELETED,
                {"feedback_id": feedback_id},
                project_id=project_id,
                actor_id=user_id,
                closes_threads=(feedback_id,),
            )
        )
        await uow.commit()


async def list_comments(
    deps: Projects,
    user_id: int,
    feedback_id: int,
    version_id: int | None,
    after: CommentCursor | None,
    limit: int,
) -> list[Comment]:
    """A member's page of a thread's comments by position in the video, optionally of one version."""
    async with deps.uow() as uow:
        await _thread_role(uow, user_id, feedback_id)
        return await uow.feedback.comments(feedback_id, version_id, after, limit)


@writes
async def add_comment(deps: Projects, user_id: int, new: NewComment) -> Comment:
    """Comment on a thread (every member); a reply's parent and the version must belong to the same thread."""
    _check_position(new.at_ms, new.until_ms)
    new = replace(new, text=_text(new.text))
    async with deps.uow() as uow:
        await _thread_role(uow, user_id, new.feedback_id)
        if new.parent_id is not None:
            parent = await uow.feedback.comment(new.parent_id)
            if parent is None or parent.feedback_id != new.feedback_id:
                raise errors.ValidationFailed(fields={"parent_id": ["No such comment in this thread."]})
        if new.version_id is not None and await uow.feedback.version_thread(new.version_id) != new.feedback_id:
            raise errors.ValidationFailed(fields={"version_id": ["No such version of this thread."]})
        comment = await uow.feedback.add_comment(new, user_id, deps.clock.now())
        _record_comment(uow, COMMENT_CREATED, comment, user_id, {"comment": comment_data(comment, None)})
        await uow.commit()
    return comment


@writes
async def edit_comment(deps: Projects, user_id: int, cmd: EditComment) -> Comment:
    """Change a comment's text, position, labels or drawing (its author only)."""
    changes = given(cmd)
    if cmd.text is not UNSET:
        changes["text"] = _text(cmd.text)
    comment_id = cmd.comment_id
    async with deps.uow() as uow:
        current = await _comment_role(uow, user_id, comment_id)
        if not current.written_by(user_id):
            raise errors.PermissionDenied("Only the author edits a comment.")
        _check_position(changes.get("at_ms", current.at_ms), changes.get("until_ms", current.until_ms))
        if not changes:
            return current
        comment = await uow.feedback.update_comment(comment_id, deps.clock.now(), **changes)
        _record_comment(uow, COMMENT_UPDATED, comment, user_id, {"comment": comment_data(comment, None)})
        await uow.commit()
    return comment


@writes
async def delete_comment(deps: Projects, user_id: int, comment_id: int) -> None:
    """Delete a comment and its replies (its author only)."""
    async with deps.uow() as uow:
        comment = await _comment_role(uow, user_id, comment_id)
        if not comment.written_by(user_id):
            raise errors.PermissionDenied("Only the author deletes a comment.")
        deleted = await uow.feedback.delete_comment(comment_id)
        _record_comment(uow, COMMENT_DELETED, comment, user_id, {"deleted_ids": deleted})
        await uow.commit()


@writes
async def resolve_comment(deps: Projects, user_id: int, comment_id: int, resolved: bool) -> Comment:
    """Mark a comment resolved, or reopen it (owner and managers)."""
    async with deps.uow() as uow:
        current = await _comment_role(uow, user_id, comment_id, EDITORS)
        if (current.resolved_at is not None) == resolved:
            return current
        comment = await uow.feedback.set_resolved(comment_id, deps.clock.now(), user_id if resolved else None)
        data = {"resolved": resolved, "resolved_at": comment.resolved_at}
        _record_comment(uow, COMMENT_RESOLVED, comment, user_id, data)
        await uow.commit()
    return comment
