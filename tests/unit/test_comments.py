"""Comment rules: every member comments, authors own their comments, editors resolve, anonymity holds."""

from __future__ import annotations

from typing import Any

import pytest

from roughcut.domain import feedback
from roughcut.domain.events import (
    COMMENT_CREATED,
    COMMENT_DELETED,
    COMMENT_RESOLVED,
    COMMENT_UPDATED,
    Committed,
    StoredEvent,
)
from roughcut.domain.feedback_model import EditComment, NewComment, Shape, ShapeKind, comment_data
from roughcut.domain.projects import Projects
from tests.unit.fakes import FakeClock, RecordingPublisher, Store
from tests.unit.support import ROLES, Team, refused, refused_quietly

EDITOR_ROWS = [("owner", None), ("manager", None), ("member", "permission_denied"), ("outsider", "not_found")]
EVERY_MEMBER_ROWS = [("owner", None), ("manager", None), ("member", None), ("outsider", "not_found")]


def _data(c: Committed) -> dict[str, Any]:
    assert isinstance(c.event, StoredEvent)
    return c.event.data


def _actor(c: Committed) -> int | None:
    assert isinstance(c.event, StoredEvent)
    return c.event.actor_id


# ---- comments ----


@pytest.mark.parametrize(("who", "code"), EVERY_MEMBER_ROWS)
async def test_every_member_comments(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    user = team.by_role(who)
    call = feedback.add_comment(deps, user, NewComment(team.thread_id, "  Too dark at 0:12  ", at_ms=12_000))
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    comment = await call
    assert (comment.text, comment.at_ms, comment.author and comment.author.id) == ("Too dark at 0:12", 12_000, user)
    created = publisher.event(COMMENT_CREATED)
    data = _data(created)
    assert (data["feedback_id"], data["comment_id"], _actor(created)) == (team.thread_id, comment.id, user)
    assert data["comment"]["author"] == {"id": user, "nickname": store.users[user].nickname}
    assert data["comment"]["created_at"] == "2026-01-01T00:00:00Z"  # stored through JSON, like the log
    assert "mine" not in data["comment"]
    assert set(created.audience.users) == team.members


async def test_an_anonymous_comment_names_its_author_to_nobody_else(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "honest", anonymous=True))
    created = publisher.event(COMMENT_CREATED)
    assert _actor(created) is None
    assert "author" not in _data(created)["comment"]
    assert _data(created)["comment"]["anonymous"] is True
    (listed,) = await feedback.list_comments(deps, team.owner, team.thread_id, None, None, 10)
    assert comment_data(listed, team.owner)["author"] is None
    assert comment_data(listed, team.owner)["mine"] is False
    assert comment_data(listed, team.member)["author"] == {"id": team.member, "nickname": "Mia"}
    assert comment_data(listed, team.member)["mine"] is True
    # The author keeps the rights to their comment, and stays unnamed when using them.
    await feedback.edit_comment(deps, team.member, EditComment(comment.id, text="more honest"))
    assert _actor(publisher.event(COMMENT_UPDATED)) is None
    await feedback.delete_comment(deps, team.member, comment.id)
    assert _actor(publisher.event(COMMENT_DELETED)) is None


async def test_an_editor_resolving_an_anonymous_comment_is_named(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "hidden", anonymous=True))
    await feedback.resolve_comment(deps, team.manager, comment.id, True)
    assert _actor(publisher.event(COMMENT_RESOLVED)) == team.manager


