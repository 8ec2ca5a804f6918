"""Projects, their stages and members. List queries run a constant number of statements."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.types import Integer, NullType

from roughcut.domain.project_model import (
    CalendarStage,
    Member,
    NewProject,
    Project,
    ProjectQuery,
    ProjectStatus,
    ProjectSummary,
    Role,
    Stage,
    StageName,
    StageStatus,
    UserRef,
    current_stage,
)
from roughcut.storage import tables as t

P, S, M, U = t.projects, t.project_stages, t.project_members, t.users
ORDER = {name: i for i, name in enumerate(StageName)}

_ROLE = select(M.c.role).where(M.c.project_id == bindparam("project_id"), M.c.user_id == bindparam("user_id"))
# A writer's role lookup is its first lock: the project row, FOR NO KEY UPDATE (the mode the commit
# takes again, see storage/uow.py), in the same statement. The outer join locks a project the caller
# is not a member of too; a missing project locks nothing and reads no row.
_ROLE_LOCKED = (
    select(M.c.role)
    .select_from(P.outerjoin(M, and_(M.c.project_id == P.c.id, M.c.user_id == bindparam("user_id"))))
    .where(P.c.id == bindparam("project_id"))
    .with_for_update(of=P, key_share=True)
)
# A project with the caller's role in one statement; in a write, the project row's lock as in _ROLE_LOCKED.
_PROJECT_AS = (
    select(M.c.role, P)
    .select_from(P.outerjoin(M, and_(M.c.project_id == P.c.id, M.c.user_id == bindparam("user_id"))))
    .where(P.c.id == bindparam("project_id"))
)
_PROJECT_AS_LOCKED = _PROJECT_AS.with_for_update(of=P, key_share=True)
# On PostgreSQL the stages (and for a view the members) come in the same statement, as arrays of rows
# that asyncpg decodes with their types: a project read is one round trip instead of two (three).
_M2 = M.alias("m2")
_STAGE_ROWS = (
    select(
        func.array_agg(
            aggregate_order_by(tuple_(S.c.stage, S.c.start_at, S.c.end_at, S.c.status), S.c.position),
            type_=NullType(),
        )
    )
    .where(S.c.project_id == P.c.id)
    .scalar_subquery()
    .label("stage_rows")
)
_MEMBER_ROWS = (
    select(
        func.array_agg(
            aggregate_order_by(
                tuple_(_M2.c.user_id, _M2.c.role, _M2.c.joined_at, U.c.nickname, U.c.email, U.c.avatar_url),
                _M2.c.joined_at,
                _M2.c.user_id,
            ),
            type_=NullType(),
        )
    )
    .select_from(_M2.join(U, U.c.id == _M2.c.user_id))
    .where(_M2.c.project_id == P.c.id)
    .scalar_subquery()
    .label("member_rows")
)
_PROJECT_AS_PG = _PROJECT_AS.add_columns(_STAGE_ROWS)
_PROJECT_AS_PG_LOCKED = _PROJECT_AS_PG.with_for_update(of=P, key_share=True)
_VIEW_AS_PG = _PROJECT_AS_PG.add_columns(_MEMBER_ROWS)
_VIEW_AS_PG_LOCKED = _VIEW_AS_PG.with_for_update(of=P, key_share=True)
# Statements of the hot reads, built once (building a Select and its cache key per call was ~5 % of a
# project read's CPU); the id lists expand at execution.
_PROJECT = select(P).where(P.c.id == bindparam("project_id"))
_STAGES = select(S).where(S.c.project_id.in_(bindparam("ids", expanding=True))).order_by(S.c.project_id, S.c.position)
_MEMBERS = (
    select(M.c.project_id, M.c.user_id, M.c.role, M.c.joined_at, U.c.nickname, U.c.email, U.c.avatar_url)
    .join(U, U.c.id == M.c.user_id)
    .where(M.c.project_id.in_(bindparam("ids", expanding=True)))
    .order_by(M.c.project_id, M.c.joined_at, M.c.user_id)
)


def _stage(r: RowMapping) -> Stage:
    return Stage(StageName(r["stage"]), r["start_at"], r["end_at"], StageStatus(r["status"]))


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp read inside a row array, as UtcDateTime reads a column."""
    return None if value is None else value.astimezone(UTC)


