"""Chat entities: messages, the send command, room state, and the rows a storing transaction locks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from roughcut.domain.project_model import UserRef


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: int
    feedback_id: int
    seq: int
    author: UserRef | None
    client_id: str
    text: str
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        """The `message` payload of API.md."""
        author = {"id": self.author.id, "nickname": self.author.nickname} if self.author else None
        return {
            "feedback_id": self.feedback_id,
            "seq": self.seq,
            "id": self.id,
            "client_id": self.client_id,
            "author": author,
            "text": self.text,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class PostMessage:
    """The command: a member asks to send a message to a thread's room."""

    user_id: int
    feedback_id: int
    client_id: str
    text: str


RetryKey = tuple[int, int, str]  # (feedback_id, author_id, client_id): one stored message at most


@dataclass(frozen=True, slots=True)
class Sent:
    """The answer to a send: the stored message, and whether an earlier send had already stored it."""

    message: ChatMessage
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class LockedThread:
    """A thread row as the storing transaction locked it, with its members (id → nickname)."""

    last_seq: int
    members: Mapping[int, str]


@dataclass(frozen=True, slots=True)
class NewMessageRow:
    """A message the batch inserts."""

    feedback_id: int
    seq: int
    author_id: int
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class RoomState:
    project_id: int
    last_seq: int
    read_seq: int


@dataclass(frozen=True, slots=True)
class JoinResult:
    project_id: int
    last_seq: int
    read_seq: int
    missed: list[ChatMessage]
    truncated: bool
