"""In-memory adapters of the project ports: projects with stages and members, invitations, project memos, the event log.

Each mirrors its SQL repository in storage/repos/ where the domain relies on it: list order and cursors,
the one-owner and one-pending-invitation indexes, cascades, and authors read through the users table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from roughcut.domain import errors
from roughcut.domain.events import StoredEvent
from roughcut.domain.project_model import (
    STAGE_ORDER,
    CalendarStage,
    Invitation,
    InvitationStatus,
    Member,
    NewProject,
    Project,
    ProjectMemo,
    ProjectQuery,
    ProjectStatus,
    ProjectSummary,
    Role,
    Stage,
    StageName,
    UserRef,
    current_stage,
)
from tests.unit.fakes.store import InvitationRow, MemberRow, ProjectMemoRow, Store


class ConstraintViolation(Exception):
    """What the database would refuse (an IntegrityError there)."""


def _position(stage: Stage) -> int:
    return STAGE_ORDER.index(stage.stage)


def _ref(s: Store, user_id: int | None) -> UserRef | None:
    nickname = s.nickname(user_id)
    return UserRef(user_id, nickname) if user_id is not None and nickname is not None else None


def _search_text(p: Project) -> str:
    return f"{p.name} {p.manager} {p.consumer}".lower()


def _overlaps(p: Project, start: datetime | None, end: datetime | None) -> bool:
    # SQL comparisons with NULL are never true: an unscheduled bound never overlaps a given one.
    return any(
        (end is None or (s.start_at is not None and s.start_at <= end))
        and (start is None or (s.end_at is not None and s.end_at >= start))
        for s in p.stages
    )


def _after(value: Any, pid: int, cursor: tuple[object, int], desc: bool) -> bool:
    last_value, last_id = cursor
    if desc:
        return bool(value < last_value or (value == last_value and pid < last_id))
    return bool(value > last_value or (value == last_value and pid > last_id))


class FakeProjects:
    def __init__(self, s: Store) -> None:
        self.s = s

    def _check_one_owner(self, project_id: int, user_id: int, role: Role) -> None:
        owners = {uid for (pid, uid), m in self.s.members.items() if pid == project_id and m.role is Role.OWNER}
        if role is Role.OWNER and owners - {user_id}:
            raise ConstraintViolation("uq_project_members_one_owner")

    async def create(self, new: NewProject, owner_id: int, now: datetime) -> Project:
        stages = tuple(sorted(new.stages, key=_position))
        project = Project(
            next(self.s.ids),
            new.name,
            new.manager,
            new.consumer,
            new.description,
            new.color,
            ProjectStatus.PLANNING,
            current_stage(stages),
            stages,
            now,
            now,
        )
        self.s.projects[project.id] = project
        await self.add_member(project.id, owner_id, Role.OWNER, now)
        return project

    async def get(self, project_id: int) -> Project | None:
        return self.s.projects.get(project_id)

    async def role_of(self, project_id: int, user_id: int, *, lock: bool = False) -> Role | None:
        return self.s.role_of(project_id, user_id)  # one task at a time: no locks to take

    async def get_as(self, project_id: int, user_id: int, *, lock: bool = False) -> tuple[Project, Role] | None:
        project, role = await self.get(project_id), self.s.role_of(project_id, user_id)
        return (project, role) if project is not None and role is not None else None

    async def view_as(
        self, project_id: int, user_id: int, *, lock: bool = False
    ) -> tuple[Project, Role, list[Member]] | None:
        found = await self.get_as(project_id, user_id, lock=lock)
        return None if found is None else (*found, await self.members(project_id))

    async def update(self, project_id: int, now: datetime, **fields: Any) -> Project:
        if "status" in fields:
            fields["status"] = ProjectStatus(fields["status"])
        if "current_stage" in fields:
            fields["current_stage"] = StageName(fields["current_stage"])
        self.s.projects[project_id] = replace(self.s.projects[project_id], updated_at=now, **fields)
        return self.s.projects[project_id]

    async def set_stage(self, project_id: int, stage: Stage, now: datetime) -> Project:
        project = self.s.projects[project_id]
        stages = tuple(stage if s.stage is stage.stage else s for s in project.stages)
        self.s.projects[project_id] = replace(project, stages=stages)
        return await self.update(project_id, now)

    async def delete(self, project_id: int) -> None:
        if project_id in self.s.projects:
            self.s.drop_project(project_id)

    async def list_for(self, user_id: int, query: ProjectQuery) -> list[ProjectSummary]:
        desc = query.sort.startswith("-")
        column = query.sort.lstrip("-")
        found: list[ProjectSummary] = []
        for p in self.s.projects.values():
            mine = self.s.role_of(p.id, user_id)
            owner = next((uid for uid in self.s.member_ids(p.id) if self.s.role_of(p.id, uid) is Role.OWNER), None)
            owner_ref = _ref(self.s, owner)
            if mine is None or owner_ref is None:
                continue
            if query.q and query.q.lower() not in _search_text(p):
                continue
            if query.stage is not None and p.current_stage is not query.stage:
                continue
            if query.role is not None and mine is not query.role:
                continue
            if (query.start is not None or query.end is not None) and not _overlaps(p, query.start, query.end):
                continue
            if query.after is not None and not _after(getattr(p, column), p.id, query.after, desc):
                continue
            found.append(ProjectSummary(p, owner_ref, mine, len(self.s.member_ids(p.id))))
        found.sort(key=lambda x: (getattr(x.project, column), x.project.id), reverse=desc)
        return found[: query.limit]

    async def members(self, project_id: int) -> list[Member]:
        rows = sorted(
            ((uid, m) for (pid, uid), m in self.s.members.items() if pid == project_id),
            key=lambda r: (r[1].joined_at, r[0]),
        )
        return [
            Member(uid, u.nickname, u.email, u.avatar_url, m.role, m.joined_at)
            for uid, m in rows
            if (u := self.s.users.get(uid)) is not None
        ]

    async def member_page(self, project_id: int, after: tuple[datetime, int] | None, limit: int) -> list[Member]:
        found = await self.members(project_id)
        return [m for m in found if after is None or (m.joined_at, m.user_id) > after][:limit]

    async def members_of(self, project_ids: Sequence[int]) -> dict[int, list[Member]]:
        return {pid: found for pid in project_ids if (found := await self.members(pid))}

    async def member_ids(self, project_id: int) -> list[int]:
        return self.s.member_ids(project_id)

    async def add_member(self, project_id: int, user_id: int, role: Role, now: datetime) -> None:
        if (project_id, user_id) in self.s.members:
            raise ConstraintViolation("pk_project_members")
        self._check_one_owner(project_id, user_id, role)
        self.s.members[(project_id, user_id)] = MemberRow(role, now)

    async def set_role(self, project_id: int, user_id: int, role: Role) -> None:
        row = self.s.members.get((project_id, user_id))
        if row is None:
            return
        self._check_one_owner(project_id, user_id, role)
        self.s.members[(project_id, user_id)] = replace(row, role=role)

    async def remove_member(self, project_id: int, user_id: int) -> None:
        self.s.members.pop((project_id, user_id), None)

    async def owned_count(self, user_id: int) -> int:
        owned = sum(1 for (_, uid), m in self.s.members.items() if uid == user_id and m.role is Role.OWNER)
        return owned + self.s.owned_projects.get(user_id, 0)

    async def stages_between(self, user_id: int, start: datetime, end: datetime) -> list[CalendarStage]:
        found = [
            CalendarStage(p.id, p.name, p.color, s)
            for p in self.s.projects.values()
            if self.s.role_of(p.id, user_id) is not None
            for s in p.stages
            if s.start_at is not None and s.end_at is not None and s.start_at <= end and s.end_at >= start
        ]
        return sorted(found, key=lambda c: (c.stage.start_at, c.project_id, _position(c.stage)))


class FakeInvitations:
    def __init__(self, s: Store) -> None:
        self.s = s

    def _invitation(self, r: InvitationRow) -> Invitation:
        inviter = _ref(self.s, r.inviter_id)
        return Invitation(
            r.id,
            r.project_id,
            r.email,
            r.role,
            r.message,
            inviter,
            r.created_at,
            r.expires_at,
            r.status,
            r.responded_at,
        )

    async def add(
        self,
        project_id: int,
        email: str,
        role: Role,
        message: str,
        token_hash: str,
        inviter_id: int,
        now: datetime,
        expires_at: datetime,
    ) -> Invitation:
        pending = InvitationStatus.PENDING
        # The partial unique index counts every pending row, lapsed or not (expire_stale clears those first).
        if any(i.project_id == project_id and i.email == email and i.status is pending for i in self._rows()):
            raise errors.Conflict("This address already has a pending invitation.")
        row = InvitationRow(
            next(self.s.ids), project_id, email, role, message, token_hash, inviter_id, now, expires_at, pending, None
        )
        self.s.invitations[row.id] = row
        return self._invitation(row)

    def _rows(self) -> list[InvitationRow]:
        return list(self.s.invitations.values())

    async def get(self, invitation_id: int) -> Invitation | None:
        row = self.s.invitations.get(invitation_id)
        return self._invitation(row) if row else None

    async def by_token(self, token_hash: str) -> Invitation | None:
        row = next((i for i in self._rows() if i.token_hash == token_hash), None)
        return self._invitation(row) if row else None

    def _pending(self, project_id: int, now: datetime) -> list[InvitationRow]:
        rows = [
            i
            for i in self._rows()
            if i.project_id == project_id and i.status is InvitationStatus.PENDING and i.expires_at > now
        ]
        return sorted(rows, key=lambda i: i.id)

    async def pending_for(self, project_id: int, email: str, now: datetime) -> Invitation | None:
        row = next((i for i in self._pending(project_id, now) if i.email == email), None)
        return self._invitation(row) if row else None

    async def list_pending(
        self, project_id: int, now: datetime, after_id: int | None = None, limit: int | None = None
    ) -> list[Invitation]:
        rows = [i for i in self._pending(project_id, now) if after_id is None or i.id > after_id]
        return [self._invitation(i) for i in rows[:limit]]

    async def set_status(self, invitation_id: int, status: InvitationStatus, now: datetime) -> bool:
        row = self.s.invitations.get(invitation_id)
        if row is None or row.status is not InvitationStatus.PENDING:
            return False
        self.s.invitations[invitation_id] = replace(row, status=status, responded_at=now)
        return True

    async def renew(self, invitation_id: int, token_hash: str, now: datetime, expires_at: datetime) -> Invitation:
        row = replace(self.s.invitations[invitation_id], token_hash=token_hash, expires_at=expires_at, created_at=now)
        self.s.invitations[invitation_id] = row
        return self._invitation(row)

    async def expire_stale(self, project_id: int, email: str, now: datetime) -> None:
        for i in self._rows():
            lapsed = i.status is InvitationStatus.PENDING and i.expires_at <= now
            if i.project_id == project_id and i.email == email and lapsed:
                self.s.invitations[i.id] = replace(i, status=InvitationStatus.EXPIRED, responded_at=now)


class FakeProjectMemos:
    def __init__(self, s: Store) -> None:
        self.s = s

    def _memo(self, r: ProjectMemoRow) -> ProjectMemo:
        return ProjectMemo(r.id, r.project_id, r.date, r.memo, _ref(self.s, r.author_id), r.created_at, r.updated_at)

    def _sorted(self, rows: list[ProjectMemoRow]) -> list[ProjectMemo]:
        return [self._memo(r) for r in sorted(rows, key=lambda r: (r.date, r.id))]

    async def page(
        self, project_id: int, start: date | None, end: date | None, after: tuple[date, int] | None, limit: int
    ) -> list[ProjectMemo]:
        rows = [
            r
            for r in self.s.project_memos.values()
            if r.project_id == project_id
            and (start is None or r.date >= start)
            and (end is None or r.date <= end)
            and (after is None or (r.date, r.id) > after)
        ]
        return self._sorted(rows)[:limit]

    async def add(self, project_id: int, author_id: int, day: date, memo: str, now: datetime) -> ProjectMemo:
        row = ProjectMemoRow(next(self.s.ids), project_id, author_id, day, memo, now, now)
        self.s.project_memos[row.id] = row
        return self._memo(row)

    async def get(self, memo_id: int) -> ProjectMemo | None:
        row = self.s.project_memos.get(memo_id)
        return self._memo(row) if row else None

    async def update(self, memo_id: int, now: datetime, **fields: Any) -> ProjectMemo:
        row = replace(self.s.project_memos[memo_id], updated_at=now, **fields)
        self.s.project_memos[memo_id] = row
        return self._memo(row)

    async def delete(self, memo_id: int) -> None:
        self.s.project_memos.pop(memo_id, None)

    async def in_range_for(self, user_id: int, start: date, end: date) -> list[ProjectMemo]:
        rows = [
            r
            for r in self.s.project_memos.values()
            if self.s.role_of(r.project_id, user_id) is not None and start <= r.date <= end
        ]
        return self._sorted(rows)


class FakeEventLog:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def after(self, project_id: int, after_id: int, limit: int) -> list[StoredEvent]:
        return [e for e in self.s.events if e.project_id == project_id and e.id > after_id][:limit]

    async def between(self, project_id: int, after_seq: int, before_seq: int) -> list[StoredEvent]:
        return [e for e in self.s.events if e.project_id == project_id and after_seq < (e.seq or 0) < before_seq]

    async def last(self, project_id: int) -> tuple[int, int]:
        mine = [e for e in self.s.events if e.project_id == project_id]
        return max((e.id for e in mine), default=0), max((e.seq or 0 for e in mine), default=0)
