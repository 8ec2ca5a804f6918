"""Project use cases: create, read, update, delete, schedule, members, ownership, the event log."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from roughcut.domain import errors
from roughcut.domain.commands import given
from roughcut.domain.events import (
    FEEDBACK_CREATED,
    MEMBER_LEFT,
    MEMBER_ROLE_CHANGED,
    PROJECT_DELETED,
    PROJECT_UPDATED,
    STAGE_CHANGED,
    DomainEvent,
    StoredEvent,
)
from roughcut.domain.ports import BlobStore, Clock, Mailer, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.project_model import (
    EDITORS,
    STAGE_ORDER,
    Invitation,
    Member,
    NewProject,
    Project,
    ProjectQuery,
    ProjectSummary,
    Role,
    Stage,
    StageName,
    StageStatus,
    UpdateProject,
    current_stage,
)
from roughcut.domain.transactions import writes, writing

log = logging.getLogger(__name__)

FIRST_THREAD_TITLE = "Review"
NAME_MAX = 100
EVENT_PAGE_MAX = 500


@dataclass(frozen=True, slots=True)
class Projects:
    """The ports the project use cases work with."""

    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    mailer: Mailer
    links_url: str  # the base of links in mail: the front end's pages, or the API's resources


@dataclass(frozen=True, slots=True)
class ProjectDetail:
    project: Project
    my_role: Role
    members: list[Member]
    invitations: list[Invitation] | None  # only for owner and managers


def project_prefix(project_id: int) -> str:
    """Where a project's blobs live in the blob store."""
    return f"projects/{project_id}/"


async def _detail(
    uow: UnitOfWork, deps: Projects, project: Project, role: Role, members: list[Member] | None = None
) -> ProjectDetail:
    """The project as the caller sees it, read inside the caller's unit of work (`members` when read already)."""
    if members is None:
        members = await uow.projects.members(project.id)
    invitations = await uow.invitations.list_pending(project.id, deps.clock.now()) if role in EDITORS else None
    return ProjectDetail(project, role, members, invitations)


async def require_role(uow: UnitOfWork, project_id: int, user_id: int, allowed: frozenset[Role] | None = None) -> Role:
    """The caller's role; non-members get not_found, members without the right role permission_denied."""
    # In a write this is the transaction's first lock, the project row's: one lock order for every
    # writer (storage/uow.py). Write use cases call it before they write anything under the project.
    role = await uow.projects.role_of(project_id, user_id, lock=writing())
    _admit(role, allowed)
    assert role is not None
    return role


async def require_project(
    uow: UnitOfWork, project_id: int, user_id: int, allowed: frozenset[Role] | None = None
) -> tuple[Project, Role]:
    """The project and the caller's role in one lookup, refused as `require_role` refuses (and locking as it
    locks in a write)."""
    found = await uow.projects.get_as(project_id, user_id, lock=writing())
    _admit(None if found is None else found[1], allowed)
    assert found is not None
    return found


async def require_view(
    uow: UnitOfWork, project_id: int, user_id: int, allowed: frozenset[Role] | None = None
) -> tuple[Project, Role, list[Member]]:
    """`require_project` with the members, in the same read."""
    found = await uow.projects.view_as(project_id, user_id, lock=writing())
    _admit(None if found is None else found[1], allowed)
    assert found is not None
    return found


def _admit(role: Role | None, allowed: frozenset[Role] | None) -> None:
    """Refuse non-members (not_found) and members without an allowed role (permission_denied)."""
    if role is None:
        raise errors.NotFound("No such project.")
    if allowed is not None and role not in allowed:
        raise errors.PermissionDenied(f"Only {' or '.join(sorted(allowed))} may do this.")


def _check_range(stage: Stage) -> None:
    if stage.start_at is not None and stage.end_at is not None and stage.end_at < stage.start_at:
        raise errors.ValidationFailed(fields={"end_at": ["Must not be before start_at."]})


def _stage_dict(stage: Stage) -> dict[str, Any]:
    return {
        "stage": stage.stage.value,
        "start_at": stage.start_at,
        "end_at": stage.end_at,
        "status": stage.status.value,
    }


