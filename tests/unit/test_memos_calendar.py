"""Project memos (members read, editors write, members hear), personal memos, and the calendar that joins them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from roughcut.domain import memos, project_memos
from roughcut.domain.account_model import UpdateMemo
from roughcut.domain.accounts import Accounts
from roughcut.domain.calendar import MAX_RANGE_DAYS, calendar
from roughcut.domain.events import MEMO_CHANGED, StoredEvent
from roughcut.domain.memos import MEMO_MAX
from roughcut.domain.project_model import Role, Stage, StageName, StageStatus, UpdateProjectMemo
from roughcut.domain.projects import Projects, create_project, set_stage
from tests.unit.fakes import FakeClock, FakeTokens, FakeUow, Outbox, PlainHasher, RecordingPublisher, Store
from tests.unit.support import Team, new_project, refused, refused_quietly

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


@pytest.fixture
def acc(store: Store, clock: FakeClock, outbox: Outbox) -> Accounts:
    return Accounts(lambda: FakeUow(store), PlainHasher(), FakeTokens(), outbox, clock, b"pepper" * 8)


def _event_data(publisher: RecordingPublisher) -> dict[str, object]:
    (c,) = publisher.events(MEMO_CHANGED)
    assert isinstance(c.event, StoredEvent)
    return c.event.data


# ---- project memos ----


@pytest.mark.parametrize(
    ("who", "code"), [("owner", None), ("manager", None), ("member", "permission_denied"), ("outsider", "not_found")]
)
async def test_editors_write_project_memos_and_members_hear(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    call = project_memos.add_project_memo(deps, team.by_role(who), team.project_id, D2, "  Shoot day  ")
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    memo = await call
    assert (memo.memo, memo.date, memo.author and memo.author.id) == ("Shoot day", D2, team.by_role(who))
    assert _event_data(publisher) == {"memo_id": memo.id, "action": "created", "date": "2026-03-02"}
    (c,) = publisher.events(MEMO_CHANGED)
    assert set(c.audience.users) == team.members and team.outsider not in c.audience.users


@pytest.mark.parametrize("text", [" ", "x" * (MEMO_MAX + 1)])
async def test_project_memo_text_validation(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, text: str
) -> None:
    error = await refused_quietly(
        project_memos.add_project_memo(deps, team.owner, team.project_id, D1, text),
        "validation_failed",
        store,
        publisher,
    )
    assert set(error.fields) == {"memo"}


async def test_members_page_project_memos_by_date(deps: Projects, team: Team) -> None:
    ids = [
        (await project_memos.add_project_memo(deps, team.owner, team.project_id, day, text)).id
        for day, text in ((D3, "c"), (D1, "a"), (D2, "b1"), (D2, "b2"))
    ]
    page = await project_memos.list_project_memos(deps, team.member, team.project_id, None, None, None, 2)
    assert [m.memo for m in page] == ["a", "b1"]
    rest = await project_memos.list_project_memos(
        deps, team.member, team.project_id, None, None, (page[-1].date, page[-1].id), 10
    )
    assert [m.memo for m in rest] == ["b2", "c"]
    ranged = await project_memos.list_project_memos(deps, team.member, team.project_id, D2, D2, None, 10)
    assert [m.id for m in ranged] == ids[2:]
    await refused(
        project_memos.list_project_memos(deps, team.outsider, team.project_id, None, None, None, 10), "not_found"
    )
    error = await refused(
        project_memos.list_project_memos(deps, team.member, team.project_id, D2, D1, None, 10), "validation_failed"
    )
    assert set(error.fields) == {"to"}


async def test_update_project_memo_changes_what_was_given(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    memo = await project_memos.add_project_memo(deps, team.owner, team.project_id, D1, "Shoot")
    publisher.clear()
    moved = await project_memos.update_project_memo(
        deps, team.manager, UpdateProjectMemo(team.project_id, memo.id, date=D3)
    )
    assert (moved.date, moved.memo) == (D3, "Shoot")
    assert _event_data(publisher) == {"memo_id": memo.id, "action": "updated", "date": "2026-03-03"}
    publisher.clear()
    same = await project_memos.update_project_memo(deps, team.manager, UpdateProjectMemo(team.project_id, memo.id))
    assert same == moved and publisher.committed == []
    await refused_quietly(
        project_memos.update_project_memo(deps, team.member, UpdateProjectMemo(team.project_id, memo.id, memo="x")),
        "permission_denied",
        store,
        publisher,
    )


async def test_delete_project_memo_tells_its_date(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    memo = await project_memos.add_project_memo(deps, team.owner, team.project_id, D2, "Shoot")
    publisher.clear()
    await refused_quietly(
        project_memos.delete_project_memo(deps, team.member, team.project_id, memo.id),
        "permission_denied",
        store,
        publisher,
    )
    await project_memos.delete_project_memo(deps, team.manager, team.project_id, memo.id)
    assert memo.id not in store.project_memos
    assert _event_data(publisher) == {"memo_id": memo.id, "action": "deleted", "date": "2026-03-02"}


async def test_a_memo_of_another_project_is_not_found(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    other = await create_project(deps, team.owner, new_project("Other"))
    foreign = await project_memos.add_project_memo(deps, team.owner, other.project.id, D1, "elsewhere")
    publisher.clear()
    cmd = UpdateProjectMemo(team.project_id, foreign.id, memo="hijack")
    await refused_quietly(project_memos.update_project_memo(deps, team.owner, cmd), "not_found", store, publisher)
    await refused_quietly(
        project_memos.delete_project_memo(deps, team.owner, team.project_id, foreign.id), "not_found", store, publisher
    )


async def test_a_deleted_authors_memo_keeps_no_author(deps: Projects, store: Store, team: Team) -> None:
    await project_memos.add_project_memo(deps, team.manager, team.project_id, D1, "by Mads")
    store.drop_user(team.manager)
    (memo,) = await project_memos.list_project_memos(deps, team.member, team.project_id, None, None, None, 10)
    assert memo.author is None


# ---- personal memos ----


async def test_personal_memos_belong_to_their_owner(acc: Accounts, store: Store) -> None:
    ann, bob = store.add_user("Ann"), store.add_user("Bob")
    memo = await memos.add_memo(acc, ann.id, D1, " Call the client ")
    assert memo.memo == "Call the client"
    await refused(memos.update_memo(acc, bob.id, UpdateMemo(memo.id, memo="mine now")), "not_found")
    await refused(memos.delete_memo(acc, bob.id, memo.id), "not_found")
    assert await memos.list_memos(acc, bob.id, None, None, None, 10) == []
    updated = await memos.update_memo(acc, ann.id, UpdateMemo(memo.id, date=D2))
    assert (updated.date, updated.memo) == (D2, "Call the client")
    await memos.delete_memo(acc, ann.id, memo.id)
    assert store.memos == {}


# ---- calendar ----


def _at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.mark.parametrize(("start", "end"), [(D2, D1), (D1, D1 + timedelta(days=MAX_RANGE_DAYS))])
async def test_calendar_range_validation(deps: Projects, team: Team, start: date, end: date) -> None:
    error = await refused(calendar(deps, team.member, start, end), "validation_failed")
    assert set(error.fields) == {"to"}


async def test_calendar_accepts_the_longest_range(deps: Projects, team: Team) -> None:
    found = await calendar(deps, team.member, D1, D1 + timedelta(days=MAX_RANGE_DAYS - 1))
    assert found == {"stages": [], "memos": [], "personal_memos": []}


async def test_calendar_shows_the_callers_stages_and_memos_in_range(
    deps: Projects, acc: Accounts, store: Store, team: Team
) -> None:
    plan = Stage(StageName.BASIC_PLAN, _at(D1, 9), _at(D1, 17), StageStatus.TODO)  # inside
    shoot = Stage(
        StageName.FILMING, _at(D3, 23), _at(D3 + timedelta(days=2)), StageStatus.TODO
    )  # starts on the last day
    edit = Stage(
        StageName.VIDEO_EDIT, _at(D3 + timedelta(days=1)), _at(D3 + timedelta(days=3)), StageStatus.TODO
    )  # after
    for stage in (shoot, plan, edit):
        await set_stage(deps, team.owner, team.project_id, stage)
    hidden = await create_project(deps, team.outsider, new_project("Not mine"))
    await set_stage(deps, team.outsider, hidden.project.id, plan)
    await project_memos.add_project_memo(deps, team.owner, team.project_id, D2, "team memo")
    await project_memos.add_project_memo(deps, team.outsider, hidden.project.id, D2, "not for Mia")
    await memos.add_memo(acc, team.member, D3, "my memo")
    await memos.add_memo(acc, team.owner, D3, "Olga's memo")
    found = await calendar(deps, team.member, D1, D3)
    assert [(s.project_id, s.stage.stage) for s in found["stages"]] == [
        (team.project_id, StageName.BASIC_PLAN),
        (team.project_id, StageName.FILMING),
    ]
    assert [m.memo for m in found["memos"]] == ["team memo"]
    assert [m.memo for m in found["personal_memos"]] == ["my memo"]
    store.members.pop((team.project_id, team.member))
    assert (await calendar(deps, team.member, D1, D3))["stages"] == []


async def test_calendar_counts_a_stage_ending_on_the_first_day(deps: Projects, store: Store, team: Team) -> None:
    store.join(team.project_id, team.outsider, Role.MEMBER)
    stage = Stage(StageName.STORYBOARD, _at(D1 - timedelta(days=3)), _at(D1), StageStatus.TODO)
    await set_stage(deps, team.owner, team.project_id, stage)
    assert [s.stage for s in (await calendar(deps, team.outsider, D1, D1))["stages"]] == [stage]
    assert (await calendar(deps, team.outsider, D2, D2))["stages"] == []
