"""No silent loss between nodes: what a failed broker publish lost, and the `resync` notice that recovers it.

Pub/sub keeps no backlog. When this node cannot publish a batch (Redis down), it keeps the rooms the
batch touched (`Lost`: chat threads, projects, ended sessions) instead of the batch, and once Redis
takes messages again it publishes one small notice; every other node then tells its sockets in those
rooms `resync {feedback_id}` / `resync {project_id}` and they re-join / re-subscribe from their last
seq / event id (API.md). A resync rather than a replay of the failed batches: a replay would reach the
other nodes after batches published since (out of order) and must keep whole payloads; a resync is
always correct, because the logs in PostgreSQL hold everything committed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from roughcut.realtime.dispatch import Dispatch, Emit
from roughcut.realtime.rooms import CHAT_NAMESPACE, PROJECTS_NAMESPACE

LOST_IDS_MAX = 10_000  # rooms kept while Redis is down; past it the notice says "resync everything"
# A notice is told apart from a batch by its first key (orjson keeps the insertion order).
NOTICE_PREFIX = b'{"resync":'
RESYNC = "resync"


def resync_payload(key: str) -> dict[str, Any]:
    """The JSON Schema of a namespace's `resync {key}` event, for the AsyncAPI document."""
    return {"type": "object", "required": [key], "properties": {key: {"type": "integer"}}}


@dataclass(slots=True)
class Lost:
    """Rooms whose batches did not reach the other nodes (bounded: past the bound, everything)."""

    chat: set[int] = field(default_factory=set)
    projects: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return bool(self.everything or self.chat or self.projects or self.sessions)

    def add(self, dispatch: Dispatch) -> None:
        """Keep what a dispatch touched: its chat threads, projects and ended sessions."""
        for step in dispatch.steps:
            if isinstance(step, Emit) and isinstance(step.payload, dict):
                if step.namespace == CHAT_NAMESPACE and "feedback_id" in step.payload:
                    self.chat.add(int(step.payload["feedback_id"]))
                elif step.namespace == PROJECTS_NAMESPACE and "project_id" in step.payload:
                    self.projects.add(int(step.payload["project_id"]))
        self.projects.update(dispatch.projects)
        self.sessions.update(dispatch.ended_sessions)
        self._bound()

    def merge(self, other: Lost) -> None:
        """Take back what a notice that failed to go out carried."""
        self.chat |= other.chat
        self.projects |= other.projects
        self.sessions |= other.sessions
        self.everything = self.everything or other.everything
        self._bound()

    def take(self) -> Lost:
        """Everything kept so far; this one starts empty."""
        taken = Lost(self.chat, self.projects, self.sessions, self.everything)
        self.chat, self.projects, self.sessions, self.everything = set(), set(), set(), False
        return taken

    def _bound(self) -> None:
        # Ended sessions are few and must reach every node (their sockets close), so they are kept.
        if len(self.chat) + len(self.projects) > LOST_IDS_MAX:
            self.everything = True
        if self.everything:
            self.chat.clear()
            self.projects.clear()


def encode_notice(node_id: str, lost: Lost) -> bytes:
    """The broker message that asks every other node to resync the lost rooms."""
    body = {
        "resync": {"chat": sorted(lost.chat), "projects": sorted(lost.projects), "everything": lost.everything},
        "sessions": sorted(lost.sessions),
        "node": node_id,
    }
    return orjson.dumps(body)


def is_notice(raw: bytes) -> bool:
    """Whether a broker message is a resync notice (not a batch)."""
    return raw.startswith(NOTICE_PREFIX)


def decode_notice(raw: bytes) -> tuple[str, Lost]:
    """The sending node's id and what it lost; ValueError (or KeyError/TypeError) when malformed."""
    body = orjson.loads(raw)
    resync = body["resync"]
    lost = Lost(
        {int(i) for i in resync["chat"]},
        {int(i) for i in resync["projects"]},
        {int(i) for i in body["sessions"]},
        bool(resync["everything"]),
    )
    return str(body["node"]), lost


def rooms_by_id(rooms: Iterable[str | None], kind: str, ids: Collection[int] | None) -> dict[int, list[str]]:
    """This node's `kind:ID:user:UID` rooms grouped by ID: those of `ids`, or all of them for None."""
    found: dict[int, list[str]] = {}
    for room in rooms:
        if not isinstance(room, str):
            continue  # python-socketio keeps every socket in the room None too (the broadcast room)
        head, _, rest = room.partition(":")
        first = rest.partition(":")[0]
        if head != kind or not first.isdigit():
            continue
        key = int(first)
        if ids is None or key in ids:
            found.setdefault(key, []).append(room)
    return found