def _stage_rows(rows: Sequence[Sequence[Any]] | None) -> tuple[Stage, ...]:
    return tuple(Stage(StageName(a), _utc(b), _utc(c), StageStatus(d)) for a, b, c, d in rows or ())


def _member_rows(rows: Sequence[Sequence[Any]] | None) -> list[Member]:
    return [
        Member(uid, nickname, email, avatar, Role(role), joined.astimezone(UTC))
        for uid, role, joined, nickname, email, avatar in rows or ()
    ]


def _project(r: RowMapping, stages: tuple[Stage, ...]) -> Project:
    return Project(
        r["id"],
        r["name"],
        r["manager"],
        r["consumer"],
        r["description"],
        r["color"],
        ProjectStatus(r["status"]),
        StageName(r["current_stage"]),
        stages,
        r["created_at"],
        r["updated_at"],
    )


def search_text() -> ColumnElement[str]:
    """The expression the trigram index covers (migration 0002)."""
    return func.lower(P.c.name + literal(" ") + P.c.manager + literal(" ") + P.c.consumer)


def _like(q: str) -> str:
    escaped = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_SORT_COLUMNS = {"updated_at": P.c.updated_at, "created_at": P.c.created_at, "name": P.c.name}


def _ordered(q: Select[Any], sort: str, paged: bool) -> Select[Any]:
    desc = sort.startswith("-")
    col = _SORT_COLUMNS[sort.lstrip("-")]
    if paged:
        value, last_id = bindparam("after_value", type_=col.type), bindparam("after_id", type_=P.c.id.type)
        if desc:
            q = q.where(or_(col < value, and_(col == value, P.c.id < last_id)))
        else:
            q = q.where(or_(col > value, and_(col == value, P.c.id > last_id)))
    return q.order_by(col.desc(), P.c.id.desc()) if desc else q.order_by(col, P.c.id)


def _list_base() -> Select[Any]:
    count = select(func.count()).select_from(M).where(M.c.project_id == P.c.id).scalar_subquery()
    return (
        select(
            P,
            _MINE.c.role.label("my_role"),
            U.c.id.label("owner_id"),
            U.c.nickname.label("owner_nickname"),
            count.label("member_count"),
        )
        .join(_MINE, and_(_MINE.c.project_id == P.c.id, _MINE.c.user_id == bindparam("me")))
        .join(_OWNER, and_(_OWNER.c.project_id == P.c.id, _OWNER.c.role == Role.OWNER.value))
        .join(U, U.c.id == _OWNER.c.user_id)
    )


# Built once: composing aliases and subqueries per call costs more than running the query.
_MINE, _OWNER = M.alias("mine"), M.alias("owner")
_LIST_BASE = _list_base()


@functools.lru_cache(maxsize=128)
def _list_statement(pg: bool, sort: str, filters: frozenset[str], paged: bool) -> Select[Any]:
    """The page query of one shape (which filters, which order, a later page or the first), built once: every
    value is a bound parameter, so SQLAlchemy's cache key of the statement is computed once too (building it
    per call was ~4 % of an uncached list's CPU). On PostgreSQL the page's stages come as a row array."""
    q = _LIST_BASE.add_columns(_STAGE_ROWS) if pg else _LIST_BASE
    if "like" in filters:
        q = q.where(search_text().like(bindparam("like"), escape="\\"))
    if "stage" in filters:
        q = q.where(P.c.current_stage == bindparam("stage"))
    if "role" in filters:
        q = q.where(_MINE.c.role == bindparam("role"))
    if "start" in filters or "end" in filters:
        overlap = [S.c.project_id == P.c.id]
        if "end" in filters:
            overlap.append(S.c.start_at <= bindparam("end", type_=S.c.start_at.type))
        if "start" in filters:
            overlap.append(S.c.end_at >= bindparam("start", type_=S.c.end_at.type))
        q = q.where(exists(select(S.c.project_id).where(*overlap)))
    return _ordered(q, sort, paged).limit(bindparam("limit", type_=Integer()))