async def test_an_anonymous_editor_resolving_their_own_comment_stays_unnamed(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    comment = await feedback.add_comment(deps, team.manager, NewComment(team.thread_id, "mine", anonymous=True))
    await feedback.resolve_comment(deps, team.manager, comment.id, True)
    assert _actor(publisher.event(COMMENT_RESOLVED)) is None


@pytest.mark.parametrize(
    ("at_ms", "until_ms", "field"),
    [(-1, None, "at_ms"), (None, 5, "until_ms"), (10, 5, "until_ms"), (0, -1, "until_ms")],
)
async def test_comment_position_validation(
    deps: Projects,
    store: Store,
    publisher: RecordingPublisher,
    team: Team,
    at_ms: int | None,
    until_ms: int | None,
    field: str,
) -> None:
    new = NewComment(team.thread_id, "x", at_ms=at_ms, until_ms=until_ms)
    error = await refused_quietly(feedback.add_comment(deps, team.member, new), "validation_failed", store, publisher)
    assert set(error.fields) == {field}


async def test_comment_text_must_not_be_blank(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    error = await refused_quietly(
        feedback.add_comment(deps, team.member, NewComment(team.thread_id, " \n ")),
        "validation_failed",
        store,
        publisher,
    )
    assert set(error.fields) == {"text"}


async def test_reply_and_version_must_belong_to_the_thread(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    other = await feedback.create_thread(deps, team.owner, team.project_id, "Other", "")
    foreign = await feedback.add_comment(deps, team.owner, NewComment(other.id, "there"))
    foreign_version = store.add_version(other.id, 1)
    publisher.clear()
    bad_parent = NewComment(team.thread_id, "reply", parent_id=foreign.id)
    error = await refused_quietly(
        feedback.add_comment(deps, team.member, bad_parent), "validation_failed", store, publisher
    )
    assert set(error.fields) == {"parent_id"}
    bad_version = NewComment(team.thread_id, "at v1", version_id=foreign_version)
    error = await refused_quietly(
        feedback.add_comment(deps, team.member, bad_version), "validation_failed", store, publisher
    )
    assert set(error.fields) == {"version_id"}


async def test_comments_page_in_video_order_with_unplaced_ones_last(
    deps: Projects, clock: FakeClock, team: Team
) -> None:
    ids = {}
    for text, at_ms in (("late", 9_000), ("none", None), ("early", 1_000), ("early too", 1_000)):
        ids[text] = (await feedback.add_comment(deps, team.member, NewComment(team.thread_id, text, at_ms=at_ms))).id
        clock.advance(seconds=1)
    first = await feedback.list_comments(deps, team.member, team.thread_id, None, None, 2)
    assert [c.text for c in first] == ["early", "early too"]
    last = first[-1]
    rest = await feedback.list_comments(
        deps, team.member, team.thread_id, None, (last.at_ms, last.created_at, last.id), 5
    )
    assert [c.text for c in rest] == ["late", "none"]


async def test_comments_of_one_version(deps: Projects, store: Store, team: Team) -> None:
    v1, v2 = store.add_version(team.thread_id, 1), store.add_version(team.thread_id, 2)
    await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "on v1", version_id=v1))
    await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "on v2", version_id=v2))
    found = await feedback.list_comments(deps, team.member, team.thread_id, v2, None, 10)
    assert [c.text for c in found] == ["on v2"]


@pytest.mark.parametrize("who", ROLES)
async def test_only_the_author_edits(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "draft", at_ms=1_000))
    publisher.clear()
    call = feedback.edit_comment(deps, team.by_role(who), EditComment(comment.id, text="final"))
    if who != "member":
        await refused_quietly(call, "not_found" if who == "outsider" else "permission_denied", store, publisher)
        return
    edited = await call
    assert edited.text == "final" and edited.at_ms == 1_000
    assert _data(publisher.event(COMMENT_UPDATED))["comment"]["text"] == "final"


async def test_edit_clears_a_position_and_a_drawing_given_as_null(
    deps: Projects, publisher: RecordingPublisher, team: Team
) -> None:
    arrow = Shape(ShapeKind.ARROW, ((0.1, 0.1), (0.5, 0.5)), "#ff0000", 2)
    new = NewComment(team.thread_id, "see", at_ms=1_000, until_ms=2_000, annotation=(arrow,))
    comment = await feedback.add_comment(deps, team.member, new)
    assert _data(publisher.event(COMMENT_CREATED))["comment"]["annotation"] == [arrow.as_dict()]
    edited = await feedback.edit_comment(
        deps, team.member, EditComment(comment.id, at_ms=None, until_ms=None, annotation=None)
    )
    assert (edited.at_ms, edited.until_ms, edited.annotation, edited.text) == (None, None, None, "see")


