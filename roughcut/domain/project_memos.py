"""Project memos: `{id, date, memo, author}` on a project's calendar; members read, owner and managers write."""

from __future__ import annotations

from datetime import date

from roughcut.domain import errors
from roughcut.domain.commands import UNSET, given
from roughcut.domain.events import MEMO_CHANGED, DomainEvent
from roughcut.domain.memos import MEMO_MAX
from roughcut.domain.ports import UnitOfWork
from roughcut.domain.project_model import EDITORS, ProjectMemo, UpdateProjectMemo
from roughcut.domain.projects import Projects, require_role
from roughcut.domain.transactions import writes

CREATED = "created"
UPDATED = "updated"
DELETED = "deleted"


def _text(memo: str) -> str:
    memo = memo.strip()
    if not 1 <= len(memo) <= MEMO_MAX:
        raise errors.ValidationFailed(fields={"memo": [f"Use 1 to {MEMO_MAX} characters."]})
    return memo


async def _memo_of(uow: UnitOfWork, project_id: int, memo_id: int) -> ProjectMemo:
    # A memo of another project is reported as missing: ids reveal nothing across projects.
    memo = await uow.project_memos.get(memo_id)
    if memo is None or memo.project_id != project_id:
        raise errors.NotFound("No such memo.")
    return memo


def _record(uow: UnitOfWork, user_id: int, memo: ProjectMemo, action: str) -> None:
    uow.record(
        DomainEvent(
            MEMO_CHANGED,
            {"memo_id": memo.id, "action": action, "date": memo.date.isoformat()},
            project_id=memo.project_id,
            actor_id=user_id,
        )
    )


async def list_project_memos(
    deps: Projects,
    user_id: int,
    project_id: int,
    start: date | None,
    end: date | None,
    after: tuple[date, int] | None,
    limit: int,
) -> list[ProjectMemo]:
    """A member's page of the project's memos dated within [start, end], by date then id, after the cursor."""
    if start is not None and end is not None and end < start:
        raise errors.ValidationFailed(fields={"to": ["Must not be before `from`."]})
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id)
        return await uow.project_memos.page(project_id, start, end, after, limit)


@writes
async def add_project_memo(deps: Projects, user_id: int, project_id: int, day: date, memo: str) -> ProjectMemo:
    """Write a memo on a day of the project's calendar (owner and managers)."""
    text = _text(memo)
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, EDITORS)
        created = await uow.project_memos.add(project_id, user_id, day, text, deps.clock.now())
        _record(uow, user_id, created, CREATED)
        await uow.commit()
    return created


@writes
async def update_project_memo(deps: Projects, user_id: int, cmd: UpdateProjectMemo) -> ProjectMemo:
    """Change the date or text of a project memo (owner and managers)."""
    changes = given(cmd)
    if cmd.memo is not UNSET:
        changes["memo"] = _text(cmd.memo)
    async with deps.uow() as uow:
        await require_role(uow, cmd.project_id, user_id, EDITORS)
        current = await _memo_of(uow, cmd.project_id, cmd.memo_id)
        if not changes:
            return current
        updated = await uow.project_memos.update(cmd.memo_id, deps.clock.now(), **changes)
        _record(uow, user_id, updated, UPDATED)
        await uow.commit()
    return updated


@writes
async def delete_project_memo(deps: Projects, user_id: int, project_id: int, memo_id: int) -> None:
    """Delete a project memo (owner and managers)."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, EDITORS)
        current = await _memo_of(uow, project_id, memo_id)
        await uow.project_memos.delete(memo_id)
        _record(uow, user_id, current, DELETED)
        await uow.commit()
