"""What a committed batch means for connected clients: a pure translation, no I/O and no queries.

`route(batch)` turns committed changes with their audiences (fixed by the storing transaction) into
ordered steps: emits to rooms, rooms that close after an emit (a member who left), sessions that
ended, and the projects whose SSE streams have news. The same `Dispatch` is applied on this node and,
encoded once, on every other node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from roughcut.domain.events import (
    UPLOAD_PROGRESS,
    USER_DELETED,
    Committed,
    MessagePosted,
    PresenceChanged,
    ReadMoved,
    StoredEvent,
    TypingChanged,
    UploadProgressed,
)
from roughcut.realtime.rooms import (
    CHAT_NAMESPACE,
    PRESENCE_NAMESPACE,
    PROJECTS_NAMESPACE,
    ROOT_NAMESPACE,
    chat_room,
    member_room,
    presence_room,
    session_room,
    watching_room,
)
from roughcut.wire.json import OPTIONS


@dataclass(frozen=True, slots=True)
class Emit:
    namespace: str
    event: str
    payload: Any
    rooms: list[str]
    skip: str | None = None  # a socket (sid) that does not hear it: the one it came from


@dataclass(frozen=True, slots=True)
class Close:
    namespace: str
    rooms: list[str]


Step = Emit | Close


@dataclass(slots=True)
class Dispatch:
    """Steps in commit order, then the ended sessions and the projects with news."""

    steps: list[Step] = field(default_factory=list)
    ended_sessions: list[int] = field(default_factory=list)
    projects: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps or self.ended_sessions or self.projects)


def _project_event(e: StoredEvent, c: Committed, out: Dispatch) -> None:
    assert e.project_id is not None
    pid = e.project_id
    if c.audience.users:
        out.steps.append(
            Emit(PROJECTS_NAMESPACE, "event", e.as_dict(), [member_room(pid, u) for u in c.audience.users])
        )
    if c.audience.leaving:
        # After the emit, so a member who left still learns why; then they lose the project's rooms.
        out.steps.append(Close(PROJECTS_NAMESPACE, [member_room(pid, u) for u in c.audience.leaving]))
        chat_rooms = [chat_room(fid, u) for u in c.audience.leaving for fid in c.audience.threads]
        if chat_rooms:
            out.steps.append(Close(CHAT_NAMESPACE, chat_rooms))
    if c.audience.closed_threads:
        rooms = [chat_room(fid, u) for fid in c.audience.closed_threads for u in c.audience.users]
        out.steps.append(Close(CHAT_NAMESPACE, rooms))
    if pid not in out.projects:
        out.projects.append(pid)


def _sessions_ended(e: StoredEvent, c: Committed, out: Dispatch) -> None:
    reason = "account_deleted" if e.type == USER_DELETED else str(e.data.get("reason", "revoked"))
    for session_id in c.audience.sessions:
        payload = {"session_id": session_id, "reason": reason}
        out.steps.append(Emit(ROOT_NAMESPACE, "session_revoked", payload, [session_room(session_id)]))
        out.ended_sessions.append(session_id)


def route(batch: Sequence[Committed]) -> Dispatch:
    """The steps that deliver a committed batch, in commit (and, for chat, seq) order."""
    out = Dispatch()
    for c in batch:
        event = c.event
        if isinstance(event, MessagePosted):
            m = event.message
            rooms = [chat_room(m.feedback_id, u) for u in c.audience.users]
            if rooms:
                out.steps.append(Emit(CHAT_NAMESPACE, "message", m.wire(), rooms))
            continue
        if isinstance(event, TypingChanged):
            rooms = [chat_room(event.feedback_id, u) for u in c.audience.users]
            notice = {"feedback_id": event.feedback_id, "user_id": event.user_id, "typing": event.typing}
            if rooms:
                out.steps.append(Emit(CHAT_NAMESPACE, "typing", notice, rooms, event.origin))
            continue
        if isinstance(event, ReadMoved):
            rooms = [chat_room(event.feedback_id, u) for u in c.audience.users]
            payload = {"feedback_id": event.feedback_id, "user_id": event.user_id, "seq": event.seq}
            if rooms:
                out.steps.append(Emit(CHAT_NAMESPACE, "read", payload, rooms))
            continue
        if isinstance(event, PresenceChanged):
            fid = event.feedback_id
            if fid is None:
                rooms = [presence_room(event.project_id, u) for u in c.audience.users]
            else:
                rooms = [watching_room(fid, u) for u in c.audience.users]
            change: dict[str, Any] = {"project_id": event.project_id, "user_id": event.user_id}
            if fid is not None:
                change["feedback_id"] = fid
            change.update(status=event.status, at=event.at)
            if rooms:
                out.steps.append(Emit(PRESENCE_NAMESPACE, "presence", change, rooms))
            continue
        if isinstance(event, UploadProgressed):
            # Its own event name on /projects: live only, it has no log id to be ordered by.
            rooms = [member_room(event.project_id, u) for u in c.audience.users]
            progress: dict[str, Any] = {"project_id": event.project_id, "upload_id": event.upload_id}
            progress.update(user_id=event.user_id, bytes=event.bytes, size=event.size, at=event.at)
            if rooms:
                out.steps.append(Emit(PROJECTS_NAMESPACE, UPLOAD_PROGRESS, progress, rooms))
            continue
        if event.project_id is not None:
            _project_event(event, c, out)
        if c.audience.sessions:
            _sessions_ended(event, c, out)
    return out


def encode(node_id: str, dispatch: Dispatch) -> bytes:
    """One broker message for the other nodes."""
    steps = [
        ["e", s.namespace, s.event, s.payload, s.rooms, s.skip] if isinstance(s, Emit) else ["c", s.namespace, s.rooms]
        for s in dispatch.steps
    ]
    body = {"node": node_id, "steps": steps, "sessions": dispatch.ended_sessions, "projects": dispatch.projects}
    return orjson.dumps(body, option=OPTIONS)


def decode(raw: bytes) -> tuple[str, Dispatch]:
    """The sending node's id and its dispatch; ValueError (or KeyError/TypeError) when malformed."""
    body = orjson.loads(raw)
    steps: list[Step] = []
    for s in body["steps"]:
        if s[0] == "e":
            steps.append(Emit(str(s[1]), str(s[2]), s[3], [str(r) for r in s[4]], None if s[5] is None else str(s[5])))
        elif s[0] == "c":
            steps.append(Close(str(s[1]), [str(r) for r in s[2]]))
        else:
            raise ValueError(f"unknown step {s[0]!r}")
    sessions = [int(i) for i in body["sessions"]]
    projects = [int(i) for i in body["projects"]]
    return str(body["node"]), Dispatch(steps, sessions, projects)