def _list_params(user_id: int, query: ProjectQuery) -> tuple[frozenset[str], dict[str, Any]]:
    """The filters a query uses and the statement's parameters."""
    params: dict[str, Any] = {"me": user_id, "limit": query.limit}
    if query.q:
        params["like"] = _like(query.q)
    if query.stage is not None:
        params["stage"] = query.stage.value
    if query.role is not None:
        params["role"] = query.role.value
    if query.start is not None:
        params["start"] = query.start
    if query.end is not None:
        params["end"] = query.end
    if query.after is not None:
        params["after_value"], params["after_id"] = query.after
    filters = frozenset(params) - {"me", "limit", "after_value", "after_id"}
    return filters, params


class SqlProjects:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _stages(self, ids: list[int]) -> dict[int, tuple[Stage, ...]]:
        if not ids:
            return {}
        rows = (await self._conn.execute(_STAGES, {"ids": ids})).mappings()
        grouped: dict[int, list[Stage]] = defaultdict(list)
        for r in rows:
            grouped[r["project_id"]].append(_stage(r))
        return {k: tuple(v) for k, v in grouped.items()}

    async def create(self, new: NewProject, owner_id: int, now: datetime) -> Project:
        row = (
            await self._conn.execute(
                insert(P)
                .values(
                    name=new.name,
                    manager=new.manager,
                    consumer=new.consumer,
                    description=new.description,
                    color=new.color,
                    status=ProjectStatus.PLANNING.value,
                    current_stage=current_stage(new.stages).value,
                    created_at=now,
                    updated_at=now,
                )
                .returning(P.c.id)
            )
        ).scalar_one()
        await self._conn.execute(
            insert(S),
            [
                {
                    "project_id": row,
                    "stage": s.stage.value,
                    "position": ORDER[s.stage],
                    "start_at": s.start_at,
                    "end_at": s.end_at,
                    "status": s.status.value,
                }
                for s in new.stages
            ],
        )
        await self.add_member(row, owner_id, Role.OWNER, now)
        project = await self.get(row)
        assert project is not None
        return project

    async def get(self, project_id: int) -> Project | None:
        row = (await self._conn.execute(_PROJECT, {"project_id": project_id})).mappings().first()
        if row is None:
            return None
        return _project(row, (await self._stages([project_id])).get(project_id, ()))

    async def get_as(self, project_id: int, user_id: int, *, lock: bool = False) -> tuple[Project, Role] | None:
        pg = self._conn.dialect.name == "postgresql"
        q = (_PROJECT_AS_PG_LOCKED if lock else _PROJECT_AS_PG) if pg else _PROJECT_AS
        row = (await self._conn.execute(q, {"project_id": project_id, "user_id": user_id})).mappings().first()
        if row is None or row["role"] is None:
            return None
        stages = _stage_rows(row["stage_rows"]) if pg else (await self._stages([project_id])).get(project_id, ())
        return _project(row, stages), Role(row["role"])

    async def view_as(
        self, project_id: int, user_id: int, *, lock: bool = False
    ) -> tuple[Project, Role, list[Member]] | None:
        if self._conn.dialect.name != "postgresql":
            found = await self.get_as(project_id, user_id, lock=lock)
            return None if found is None else (*found, await self.members(project_id))
        params = {"project_id": project_id, "user_id": user_id}
        row = (await self._conn.execute(_VIEW_AS_PG_LOCKED if lock else _VIEW_AS_PG, params)).mappings().first()
        if row is None or row["role"] is None:
            return None
        return _project(row, _stage_rows(row["stage_rows"])), Role(row["role"]), _member_rows(row["member_rows"])

    async def role_of(self, project_id: int, user_id: int, *, lock: bool = False) -> Role | None:
        q = _ROLE_LOCKED if lock and self._conn.dialect.name == "postgresql" else _ROLE
        role = (await self._conn.execute(q, {"project_id": project_id, "user_id": user_id})).scalar()
        return Role(role) if role else None

    async def update(self, project_id: int, now: datetime, **fields: Any) -> Project:
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items()}
        await self._conn.execute(update(P).where(P.c.id == project_id).values(updated_at=now, **values))
        project = await self.get(project_id)
        assert project is not None
        return project

    async def set_stage(self, project_id: int, stage: Stage, now: datetime) -> Project:
        await self._conn.execute(
            update(S)
            .where(S.c.project_id == project_id, S.c.stage == stage.stage.value)
            .values(start_at=stage.start_at, end_at=stage.end_at, status=stage.status.value)
        )
        return await self.update(project_id, now)

    async def delete(self, project_id: int) -> None:
        await self._conn.execute(delete(P).where(P.c.id == project_id))

    async def list_for(self, user_id: int, query: ProjectQuery) -> list[ProjectSummary]:
        pg = self._conn.dialect.name == "postgresql"
        filters, params = _list_params(user_id, query)
        stmt = _list_statement(pg, query.sort, filters, query.after is not None)
        rows = list((await self._conn.execute(stmt, params)).mappings())
        if pg:
            stages = {r["id"]: _stage_rows(r["stage_rows"]) for r in rows}
        else:
            stages = await self._stages([r["id"] for r in rows])
        return [
            ProjectSummary(
                _project(r, stages.get(r["id"], ())),
                UserRef(r["owner_id"], r["owner_nickname"]),
                Role(r["my_role"]),
                int(r["member_count"]),
            )
            for r in rows
        ]

    async def members(self, project_id: int) -> list[Member]:
        return (await self.members_of([project_id])).get(project_id, [])

    async def member_page(self, project_id: int, after: tuple[datetime, int] | None, limit: int) -> list[Member]:
        q = (
            select(M.c.user_id, M.c.role, M.c.joined_at, U.c.nickname, U.c.email, U.c.avatar_url)
            .join(U, U.c.id == M.c.user_id)
            .where(M.c.project_id == project_id)
            .order_by(M.c.joined_at, M.c.user_id)
            .limit(limit)
        )
        if after is not None:
            joined, user_id = after
            q = q.where(or_(M.c.joined_at > joined, and_(M.c.joined_at == joined, M.c.user_id > user_id)))
        return [
            Member(r["user_id"], r["nickname"], r["email"], r["avatar_url"], Role(r["role"]), r["joined_at"])
            for r in (await self._conn.execute(q)).mappings()
        ]

    async def members_of(self, project_ids: Sequence[int]) -> dict[int, list[Member]]:
        if not project_ids:
            return {}
        found: dict[int, list[Member]] = defaultdict(list)
        for r in (await self._conn.execute(_MEMBERS, {"ids": list(project_ids)})).mappings():
            member = Member(r["user_id"], r["nickname"], r["email"], r["avatar_url"], Role(r["role"]), r["joined_at"])
            found[r["project_id"]].append(member)
        return dict(found)

    async def member_ids(self, project_id: int) -> list[int]:
        q = select(M.c.user_id).where(M.c.project_id == project_id).order_by(M.c.user_id)
        return list((await self._conn.execute(q)).scalars())

    async def add_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        await self._conn.execute(
            insert(M).values(project_id=project_id, user_id=user_id, role=role.value, joined_at=now)
        )

    async def set_role(self, project_id: int, user_id: int, role: Role) -> None:
        await self._conn.execute(
            update(M).where(M.c.project_id == project_id, M.c.user_id == user_id).values(role=role.value)
        )

    async def remove_member(self, project_id: int, user_id: int) -> None:
        await self._conn.execute(delete(M).where(M.c.project_id == project_id, M.c.user_id == user_id))

    async def owned_count(self, user_id: int) -> int:
        q = select(func.count()).select_from(M).where(M.c.user_id == user_id, M.c.role == Role.OWNER.value)
        return int((await self._conn.execute(q)).scalar_one())

    async def stages_between(self, user_id: int, start: datetime, end: datetime) -> list[CalendarStage]:
        q = (
            select(S, P.c.name, P.c.color)
            .join(P, P.c.id == S.c.project_id)
            .join(M, and_(M.c.project_id == P.c.id, M.c.user_id == user_id))
            .where(S.c.start_at <= end, S.c.end_at >= start)
            .order_by(S.c.start_at, S.c.project_id, S.c.position)
        )
        return [
            CalendarStage(r["project_id"], r["name"], r["color"], _stage(r))
            for r in (await self._conn.execute(q)).mappings()
        ]