def full_schedule(given: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """All eight stages in order, the given ones filled in."""
    by_name = {s.stage: s for s in given}
    if len(by_name) != len(given):
        raise errors.ValidationFailed(fields={"stages": ["Each stage at most once."]})
    stages = tuple(by_name.get(name, Stage(name, None, None, StageStatus.TODO)) for name in STAGE_ORDER)
    for stage in stages:
        _check_range(stage)
    return stages


@writes
async def create_project(deps: Projects, user_id: int, new: NewProject) -> ProjectDetail:
    """Create a project with the caller as owner, its schedule and its first feedback thread."""
    new = replace(new, stages=full_schedule(new.stages))
    now = deps.clock.now()
    async with deps.uow() as uow:
        project = await uow.projects.create(new, user_id, now)
        thread_id = await uow.feedback.create_thread(project.id, FIRST_THREAD_TITLE, "", user_id, now)
        uow.record(
            DomainEvent(
                FEEDBACK_CREATED,
                {"feedback_id": thread_id, "title": FIRST_THREAD_TITLE},
                project_id=project.id,
                actor_id=user_id,
            )
        )
        members = await uow.projects.members(project.id)
        await uow.commit()
    return ProjectDetail(project, Role.OWNER, members, [])


async def list_projects(deps: Projects, user_id: int, query: ProjectQuery) -> list[ProjectSummary]:
    """The caller's projects, filtered, sorted and paged."""
    if query.start is not None and query.end is not None and query.end < query.start:
        raise errors.ValidationFailed(fields={"to": ["Must not be before `from`."]})
    async with deps.uow() as uow:
        return await uow.projects.list_for(user_id, query)


async def list_projects_with_members(deps: Projects, user_id: int, query: ProjectQuery) -> list[ProjectDetail]:
    """A page of the caller's projects, each with its members (read together: no query per project)."""
    async with deps.uow() as uow:
        found = await uow.projects.list_for(user_id, query)
        members = await uow.projects.members_of([s.project.id for s in found])
    return [ProjectDetail(s.project, s.my_role, members.get(s.project.id, []), None) for s in found]


async def get_project(deps: Projects, user_id: int, project_id: int) -> ProjectDetail:
    """One project with its members; invitations for owner and managers."""
    async with deps.uow() as uow:
        project, role, members = await require_view(uow, project_id, user_id)
        return await _detail(uow, deps, project, role, members)


@writes
async def update_project(deps: Projects, user_id: int, cmd: UpdateProject) -> ProjectDetail:
    """Change the given editable fields (owner and managers); returns the project as the caller sees it."""
    changes = given(cmd)
    if "name" in changes:
        changes["name"] = changes["name"].strip()
        if not 1 <= len(changes["name"]) <= NAME_MAX:
            raise errors.ValidationFailed(fields={"name": [f"Use 1 to {NAME_MAX} characters."]})
    project_id = cmd.project_id
    async with deps.uow() as uow:
        before, role, members = await require_view(uow, project_id, user_id, EDITORS)
        changed = {k: v for k, v in changes.items() if getattr(before, k) != v}
        if not changed:
            return await _detail(uow, deps, before, role, members)
        project = await uow.projects.update(project_id, deps.clock.now(), **changed)
        wire = {k: (v.value if hasattr(v, "value") else v) for k, v in changed.items()}
        uow.record(
            DomainEvent(
                PROJECT_UPDATED, {"project_id": project_id, "changes": wire}, project_id=project_id, actor_id=user_id
            )
        )
        detail = await _detail(uow, deps, project, role, members)  # a PATCH does not change who is a member
        await uow.commit()
    return detail


@writes
async def set_stage(deps: Projects, user_id: int, project_id: int, stage: Stage) -> ProjectDetail:
    """Schedule one stage (owner and managers), the current stage following; returns the project as shown."""
    _check_range(stage)
    async with deps.uow() as uow:
        role = await require_role(uow, project_id, user_id, EDITORS)
        project = await uow.projects.set_stage(project_id, stage, deps.clock.now())
        now_current = current_stage(project.stages)
        if now_current is not project.current_stage:
            project = await uow.projects.update(project_id, deps.clock.now(), current_stage=now_current)
        uow.record(
            DomainEvent(
                STAGE_CHANGED,
                {**_stage_dict(stage), "project_id": project_id, "current_stage": project.current_stage.value},
                project_id=project_id,
                actor_id=user_id,
            )
        )
        detail = await _detail(uow, deps, project, role)
        await uow.commit()
    return detail


@writes
async def delete_project(deps: Projects, user_id: int, project_id: int) -> None:
    """Delete a project and everything under it (owner only); its blobs go after the commit."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, frozenset({Role.OWNER}))
        leaving = tuple(await uow.projects.member_ids(project_id))
        threads = tuple(await uow.feedback.thread_ids(project_id))  # gone by commit time
        await uow.projects.delete(project_id)
        uow.record(
            DomainEvent(
                PROJECT_DELETED,
                {"project_id": project_id},
                project_id=project_id,
                actor_id=user_id,
                leaving=leaving,
                closes_threads=threads,
            )
        )
        await uow.commit()
    await purge_blobs(deps.blobs, project_id)


async def purge_blobs(blobs: BlobStore, project_id: int) -> None:
    """Remove a deleted project's blobs; safe to repeat, and a failure never undoes the deletion."""
    try:
        await blobs.delete_prefix(project_prefix(project_id))
    except Exception:
        log.exception("blob cleanup failed; it is retried by the next delete", extra={"project_id": project_id})


async def list_members(
    deps: Projects, user_id: int, project_id: int, after: tuple[datetime, int] | None, limit: int
) -> list[Member]:
    """A page of the members of a project the caller belongs to, in the order they joined."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id)
        return await uow.projects.member_page(project_id, after, limit)


def _role_changed(uow: UnitOfWork, project_id: int, actor: int, user_id: int, role: Role, before: Role) -> None:
    uow.record(
        DomainEvent(
            MEMBER_ROLE_CHANGED,
            {"user_id": user_id, "role": role.value, "previous_role": before.value},
            project_id=project_id,
            actor_id=actor,
        )
    )


@writes
async def change_role(deps: Projects, user_id: int, project_id: int, target_id: int, role: Role) -> list[Member]:
    """The owner makes a member a manager or back; ownership moves only by transfer."""
    if role is Role.OWNER:
        raise errors.ValidationFailed(fields={"role": ["Use the transfer call to change the owner."]})
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, frozenset({Role.OWNER}))
        previous = await uow.projects.role_of(project_id, target_id)
        if previous is None:
            raise errors.NotFound("No such member.")
        if previous is Role.OWNER:
            raise errors.Conflict("The owner's role changes only by transferring ownership.")
        if previous is not role:
            await uow.projects.set_role(project_id, target_id, role)
            _role_changed(uow, project_id, user_id, target_id, role, previous)
        members = await uow.projects.members(project_id)
        await uow.commit()
    return members


@writes
async def remove_member(deps: Projects, user_id: int, project_id: int, target_id: int) -> None:
    """Leave (any member but the owner), or remove: the owner removes anyone, managers remove members."""
    async with deps.uow() as uow:
        role = await require_role(uow, project_id, user_id)
        target = await uow.projects.role_of(project_id, target_id)
        if target is None:
            raise errors.NotFound("No such member.")
        if target is Role.OWNER:
            raise errors.Conflict("The owner cannot leave; transfer ownership first.")
        leaving = target_id == user_id
        if not leaving and not (role is Role.OWNER or (role is Role.MANAGER and target is Role.MEMBER)):
            raise errors.PermissionDenied("Only the owner removes managers; managers remove members.")
        await uow.projects.remove_member(project_id, target_id)
        uow.record(
            DomainEvent(
                MEMBER_LEFT,
                {"user_id": target_id, "reason": "left" if leaving else "removed"},
                project_id=project_id,
                actor_id=user_id,
                leaving=(target_id,),
            )
        )
        await uow.commit()


@writes
async def transfer_ownership(deps: Projects, user_id: int, project_id: int, target_id: int) -> list[Member]:
    """The owner hands the project to another member and becomes a manager."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, frozenset({Role.OWNER}))
        if target_id == user_id:
            raise errors.Conflict("You already own this project.")
        previous = await uow.projects.role_of(project_id, target_id)
        if previous is None:
            raise errors.NotFound("No such member.")
        # Demote first: the one-owner index must never see two owners, even inside the transaction.
        await uow.projects.set_role(project_id, user_id, Role.MANAGER)
        await uow.projects.set_role(project_id, target_id, Role.OWNER)
        _role_changed(uow, project_id, user_id, user_id, Role.MANAGER, Role.OWNER)
        _role_changed(uow, project_id, user_id, target_id, Role.OWNER, previous)
        members = await uow.projects.members(project_id)
        await uow.commit()
    return members


async def member_role(deps: Projects, user_id: int, project_id: int) -> Role:
    """The caller's role in a project; not_found for non-members."""
    async with deps.uow() as uow:
        return await require_role(uow, project_id, user_id)


@dataclass(frozen=True, slots=True)
class EventPage:
    """A page of a project's event log, and where the log ends as the same transaction saw it."""

    events: list[StoredEvent]
    last_id: int
    last_seq: int


async def project_events(deps: Projects, user_id: int, project_id: int, after: int, limit: int) -> EventPage:
    """A member's page of the project's event log after event id `after`."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id)
        events = await uow.events.after(project_id, after, min(limit, EVENT_PAGE_MAX))
        last_id, last_seq = await uow.events.last(project_id)
    return EventPage(events, last_id, last_seq)


async def events_between(deps: Projects, project_id: int, after_seq: int, before_seq: int) -> list[StoredEvent]:
    """A project's stored events strictly between two seqs (a node filling a gap in live delivery)."""
    if before_seq - after_seq <= 1:
        return []
    async with deps.uow() as uow:
        return await uow.events.between(project_id, after_seq, before_seq)


async def metadata(deps: Projects, user_id: int, project_id: int) -> dict[str, Any]:
    """Title, description, image and change time for Next.js `generateMetadata`."""
    async with deps.uow() as uow:
        project, _role = await require_project(uow, project_id, user_id)
    description = project.description or f"{project.name}: {project.current_stage.value.replace('_', ' ')}"
    return {
        "title": project.name,
        "description": description[:300],
        "image_url": None,
        "updated_at": project.updated_at,
    }


def parse_stage(name: str) -> StageName:
    """A stage name from a path; anything else is not found."""
    try:
        return StageName(name)
    except ValueError:
        raise errors.NotFound("No such stage.") from None
