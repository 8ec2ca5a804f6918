"""Members and ownership: who removes whom, roles, transfer, what a removed member still hears; the event log."""

from __future__ import annotations

import pytest

from roughcut.domain import projects
from roughcut.domain.events import MEMBER_LEFT, MEMBER_ROLE_CHANGED, PROJECT_UPDATED, STAGE_CHANGED, StoredEvent
from roughcut.domain.project_model import Role, StageName, UpdateProject
from roughcut.domain.projects import Projects
from tests.unit.fakes import RecordingPublisher, Store
from tests.unit.support import FEB, Team, new_project, refused, refused_quietly, stage

# ---- members ----


@pytest.mark.parametrize(
    ("actor", "target", "code"),
    [
        ("owner", "manager", None),
        ("owner", "member", None),
        ("manager", "member", None),
        ("manager", "manager", None),  # leaving
        ("member", "member", None),  # leaving
        ("member", "manager", "permission_denied"),
        ("manager", "owner", "conflict"),
        ("owner", "owner", "conflict"),  # the owner cannot leave
        ("outsider", "member", "not_found"),
        ("member", "outsider", "not_found"),
    ],
)
async def test_remove_member_matrix(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, actor: str, target: str, code: str | None
) -> None:
    actor_id, target_id = team.by_role(actor), team.by_role(target)
    call = projects.remove_member(deps, actor_id, team.project_id, target_id)
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    await call
    assert store.role_of(team.project_id, target_id) is None
    left = publisher.event(MEMBER_LEFT)
    assert isinstance(left.event, StoredEvent)
    reason = "left" if actor_id == target_id else "removed"
    assert left.event.data == {"user_id": target_id, "reason": reason}
    assert left.event.actor_id == actor_id
    assert set(left.audience.users) == team.members  # the one leaving hears why, once
    assert (left.audience.leaving, left.audience.threads) == ((target_id,), (team.thread_id,))


async def test_a_manager_does_not_remove_another_manager(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    other = store.add_user("Max")
    store.join(team.project_id, other.id, Role.MANAGER)
    await refused_quietly(
        projects.remove_member(deps, team.manager, team.project_id, other.id), "permission_denied", store, publisher
    )


async def test_a_removed_member_hears_member_left_once_and_then_nothing(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    await projects.remove_member(deps, team.manager, team.project_id, team.member)
    await projects.update_project(deps, team.owner, UpdateProject(team.project_id, name="After"))
    await projects.set_stage(deps, team.owner, team.project_id, stage(StageName.FILMING, FEB))
    assert publisher.seen_by(team.member) == [MEMBER_LEFT]
    assert publisher.seen_by(team.manager) == [MEMBER_LEFT, PROJECT_UPDATED, STAGE_CHANGED]
    await refused(projects.get_project(deps, team.member, team.project_id), "not_found")


async def test_owner_promotes_a_member(deps: Projects, store: Store, publisher: RecordingPublisher, team: Team) -> None:
    members = await projects.change_role(deps, team.owner, team.project_id, team.member, Role.MANAGER)
    assert {m.user_id: m.role for m in members}[team.member] is Role.MANAGER
    assert store.role_of(team.project_id, team.member) is Role.MANAGER
    changed = publisher.event(MEMBER_ROLE_CHANGED)
    assert isinstance(changed.event, StoredEvent)
    assert changed.event.data == {"user_id": team.member, "role": "manager", "previous_role": "member"}
    assert set(changed.audience.users) == team.members


async def test_changing_to_the_same_role_records_nothing(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    await projects.change_role(deps, team.owner, team.project_id, team.manager, Role.MANAGER)
    assert publisher.committed == []


@pytest.mark.parametrize(
    ("actor", "target", "role", "code"),
    [
        ("owner", "member", Role.OWNER, "validation_failed"),
        ("owner", "owner", Role.MEMBER, "conflict"),
        ("manager", "member", Role.MANAGER, "permission_denied"),
        ("member", "member", Role.MANAGER, "permission_denied"),
        ("outsider", "member", Role.MANAGER, "not_found"),
        ("owner", "outsider", Role.MANAGER, "not_found"),
    ],
)
async def test_change_role_refusals(
    deps: Projects,
    store: Store,
    publisher: RecordingPublisher,
    team: Team,
    actor: str,
    target: str,
    role: Role,
    code: str,
) -> None:
    call = projects.change_role(deps, team.by_role(actor), team.project_id, team.by_role(target), role)
    await refused_quietly(call, code, store, publisher)


async def test_transfer_swaps_owner_and_announces_both_changes_in_order(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    members = await projects.transfer_ownership(deps, team.owner, team.project_id, team.member)
    assert {m.user_id: m.role for m in members} == {
        team.owner: Role.MANAGER,
        team.manager: Role.MANAGER,
        team.member: Role.OWNER,
    }
    changes = [c.event.data for c in publisher.events(MEMBER_ROLE_CHANGED) if isinstance(c.event, StoredEvent)]
    assert changes == [
        {"user_id": team.owner, "role": "manager", "previous_role": "owner"},
        {"user_id": team.member, "role": "owner", "previous_role": "member"},
    ]
    # The new owner now holds the owner's rights, the old one a manager's.
    await projects.delete_project(deps, team.member, team.project_id)
    assert team.project_id not in store.projects


@pytest.mark.parametrize(
    ("actor", "target", "code"),
    [("owner", "owner", "conflict"), ("owner", "outsider", "not_found"), ("manager", "member", "permission_denied")],
)
async def test_transfer_refusals(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, actor: str, target: str, code: str
) -> None:
    call = projects.transfer_ownership(deps, team.by_role(actor), team.project_id, team.by_role(target))
    await refused_quietly(call, code, store, publisher)


# ---- the event log ----


async def test_event_log_pages_a_members_project_only(deps: Projects, store: Store, team: Team) -> None:
    start = store.events[-1].id  # the first thread's feedback.created
    for name in ("One", "Two", "Three"):
        await projects.update_project(deps, team.owner, UpdateProject(team.project_id, name=name))
    other = await projects.create_project(deps, team.outsider, new_project("Elsewhere"))
    page = await projects.project_events(deps, team.member, team.project_id, start, 2)
    events = page.events
    assert [e.data["changes"]["name"] for e in events] == ["One", "Two"]
    mine = [e for e in store.events if e.project_id == team.project_id]
    assert page.last_id == max(e.id for e in mine)
    assert [e.seq for e in mine] == list(range(1, len(mine) + 1)) and page.last_seq == len(mine)
    assert [e.seq for e in await projects.events_between(deps, team.project_id, 1, 4)] == [2, 3]
    rest = (await projects.project_events(deps, team.member, team.project_id, events[-1].id, 10)).events
    assert [e.data["changes"]["name"] for e in rest] == ["Three"]
    assert all(e.project_id == team.project_id for e in events + rest)
    await refused(projects.project_events(deps, team.member, other.project.id, 0, 10), "not_found")


async def test_event_log_page_is_capped(deps: Projects, store: Store, team: Team) -> None:
    at = store.projects[team.project_id].created_at
    store.events = [StoredEvent(i, "x", {}, team.project_id, None, at) for i in range(1, projects.EVENT_PAGE_MAX + 10)]
    page = await projects.project_events(deps, team.member, team.project_id, 0, 10_000)
    assert (len(page.events), page.last_id) == (projects.EVENT_PAGE_MAX, projects.EVENT_PAGE_MAX + 9)