async def test_edit_checks_the_position_it_would_leave(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    comment = await feedback.add_comment(
        deps, team.member, NewComment(team.thread_id, "r", at_ms=5_000, until_ms=6_000)
    )
    publisher.clear()
    error = await refused_quietly(
        feedback.edit_comment(deps, team.member, EditComment(comment.id, at_ms=7_000)),
        "validation_failed",
        store,
        publisher,
    )
    assert set(error.fields) == {"until_ms"}


async def test_an_empty_edit_records_nothing(deps: Projects, publisher: RecordingPublisher, team: Team) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "same"))
    publisher.clear()
    assert await feedback.edit_comment(deps, team.member, EditComment(comment.id)) == comment
    assert publisher.committed == []


async def test_deleting_a_comment_takes_its_replies(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    root = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "root"))
    reply = await feedback.add_comment(deps, team.owner, NewComment(team.thread_id, "reply", parent_id=root.id))
    nested = await feedback.add_comment(deps, team.manager, NewComment(team.thread_id, "nested", parent_id=reply.id))
    keep = await feedback.add_comment(deps, team.owner, NewComment(team.thread_id, "other"))
    publisher.clear()
    await refused_quietly(feedback.delete_comment(deps, team.owner, root.id), "permission_denied", store, publisher)
    await feedback.delete_comment(deps, team.member, root.id)
    assert set(store.comments) == {keep.id}
    deleted = publisher.event(COMMENT_DELETED)
    assert _data(deleted) == {
        "feedback_id": team.thread_id,
        "comment_id": root.id,
        "deleted_ids": [root.id, reply.id, nested.id],
    }
    assert set(deleted.audience.users) == team.members


@pytest.mark.parametrize(("who", "code"), EDITOR_ROWS)
async def test_resolve_permissions(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, who: str, code: str | None
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "fix this"))
    publisher.clear()
    call = feedback.resolve_comment(deps, team.by_role(who), comment.id, True)
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        return
    resolved = await call
    assert resolved.resolved_at is not None
    assert store.comments[comment.id].resolved_by == team.by_role(who)
    event = publisher.event(COMMENT_RESOLVED)
    assert _data(event) == {
        "feedback_id": team.thread_id,
        "comment_id": comment.id,
        "resolved": True,
        "resolved_at": "2026-01-01T00:00:00Z",
    }
    assert set(event.audience.users) == team.members


async def test_reopening_clears_the_resolution_and_repeats_are_quiet(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    comment = await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "fix this"))
    await feedback.resolve_comment(deps, team.owner, comment.id, True)
    await feedback.resolve_comment(deps, team.owner, comment.id, True)
    reopened = await feedback.resolve_comment(deps, team.owner, comment.id, False)
    await feedback.resolve_comment(deps, team.owner, comment.id, False)
    assert reopened.resolved_at is None
    assert (store.comments[comment.id].resolved_at, store.comments[comment.id].resolved_by) == (None, None)
    resolutions = [_data(c)["resolved"] for c in publisher.events(COMMENT_RESOLVED)]
    assert resolutions == [True, False]
    assert _data(publisher.events(COMMENT_RESOLVED)[-1])["resolved_at"] is None


async def test_missing_comments_are_not_found(deps: Projects, team: Team) -> None:
    await refused(feedback.edit_comment(deps, team.owner, EditComment(999_999, text="x")), "not_found")
    await refused(feedback.delete_comment(deps, team.owner, 999_999), "not_found")
    await refused(feedback.resolve_comment(deps, team.owner, 999_999, True), "not_found")
    await refused(feedback.add_comment(deps, team.owner, NewComment(999_999, "x")), "not_found")


async def test_a_deleted_authors_comment_has_no_author(deps: Projects, store: Store, team: Team) -> None:
    await feedback.add_comment(deps, team.member, NewComment(team.thread_id, "bye"))
    store.drop_user(team.member)
    (comment,) = await feedback.list_comments(deps, team.owner, team.thread_id, None, None, 10)
    assert comment.author is None
    assert comment_data(comment, team.owner)["author"] is None
