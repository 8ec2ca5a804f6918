"""Per-table import handlers: map each new or changed old row (rules.py) and write it (targets.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Table

from roughcut.domain.projects import FIRST_THREAD_TITLE
from roughcut.legacy import rules as r
from roughcut.legacy import targets
from roughcut.legacy.batch import Batch, Row
from roughcut.storage import tables as t

Handler = Callable[[Batch, list[Row]], Awaitable[None]]
GONE = "deleted in roughcut since the last import"
DUPLICATE_EMAIL = "duplicate e-mail"


def simple(
    target: Table,
    refs: dict[str, str],
    map_row: Callable[[Row, dict[str, int | None], Any], Any],
    values: Callable[[Any], dict[str, Any]],
) -> Handler:
    """A table whose rows map one to one onto `target` rows; `refs` names old column → old table."""

    async def handle(b: Batch, rows: list[Row]) -> None:
        todo = await b.pending(rows)
        resolved = {col: await b.refs(table, (row.get(col) for row, _d, _p in todo)) for col, table in refs.items()}
        new: list[tuple[Row, str, dict[str, Any]]] = []
        for row, d, prev in todo:
            mapped = map_row(row, {col: resolved[col].get(row.get(col)) for col in refs}, b.now)
            if isinstance(mapped, r.Skip):
                b.skip(row, d, mapped.reason)
            elif prev is not None and prev.new_id is not None:
                if await b.write(True, targets.update_row, target, prev.new_id, values(mapped)):
                    b.done(row, d, prev, prev.new_id)
                else:
                    b.skip(row, d, GONE)
            else:
                new.append((row, d, values(mapped)))
        ids = await b.write(b.mapping.dry_ids(len(new)), targets.insert_rows, target, [v for _r, _d, v in new])
        for (row, d, _v), new_id in zip(new, ids, strict=True):
            b.done(row, d, None, new_id)

    return handle


async def users(b: Batch, rows: list[Row]) -> None:
    """Accounts; an address that already has one (in roughcut or earlier in the old table) is skipped."""
    todo = await b.pending(rows)
    fresh = [
        (row, d, m) for row, d, prev in todo if prev is None and not isinstance(m := r.map_user(row, b.now), r.Skip)
    ]
    emails = [m.email for _row, _d, m in fresh]
    taken = await targets.taken_emails(b.conn, emails) | b.mapping.claimed("email", emails)
    new: list[tuple[Row, str, r.UserRow]] = []
    for row, d, prev in todo:
        mapped = r.map_user(row, b.now)
        if isinstance(mapped, r.Skip):
            b.skip(row, d, mapped.reason)
        elif prev is not None and prev.new_id is not None:
            if await b.write(True, targets.update_user, prev.new_id, mapped, b.now):
                b.done(row, d, prev, prev.new_id)
            else:
                b.skip(row, d, GONE)
        elif mapped.email in taken:
            b.skip(row, d, DUPLICATE_EMAIL)
        else:
            taken.add(mapped.email)
            b.mapping.claim("email", mapped.email)
            new.append((row, d, mapped))
    ids = await b.write(
        b.mapping.dry_ids(len(new)), targets.insert_rows, t.users, [targets.user_values(m) for *_x, m in new]
    )
    for (row, d, _m), new_id in zip(new, ids, strict=True):
        b.done(row, d, None, new_id)


def _stages_of(b: Batch, row: Row) -> dict[str, Row | None]:
    found: dict[tuple[str, int], Row] = b.extra
    return {table: found.get((table, row.get(column) or 0)) for _s, column, table in r.STAGE_COLUMNS}


async def projects(b: Batch, rows: list[Row]) -> None:
    """Projects with their stage rows (read beforehand into `b.extra`), owner and first feedback thread."""
    todo = await b.pending(rows, lambda row: _stages_of(b, row))
    owners = await b.refs("users_user", (row.get("user_id") for row, _d, _p in todo))
    feedback = await b.refs("feedbacks_feedback", (row.get("feedback_id") for row, _d, _p in todo))
    new: list[tuple[Row, str, r.ProjectRow]] = []
    for row, d, prev in todo:
        mapped = r.map_project(row, owners.get(row.get("user_id")), _stages_of(b, row), b.now)
        if isinstance(mapped, r.Skip):
            b.skip(row, d, mapped.reason)
        elif prev is not None and prev.new_id is not None:
            if await b.write(True, targets.update_project, prev.new_id, mapped):
                b.done(row, d, prev, prev.new_id)
            else:
                b.skip(row, d, GONE)
        else:
            new.append((row, d, mapped))
    made = await b.write(
        list(zip(b.mapping.dry_ids(len(new)), b.mapping.dry_ids(len(new)), strict=True)),
        targets.insert_projects,
        [m for *_x, m in new],
    )
    # The old review (feedbacks_feedback, one per project in [S]) becomes the project's first thread; its own
    # pass then fills in the video. A digest of "" makes that pass see it as changed.
    claimed: list[tuple[int, int | None, str, bool]] = []
    for (row, d, _m), (project_id, thread_id) in zip(new, made, strict=True):
        b.done(row, d, None, project_id)
        old_feedback = row.get("feedback_id")
        if isinstance(old_feedback, int) and old_feedback not in feedback:
            feedback[old_feedback] = thread_id
            claimed.append((old_feedback, thread_id, "", True))
    await b.mapping.record(b.conn, "feedbacks_feedback", claimed, b.now)


async def members(b: Batch, rows: list[Row]) -> None:
    """Members by rating; a second row for the same project and user (or the owner) is a duplicate."""
    owner_of: dict[Any, Any] = b.extra  # old project id → old owner id, read beforehand
    todo = await b.pending(rows)
    projects_ = await b.refs("projects_project", (row.get("project_id") for row, _d, _p in todo))
    users_ = await b.refs("users_user", (row.get("user_id") for row, _d, _p in todo))
    mapped_rows = [
        (
            row,
            d,
            prev,
            r.map_member(
                row,
                projects_.get(row.get("project_id")),
                users_.get(row.get("user_id")),
                owner_of.get(row.get("project_id")),
                b.now,
            ),
        )
        for row, d, prev in todo
    ]
    pairs = [(m.project_id, m.user_id) for *_x, m in mapped_rows if isinstance(m, r.MemberRow)]
    roles = await targets.memberships(b.conn, pairs)
    roles.update(dict.fromkeys(b.mapping.claimed("member", pairs), "member"))
    new: list[dict[str, Any]] = []
    for row, d, prev, m in mapped_rows:
        if isinstance(m, r.Skip):
            b.skip(row, d, m.reason)
        elif prev is not None:
            if await b.write(True, targets.set_role, m):
                b.done(row, d, prev, prev.new_id)
            else:
                b.skip(row, d, GONE)
        elif (m.project_id, m.user_id) in roles:
            b.skip(row, d, r.DUPLICATE_MEMBER)
        else:
            roles[(m.project_id, m.user_id)] = m.role
            b.mapping.claim("member", (m.project_id, m.user_id))
            new.append({"project_id": m.project_id, "user_id": m.user_id, "role": m.role, "joined_at": m.joined_at})
            b.done(row, d, None, m.user_id)
    await b.write(None, targets.insert_members, new)


async def feedbacks(b: Batch, rows: list[Row]) -> None:
    """Review threads: the project's first thread (claimed by the project pass) or a new one ([V2]), and the video."""
    owner_of: dict[int, Any] = b.extra
    todo = await b.pending(rows, lambda row: owner_of.get(row["id"]))
    projects_ = await b.refs("projects_project", (owner_of.get(row["id"]) for row, _d, _p in todo))
    for row, d, prev in todo:
        mapped = r.map_feedback(row, projects_.get(owner_of.get(row["id"])), FIRST_THREAD_TITLE, b.now)
        if isinstance(mapped, r.Skip):
            b.skip(row, d, mapped.reason)
            continue
        if prev is not None and prev.new_id is not None:
            thread_id = prev.new_id
            if not await b.write(
                True, targets.update_row, t.feedback_threads, thread_id, targets.thread_values(mapped)
            ):
                b.skip(row, d, GONE)
                continue
        else:
            (thread_id,) = await b.write(
                b.mapping.dry_ids(1), targets.insert_rows, t.feedback_threads, [targets.thread_values(mapped)]
            )
        await b.write(None, targets.put_video, thread_id, mapped)
        b.done(row, d, prev, thread_id)
