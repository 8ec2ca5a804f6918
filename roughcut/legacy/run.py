"""The import run: the old tables in dependency order, page by page, one roughcut transaction per batch.

A batch the database refuses is run again one row per transaction, so only the rows it refuses are
skipped. A crash loses at most the batch in flight (its rows and mapping roll back together); the next
run finds everything before it unchanged and carries on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain import errors
from roughcut.legacy import handlers as h
from roughcut.legacy import rules as r
from roughcut.legacy import targets
from roughcut.legacy.batch import Batch, Outcome, Row
from roughcut.legacy.mapping import Mapping
from roughcut.legacy.report import Report, TableReport
from roughcut.legacy.source import Source
from roughcut.storage import tables as t
from roughcut.storage.db import begin_write

Prepare = Callable[[Source, list[Row]], Awaitable[Any]]


class Progress(Protocol):
    def start(self, table: str, total: int) -> None: ...
    def advance(self, done: int) -> None: ...


async def _stage_rows(src: Source, rows: list[Row]) -> dict[tuple[str, int], Row]:
    found: dict[tuple[str, int], Row] = {}
    for _stage, column, table in r.STAGE_COLUMNS:
        for stage in await src.by_ids(table, "id", (row.get(column) for row in rows)):
            found[(table, stage["id"])] = stage
    return found


async def _feedback_projects(src: Source, rows: list[Row]) -> dict[int, Any]:
    """Old feedback id → old project id: [V2]'s own column, else the project that points at it ([S])."""
    owner = {
        p["feedback_id"]: p["id"] for p in await src.by_ids("projects_project", "feedback_id", (x["id"] for x in rows))
    }
    if src.has("feedbacks_feedback", "project_id"):
        owner.update({x["id"]: x["project_id"] for x in rows if x.get("project_id") is not None})
    return owner


async def _project_owners(src: Source, rows: list[Row]) -> dict[Any, Any]:
    return {
        p["id"]: p["user_id"] for p in await src.by_ids("projects_project", "id", (x.get("project_id") for x in rows))
    }


@dataclass(frozen=True, slots=True)
class Spec:
    table: str
    handle: h.Handler
    prepare: Prepare | None = None


def _memo(owner: str, column: str) -> Callable[[Row, dict[str, int | None], datetime], Any]:
    return lambda row, refs, now: r.map_memo(row, refs[column], now, owner)


def _file(kind: str, *, needs_project: bool) -> Callable[[Row, dict[str, int | None], datetime], Any]:
    return lambda row, refs, now: r.map_file(row, refs.get("project_id"), kind, now, needs_project=needs_project)


SPECS: tuple[Spec, ...] = (
    Spec("users_user", h.users),
    Spec(
        "users_usermemo",
        h.simple(t.user_memos, {"user_id": "users_user"}, _memo("user", "user_id"), targets.memo_values),
    ),
    Spec(
        "onlines_onlinevideo",
        h.simple(t.learning_links, {}, lambda row, _refs, now: r.map_link(row, now), targets.link_values),
    ),
    Spec("projects_project", h.projects, _stage_rows),
    Spec("projects_members", h.members, _project_owners),
    Spec(
        "projects_projectinvite",
        h.simple(
            t.invitations,
            {"project_id": "projects_project"},
            lambda row, refs, now: r.map_invite(row, refs["project_id"], now),
            lambda inv: targets.invitation_values(inv, None),
        ),
    ),
    Spec(
        "projects_memo",
        h.simple(
            t.project_memos,
            {"project_id": "projects_project"},
            _memo("project", "project_id"),
            lambda memo: targets.project_memo_values(memo, None),
        ),
    ),
    Spec(
        "projects_file",
        h.simple(
            t.project_files,
            {"project_id": "projects_project"},
            _file("project_file", needs_project=True),
            targets.project_file_values,
        ),
    ),
    Spec(
        "projects_samplefiles",
        h.simple(t.legacy_files, {}, _file("sample_file", needs_project=False), targets.file_values),
    ),
    Spec("feedbacks_feedback", h.feedbacks, _feedback_projects),
    Spec(
        "feedbacks_feedbackcomment",
        h.simple(
            t.comments,
            {"feedback_id": "feedbacks_feedback", "user_id": "users_user"},
            lambda row, refs, now: r.map_comment(row, refs["feedback_id"], refs["user_id"], now),
            targets.comment_values,
        ),
    ),
)


@asynccontextmanager
async def _transaction(engine: AsyncEngine, dry: bool) -> AsyncIterator[AsyncConnection]:
    if not dry:
        async with begin_write(engine) as conn:
            yield conn
        return
    async with engine.connect() as conn:  # reads only; rolled back on close
        yield conn


class Importer:
    """Runs SPECS from `src` into roughcut's `engine`, counting into a Report."""

    def __init__(self, src: Source, engine: AsyncEngine, *, dry: bool, batch_size: int, progress: Progress) -> None:
        self._src = src
        self._engine = engine
        self._dry = dry
        self._size = batch_size
        self._progress = progress
        self._mapping = Mapping(dry=dry)
        self._now = datetime.now(UTC)

    async def run(self) -> Report:
        report = Report(self._dry)
        for spec in SPECS:
            if not self._src.has(spec.table):
                continue
            table = report.table(spec.table)
            self._progress.start(spec.table, await self._src.count(spec.table))
            async for rows in self._src.pages(spec.table, self._size):
                extra = await spec.prepare(self._src, rows) if spec.prepare else None
                outcomes = await self._batch(spec, rows, extra)
                for old_id in sorted(outcomes):
                    _count(table, old_id, outcomes[old_id])
                self._progress.advance(table.read)
        return report

    async def _batch(self, spec: Spec, rows: list[Row], extra: Any) -> dict[int, Outcome]:
        try:
            return await self._attempt(spec, rows, extra)
        except (DBAPIError, errors.TransactionConflict):
            pass
        outcomes: dict[int, Outcome] = {}
        for row in rows:  # the database refused the batch: one row per transaction finds the offenders
            try:
                outcomes.update(await self._attempt(spec, [row], extra))
            except (DBAPIError, errors.TransactionConflict) as exc:
                cause = type(getattr(exc, "orig", None) or exc).__name__
                outcomes[row["id"]] = Outcome(r.digest(row), f"refused by the database ({cause})", changed=False)
        return outcomes

    async def _attempt(self, spec: Spec, rows: list[Row], extra: Any) -> dict[int, Outcome]:
        async with _transaction(self._engine, self._dry) as conn:
            batch = Batch(conn, self._now, self._mapping, self._dry, spec.table, extra)
            await spec.handle(batch, rows)
            await batch.flush()
        return batch.outcomes


def _count(table: TableReport, old_id: int, outcome: Outcome) -> None:
    if outcome.skipped is None:
        table.ok(old_id, outcome.digest, changed=outcome.changed)
    else:
        table.skip(old_id, outcome.digest, outcome.skipped)
