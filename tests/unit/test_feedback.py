"""Feedback thread rules: editors open, change and delete threads; members read them with their own read marker."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from roughcut.domain import feedback
from roughcut.domain.events import FEEDBACK_CREATED, FEEDBACK_DELETED, FEEDBACK_UPDATED, Committed, StoredEvent
from roughcut.domain.feedback_model import TITLE_MAX, FeedbackStatus, NewComment, UpdateThread
from roughcut.domain.projects import Projects
from tests.unit.fakes import RecordingPublisher, Store
from tests.unit.fakes.store import MessageRow
from tests.unit.support import Team, refused, refused_quietly

EDITOR_ROWS = [("owner", None), ("manager", None), ("member", "permission_denied"), ("outsider", "not_found")]


def _data(c: Committed) -> dict[str, Any]:
    assert isinstance(c.event, StoredEvent)
    return c.event.data


# ---- threads ----


@pytest.mark.parametrize(("who", "code"), EDITOR_ROWS)
async def test_create_thread_permissions(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    call = feedback.create_thread(deps, team.by_role(who), team.project_id, "  Cut 2  ", "Notes")
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    thread = await call
    assert (thread.project_id, thread.title, thread.description, thread.status) == (
        team.project_id,
        "Cut 2",
        "Notes",
        FeedbackStatus.OPEN,
    )
    created = publisher.event(FEEDBACK_CREATED)
    assert _data(created) == {"feedback_id": thread.id, "title": "Cut 2"}
    assert set(created.audience.users) == team.members


@pytest.mark.parametrize(
    ("title", "description", "field"),
    [(" ", "", "title"), ("x" * (TITLE_MAX + 1), "", "title"), ("Ok", "d" * 5001, "description")],
)
async def test_create_thread_validation(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, title: str, description: str, field: str
) -> None:
    error = await refused_quietly(
        feedback.create_thread(deps, team.owner, team.project_id, title, description),
        "validation_failed",
        store,
        publisher,
    )
    assert set(error.fields) == {field}


async def test_threads_page_by_id_with_the_viewers_read_marker(deps: Projects, store: Store, team: Team) -> None:
    second = await feedback.create_thread(deps, team.owner, team.project_id, "Second", "")
    third = await feedback.create_thread(deps, team.owner, team.project_id, "Third", "")
    store.threads[second.id] = replace(store.threads[second.id], last_seq=5)
    store.reads[(second.id, team.member)] = 3
    await feedback.add_comment(deps, team.member, NewComment(second.id, "one"))
    page = await feedback.list_threads(deps, team.member, team.project_id, None, 2)
    assert [t.id for t in page] == [team.thread_id, second.id]
    assert [(t.comment_count, t.last_message_seq, t.my_read_seq) for t in page] == [(0, 0, 0), (1, 5, 3)]
    rest = await feedback.list_threads(deps, team.manager, team.project_id, second.id, 2)
    assert [(t.id, t.my_read_seq) for t in rest] == [(third.id, 0)]
    assert (await feedback.get_thread(deps, team.manager, second.id)).my_read_seq == 0


async def test_get_thread_shows_versions_in_order(deps: Projects, store: Store, team: Team) -> None:
    store.add_version(team.thread_id, 2, 90_000)
    store.add_version(team.thread_id, 1, 60_000)
    thread = await feedback.get_thread(deps, team.member, team.thread_id)
    assert [(v.number, v.duration_ms) for v in thread.versions] == [(1, 60_000), (2, 90_000)]


async def test_outsiders_see_no_thread(deps: Projects, team: Team) -> None:
    await refused(feedback.get_thread(deps, team.outsider, team.thread_id), "not_found")
    await refused(feedback.list_threads(deps, team.outsider, team.project_id, None, 10), "not_found")
    await refused(feedback.list_comments(deps, team.outsider, team.thread_id, None, None, 10), "not_found")
    await refused(feedback.get_thread(deps, team.owner, 999_999), "not_found")


@pytest.mark.parametrize(("who", "code"), EDITOR_ROWS)
async def test_update_thread_permissions(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    call = feedback.update_thread(deps, team.by_role(who), UpdateThread(team.thread_id, status=FeedbackStatus.RESOLVED))
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    thread = await call
    assert thread.status is store.threads[team.thread_id].status is FeedbackStatus.RESOLVED
    updated = publisher.event(FEEDBACK_UPDATED)
    assert _data(updated) == {"feedback_id": team.thread_id, "changes": {"status": "resolved"}}
    assert set(updated.audience.users) == team.members


async def test_update_thread_records_only_real_changes(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    same = await feedback.update_thread(
        deps, team.owner, UpdateThread(team.thread_id, title=" Review ", description="")
    )
    assert same.title == "Review" and publisher.committed == []
    await feedback.update_thread(deps, team.owner, UpdateThread(team.thread_id, title="Review", description="New"))
    assert _data(publisher.event(FEEDBACK_UPDATED))["changes"] == {"description": "New"}


@pytest.mark.parametrize(("who", "code"), EDITOR_ROWS)
async def test_delete_thread_permissions_and_cascade(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "note"))
    store.messages[999] = MessageRow(
        999, team.thread_id, 1, team.member, "c1", "hi", store.threads[team.thread_id].created_at
    )
    publisher.clear()
    call = feedback.delete_thread(deps, team.by_role(who), team.thread_id)
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    await call
    assert team.thread_id not in store.threads
    assert comment.id not in store.comments and 999 not in store.messages
    deleted = publisher.event(FEEDBACK_DELETED)
    assert _data(deleted) == {"feedback_id": team.thread_id}
    assert set(deleted.audience.users) == team.members
