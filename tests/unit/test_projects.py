"""Project rules: the schedule, who may do what by role, members and ownership, and who hears of each change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roughcut.domain import errors, projects
from roughcut.domain.events import FEEDBACK_CREATED, PROJECT_DELETED, PROJECT_UPDATED, STAGE_CHANGED, StoredEvent
from roughcut.domain.project_model import (
    STAGE_ORDER,
    ProjectQuery,
    ProjectStatus,
    Role,
    Stage,
    StageName,
    StageStatus,
    UpdateProject,
)
from roughcut.domain.projects import Projects
from tests.unit.fakes import FakeBlobs, RecordingPublisher, Store
from tests.unit.support import DAY, FEB, Team, new_project, refused, refused_quietly, stage

# ---- create ----


async def test_create_fills_the_schedule_and_opens_the_first_thread(
    deps: Projects, store: Store, publisher: RecordingPublisher
) -> None:
    olga = store.add_user("Olga")
    filming = stage(StageName.FILMING, FEB, 2, StageStatus.IN_PROGRESS)
    detail = await projects.create_project(deps, olga.id, replace(new_project(), stages=(filming,)))
    project = detail.project
    assert [s.stage for s in project.stages] == list(STAGE_ORDER)
    assert project.stages[STAGE_ORDER.index(StageName.FILMING)] == filming
    assert {s.status for s in project.stages if s.stage is not StageName.FILMING} == {StageStatus.TODO}
    assert (project.status, project.current_stage) == (ProjectStatus.PLANNING, StageName.BASIC_PLAN)
    assert (detail.my_role, [m.user_id for m in detail.members], detail.invitations) == (Role.OWNER, [olga.id], [])
    (thread,) = store.threads.values()
    assert (thread.project_id, thread.title) == (project.id, projects.FIRST_THREAD_TITLE)
    created = publisher.event(FEEDBACK_CREATED)
    assert isinstance(created.event, StoredEvent)
    assert created.event.data == {"feedback_id": thread.id, "title": "Review"}
    assert (created.event.project_id, created.event.actor_id, created.audience.users) == (
        project.id,
        olga.id,
        (olga.id,),
    )


async def test_create_starts_at_the_first_stage_not_done(deps: Projects, store: Store) -> None:
    olga = store.add_user("Olga")
    done = tuple(stage(name, FEB, status=StageStatus.DONE) for name in STAGE_ORDER[:3])
    detail = await projects.create_project(deps, olga.id, replace(new_project(), stages=done))
    assert detail.project.current_stage is StageName.VIDEO_EDIT


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ((stage(StageName.FILMING), stage(StageName.FILMING)), "stages"),
        ((Stage(StageName.FILMING, FEB, FEB - DAY, StageStatus.TODO),), "end_at"),
    ],
)
async def test_create_refuses_a_bad_schedule(
    deps: Projects, store: Store, publisher: RecordingPublisher, stages: tuple[Stage, ...], field: str
) -> None:
    olga = store.add_user("Olga")
    error = await refused_quietly(
        projects.create_project(deps, olga.id, replace(new_project(), stages=stages)),
        "validation_failed",
        store,
        publisher,
    )
    assert set(error.fields) == {field}


# ---- list ----


async def _three_projects(deps: Projects, store: Store) -> tuple[int, int, int, int]:
    olga, mads = store.add_user("Olga"), store.add_user("Mads")
    a = await projects.create_project(deps, olga.id, replace(new_project("Alpha"), consumer="Zeta Films"))
    b = await projects.create_project(
        deps, olga.id, replace(new_project("Bravo"), stages=(stage(StageName.BASIC_PLAN, FEB, 3, StageStatus.DONE),))
    )
    c = await projects.create_project(deps, mads.id, replace(new_project("Charlie 100%")))
    store.join(c.project.id, olga.id, Role.MANAGER)
    return olga.id, a.project.id, b.project.id, c.project.id


async def test_list_shows_only_the_callers_projects_with_role_owner_and_count(deps: Projects, store: Store) -> None:
    olga, a, b, c = await _three_projects(deps, store)
    found = await projects.list_projects(deps, olga, ProjectQuery(sort="name"))
    assert [(s.project.id, s.my_role, s.owner.nickname, s.member_count) for s in found] == [
        (a, Role.OWNER, "Olga", 1),
        (b, Role.OWNER, "Olga", 1),
        (c, Role.MANAGER, "Mads", 2),
    ]
    stranger = store.add_user("Sven")
    assert await projects.list_projects(deps, stranger.id, ProjectQuery()) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (ProjectQuery(q="zeta"), "a"),  # the consumer is searched too, case-insensitively
        (ProjectQuery(q="100%"), "c"),  # `%` is a character, not a wildcard
        (ProjectQuery(stage=StageName.STORYBOARD), "b"),
        (ProjectQuery(role=Role.MANAGER), "c"),
        (ProjectQuery(start=FEB + DAY, end=FEB + 2 * DAY), "b"),  # overlaps Bravo's first stage only
    ],
)
async def test_list_filters(deps: Projects, store: Store, query: ProjectQuery, expected: str) -> None:
    olga, a, b, c = await _three_projects(deps, store)
    found = await projects.list_projects(deps, olga, query)
    assert [s.project.id for s in found] == [{"a": a, "b": b, "c": c}[expected]]


async def test_list_pages_by_name_descending_with_a_cursor(deps: Projects, store: Store) -> None:
    olga, a, b, c = await _three_projects(deps, store)
    first = await projects.list_projects(deps, olga, ProjectQuery(sort="-name", limit=2))
    assert [s.project.id for s in first] == [c, b]
    last = first[-1].project
    rest = await projects.list_projects(deps, olga, ProjectQuery(sort="-name", limit=2, after=(last.name, last.id)))
    assert [s.project.id for s in rest] == [a]


async def test_list_refuses_a_range_that_ends_before_it_starts(deps: Projects, store: Store) -> None:
    olga = store.add_user("Olga")
    error = await refused(
        projects.list_projects(deps, olga.id, ProjectQuery(start=FEB, end=FEB - DAY)), "validation_failed"
    )
    assert set(error.fields) == {"to"}


# ---- read ----


@pytest.mark.parametrize(("who", "sees_invitations"), [("owner", True), ("manager", True), ("member", False)])
async def test_get_shows_invitations_to_editors_only(
    deps: Projects, team: Team, who: str, sees_invitations: bool
) -> None:
    detail = await projects.get_project(deps, team.by_role(who), team.project_id)
    assert [m.user_id for m in detail.members] == [team.owner, team.manager, team.member]
    assert (detail.invitations is not None) is sees_invitations


async def test_outsiders_learn_nothing_about_a_project(deps: Projects, team: Team) -> None:
    await refused(projects.get_project(deps, team.outsider, team.project_id), "not_found")
    await refused(projects.list_members(deps, team.outsider, team.project_id, None, 20), "not_found")
    await refused(projects.member_role(deps, team.outsider, team.project_id), "not_found")
    await refused(projects.metadata(deps, team.outsider, team.project_id), "not_found")
    await refused(projects.get_project(deps, team.owner, 999_999), "not_found")


async def test_member_role(deps: Projects, team: Team) -> None:
    assert await projects.member_role(deps, team.manager, team.project_id) is Role.MANAGER


async def test_metadata_describes_the_current_stage_when_there_is_no_description(deps: Projects, team: Team) -> None:
    meta = await projects.metadata(deps, team.member, team.project_id)
    assert (meta["title"], meta["description"], meta["image_url"]) == ("Launch film", "Launch film: basic plan", None)
    await projects.update_project(deps, team.owner, UpdateProject(team.project_id, description="x" * 400))
    meta = await projects.metadata(deps, team.member, team.project_id)
    assert meta["description"] == "x" * 300


def test_parse_stage() -> None:
    assert projects.parse_stage("video_edit") is StageName.VIDEO_EDIT
    with pytest.raises(errors.NotFound):
        projects.parse_stage("editing")


# ---- update ----


@pytest.mark.parametrize(
    ("who", "code"), [("owner", None), ("manager", None), ("member", "permission_denied"), ("outsider", "not_found")]
)
async def test_update_permissions(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    call = projects.update_project(deps, team.by_role(who), UpdateProject(team.project_id, name="  Renamed  "))
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    detail = await call
    assert detail.project.name == store.projects[team.project_id].name == "Renamed"
    updated = publisher.event(PROJECT_UPDATED)
    assert isinstance(updated.event, StoredEvent)
    assert updated.event.data == {"project_id": team.project_id, "changes": {"name": "Renamed"}}
    assert updated.event.actor_id == team.by_role(who)
    assert set(updated.audience.users) == team.members
    assert updated.audience.leaving == ()


async def test_update_sends_enum_values_and_only_what_changed(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    cmd = UpdateProject(team.project_id, name="Launch film", status=ProjectStatus.REVIEW, color="#ffffff")
    detail = await projects.update_project(deps, team.owner, cmd)
    assert (detail.project.status, detail.project.color) == (ProjectStatus.REVIEW, "#ffffff")
    updated = publisher.event(PROJECT_UPDATED).event
    assert isinstance(updated, StoredEvent)
    assert updated.data["changes"] == {"status": "review", "color": "#ffffff"}


async def test_update_without_a_change_records_nothing(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    before = store.projects[team.project_id]
    detail = await projects.update_project(deps, team.owner, UpdateProject(team.project_id, name="Launch film"))
    assert detail.project == before == store.projects[team.project_id]
    assert publisher.committed == []


@pytest.mark.parametrize("name", ["   ", "x" * (projects.NAME_MAX + 1)])
async def test_update_refuses_a_bad_name(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, name: str
) -> None:
    call = projects.update_project(deps, team.owner, UpdateProject(team.project_id, name=name))
    error = await refused_quietly(call, "validation_failed", store, publisher)
    assert set(error.fields) == {"name"}


# ---- stages ----


async def test_finishing_the_current_stage_moves_the_project_on(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    done = stage(StageName.BASIC_PLAN, FEB, 2, StageStatus.DONE)
    detail = await projects.set_stage(deps, team.manager, team.project_id, done)
    assert detail.project.current_stage is StageName.STORYBOARD
    assert store.projects[team.project_id].stages[0] == done
    changed = publisher.event(STAGE_CHANGED)
    assert isinstance(changed.event, StoredEvent)
    assert changed.event.data == {
        "stage": "basic_plan",
        "start_at": "2026-02-01T00:00:00Z",
        "end_at": "2026-02-03T00:00:00Z",
        "status": "done",
        "project_id": team.project_id,
        "current_stage": "storyboard",
    }
    assert set(changed.audience.users) == team.members


async def test_the_last_stage_stays_current_once_all_are_done(deps: Projects, team: Team) -> None:
    for name in STAGE_ORDER:
        detail = await projects.set_stage(deps, team.owner, team.project_id, stage(name, status=StageStatus.DONE))
    assert detail.project.current_stage is StageName.VIDEO_DELIVERY
    detail = await projects.set_stage(deps, team.owner, team.project_id, stage(StageName.FILMING))
    assert detail.project.current_stage is StageName.FILMING


async def test_scheduling_a_later_stage_keeps_the_current_one(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    detail = await projects.set_stage(deps, team.owner, team.project_id, stage(StageName.FILMING, FEB, 3))
    assert detail.project.current_stage is StageName.BASIC_PLAN
    assert publisher.types() == [STAGE_CHANGED]


@pytest.mark.parametrize(
    ("who", "stage", "code"),
    [
        ("member", stage(StageName.FILMING, FEB), "permission_denied"),
        ("outsider", stage(StageName.FILMING, FEB), "not_found"),
        ("owner", Stage(StageName.FILMING, FEB, FEB - DAY, StageStatus.TODO), "validation_failed"),
    ],
)
async def test_set_stage_refusals(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, stage: Stage, code: str
) -> None:
    await refused_quietly(projects.set_stage(deps, team.by_role(who), team.project_id, stage), code, store, publisher)


# ---- delete ----


@pytest.mark.parametrize(
    ("who", "code"), [("manager", "permission_denied"), ("member", "permission_denied"), ("outsider", "not_found")]
)
async def test_only_the_owner_deletes(
    deps: Projects, store: Store, publisher: RecordingPublisher, blobs: FakeBlobs, team: Team, who: str, code: str
) -> None:
    await refused_quietly(projects.delete_project(deps, team.by_role(who), team.project_id), code, store, publisher)
    assert blobs.deleted_prefixes == []


async def test_delete_reaches_every_former_member_and_removes_everything(
    deps: Projects, store: Store, publisher: RecordingPublisher, blobs: FakeBlobs, team: Team
) -> None:
    blobs.keys = {f"projects/{team.project_id}/v1.mp4", "projects/999/v1.mp4"}
    await projects.delete_project(deps, team.owner, team.project_id)
    assert team.project_id not in store.projects
    assert store.thread_ids(team.project_id) == [] and store.member_ids(team.project_id) == []
    deleted = publisher.event(PROJECT_DELETED)
    assert isinstance(deleted.event, StoredEvent)
    assert deleted.event.data == {"project_id": team.project_id}
    assert set(deleted.audience.users) == set(deleted.audience.leaving) == team.members
    assert blobs.keys == {"projects/999/v1.mp4"}
    # The log keeps the event: it has no foreign key to the project.
    assert [e.type for e in store.events if e.project_id == team.project_id] == [FEEDBACK_CREATED, PROJECT_DELETED]


async def test_delete_survives_a_blob_store_failure(
    deps: Projects, store: Store, publisher: RecordingPublisher, blobs: FakeBlobs, team: Team
) -> None:
    blobs.fail = True
    await projects.delete_project(deps, team.owner, team.project_id)
    assert team.project_id not in store.projects
    assert publisher.types() == [PROJECT_DELETED]
