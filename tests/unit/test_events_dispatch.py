"""Who a committed change reaches (`audience_of`), and the pure translation of committed batches into room steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from roughcut.domain.chat_model import ChatMessage
from roughcut.domain.events import (
    MEMBER_LEFT,
    SESSION_REVOKED,
    STAGE_CHANGED,
    USER_DELETED,
    Audience,
    Committed,
    DomainEvent,
    MessagePosted,
    ReadMoved,
    StoredEvent,
    audience_of,
)
from roughcut.domain.project_model import UserRef
from roughcut.realtime.dispatch import Close, Dispatch, Emit, decode, encode, route
from roughcut.realtime.rooms import CHAT_NAMESPACE, PROJECTS_NAMESPACE, ROOT_NAMESPACE
from roughcut.wire.json import OPTIONS

AT = datetime(2026, 1, 1, 12, tzinfo=UTC)
MEMBERS = {7: [1, 2, 3]}
THREADS = {7: [70, 71]}


# ---- audience_of ----


def test_a_project_event_reaches_the_current_members_only() -> None:
    event = DomainEvent(STAGE_CHANGED, project_id=7, actor_id=1)
    assert audience_of(event, MEMBERS, THREADS) == Audience(users=(1, 2, 3))


def test_a_leaving_member_hears_it_once_and_loses_the_chat_rooms() -> None:
    event = DomainEvent(MEMBER_LEFT, project_id=7, leaving=(4,))
    assert audience_of(event, MEMBERS, THREADS) == Audience(users=(1, 2, 3, 4), leaving=(4,), threads=(70, 71))
    still_listed = DomainEvent(MEMBER_LEFT, project_id=7, leaving=(3,))
    assert audience_of(still_listed, MEMBERS, THREADS).users == (1, 2, 3)


def test_a_deleted_project_reaches_its_former_members() -> None:
    event = DomainEvent("project.deleted", project_id=7, leaving=(1, 2, 3))
    assert audience_of(event, {}, {}) == Audience(users=(1, 2, 3), leaving=(1, 2, 3))


def test_a_deleted_projects_threads_close_for_everyone_it_reaches() -> None:
    event = DomainEvent("project.deleted", project_id=7, leaving=(1, 2), closes_threads=(70, 71))
    audience = audience_of(event, {}, {})
    assert audience == Audience(users=(1, 2), leaving=(1, 2), closed_threads=(70, 71))
    stored = StoredEvent(5, "project.deleted", {"project_id": 7}, 7, 1, AT)
    closes = [s for s in route([Committed(stored, audience)]).steps if isinstance(s, Close)]
    assert Close(CHAT_NAMESPACE, ["chat:70:user:1", "chat:70:user:2", "chat:71:user:1", "chat:71:user:2"]) in closes


def test_an_event_without_a_project_reaches_only_its_ended_sessions() -> None:
    event = DomainEvent(USER_DELETED, {"user_id": 1}, actor_id=1, ended_sessions=(11, 12))
    assert audience_of(event, MEMBERS, THREADS) == Audience(sessions=(11, 12))
    assert audience_of(DomainEvent(SESSION_REVOKED), MEMBERS, THREADS) == Audience()


# ---- route ----


def _stored(event_id: int, kind: str, project_id: int | None, data: dict[str, Any] | None = None) -> StoredEvent:
    return StoredEvent(event_id, kind, data or {}, project_id, 1, AT)


def _message(seq: int) -> ChatMessage:
    return ChatMessage(900 + seq, 70, seq, UserRef(1, "Ann"), f"c{seq}", "hi", AT)


def test_route_emits_project_events_to_member_rooms_and_notes_the_project_once() -> None:
    a, b = _stored(1, STAGE_CHANGED, 7), _stored(2, STAGE_CHANGED, 7)
    out = route([Committed(a, Audience(users=(1, 2))), Committed(b, Audience(users=(1,)))])
    assert out.steps == [
        Emit(PROJECTS_NAMESPACE, "event", a.as_dict(), ["project:7:user:1", "project:7:user:2"]),
        Emit(PROJECTS_NAMESPACE, "event", b.as_dict(), ["project:7:user:1"]),
    ]
    assert (out.projects, out.ended_sessions) == ([7], [])


def test_route_closes_a_leaving_members_rooms_after_telling_them() -> None:
    left = _stored(3, MEMBER_LEFT, 7, {"user_id": 4})
    out = route([Committed(left, Audience(users=(1, 4), leaving=(4,), threads=(70, 71)))])
    assert out.steps == [
        Emit(PROJECTS_NAMESPACE, "event", left.as_dict(), ["project:7:user:1", "project:7:user:4"]),
        Close(PROJECTS_NAMESPACE, ["project:7:user:4"]),
        Close(CHAT_NAMESPACE, ["chat:70:user:4", "chat:71:user:4"]),
    ]


def test_route_closes_no_chat_rooms_when_the_project_has_none() -> None:
    left = _stored(3, MEMBER_LEFT, 7)
    out = route([Committed(left, Audience(users=(4,), leaving=(4,)))])
    assert [type(s) for s in out.steps] == [Emit, Close]


def test_route_sends_chat_messages_and_read_markers_to_chat_rooms_in_order() -> None:
    batch = [
        Committed(MessagePosted(_message(1)), Audience(users=(1, 2))),
        Committed(ReadMoved(70, 2, 1), Audience(users=(1, 2))),
        Committed(MessagePosted(_message(2)), Audience()),  # nobody to reach: no step
    ]
    out = route(batch)
    assert out.steps == [
        Emit(CHAT_NAMESPACE, "message", _message(1).wire(), ["chat:70:user:1", "chat:70:user:2"]),
        Emit(CHAT_NAMESPACE, "read", {"feedback_id": 70, "user_id": 2, "seq": 1}, ["chat:70:user:1", "chat:70:user:2"]),
    ]
    assert out.projects == []  # chat wakes no event stream


@pytest.mark.parametrize(
    ("kind", "data", "reason"),
    [
        (SESSION_REVOKED, {"reason": "refresh_token_reused"}, "refresh_token_reused"),
        (USER_DELETED, {}, "account_deleted"),
    ],
)
def test_route_ends_sessions_with_a_reason(kind: str, data: dict[str, Any], reason: str) -> None:
    out = route([Committed(_stored(5, kind, None, data), Audience(sessions=(11, 12)))])
    assert out.steps == [
        Emit(ROOT_NAMESPACE, "session_revoked", {"session_id": 11, "reason": reason}, ["session:11"]),
        Emit(ROOT_NAMESPACE, "session_revoked", {"session_id": 12, "reason": reason}, ["session:12"]),
    ]
    assert (out.ended_sessions, out.projects) == ([11, 12], [])


def test_an_empty_dispatch_is_false() -> None:
    assert not route([Committed(_stored(1, STAGE_CHANGED, None), Audience())])
    assert route([Committed(_stored(1, STAGE_CHANGED, 7), Audience())])  # no one live, but the SSE streams wake


# ---- encode / decode ----


def test_encode_decode_round_trip() -> None:
    left = _stored(3, MEMBER_LEFT, 7, {"user_id": 4})
    dispatch = route(
        [
            Committed(left, Audience(users=(1, 4), leaving=(4,), threads=(70,))),
            Committed(MessagePosted(_message(1)), Audience(users=(1,))),
            Committed(_stored(4, SESSION_REVOKED, None), Audience(sessions=(11,))),
        ]
    )
    node, back = decode(encode("node-a", dispatch))
    as_json = orjson.loads(orjson.dumps([s.payload for s in dispatch.steps if isinstance(s, Emit)], option=OPTIONS))
    assert node == "node-a"
    assert [s.payload for s in back.steps if isinstance(s, Emit)] == as_json
    assert [(type(s), s.namespace, s.rooms) for s in back.steps] == [
        (type(s), s.namespace, s.rooms) for s in dispatch.steps
    ]
    assert (back.ended_sessions, back.projects) == ([11], [7])
    assert as_json[0]["at"] == "2026-01-01T12:00:00Z"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"node": "n", "steps": [["x", "/chat", []]], "sessions": [], "projects": []}',
        b'{"node": "n", "steps": []}',
        b'{"node": "n", "steps": [["e", "/chat"]], "sessions": [], "projects": []}',
        b'{"node": "n", "steps": [5], "sessions": [], "projects": []}',
        b'{"node": "n", "steps": [], "sessions": ["x"], "projects": []}',
        b"[]",
    ],
)
def test_decode_refuses_a_malformed_message(raw: bytes) -> None:
    # Publisher.receive drops a message that fails with one of these, and only these.
    with pytest.raises((ValueError, KeyError, IndexError, TypeError)):
        decode(raw)


def test_decode_keeps_an_empty_dispatch_empty() -> None:
    node, back = decode(encode("n", Dispatch()))
    assert node == "n" and not back
