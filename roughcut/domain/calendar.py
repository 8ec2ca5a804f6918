"""The calendar page: the caller's scheduled stages, project memos and personal memos in a date range."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from roughcut.domain import errors
from roughcut.domain.projects import Projects

MAX_RANGE_DAYS = 366
PERSONAL_MEMO_LIMIT = 5000


async def calendar(deps: Projects, user_id: int, start: date, end: date) -> dict[str, Any]:
    """Everything of the caller's projects and calendar overlapping [start, end], in three statements."""
    if end < start:
        raise errors.ValidationFailed(fields={"to": ["Must not be before `from`."]})
    if (end - start).days >= MAX_RANGE_DAYS:
        raise errors.ValidationFailed(fields={"to": [f"Ask for at most {MAX_RANGE_DAYS} days."]})
    first = datetime.combine(start, time.min, UTC)
    last = datetime.combine(end, time.max, UTC)
    async with deps.uow() as uow:
        stages = await uow.projects.stages_between(user_id, first, last)
        memos = await uow.project_memos.in_range_for(user_id, start, end)
        personal = await uow.memos.list(user_id, start, end, None, PERSONAL_MEMO_LIMIT)
    return {"stages": stages, "memos": memos, "personal_memos": personal}
