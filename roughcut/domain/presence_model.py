"""Presence values: a status, one live connection's entry, and what a sweep found in one project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    """A user's presence in a project; across their connections the highest rank wins."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Connection:
    """One socket's presence on one node: who, where, its status and since when (epoch milliseconds)."""

    user_id: int
    node: str
    sid: str
    status: Status
    at_ms: int


@dataclass(frozen=True, slots=True)
class OnlineUser:
    user_id: int
    nickname: str
    status: Status
    since: datetime

    def wire(self) -> dict[str, object]:
        """The shape of the subscribe ack and the REST answer."""
        return {"user_id": self.user_id, "nickname": self.nickname, "status": str(self.status), "since": self.since}


@dataclass(frozen=True, slots=True)
class Swept:
    """One project after a sweep: the entries it removed (dead nodes, expired) and the live ones left."""

    project_id: int
    removed: tuple[Connection, ...]
    kept: tuple[Connection, ...]
