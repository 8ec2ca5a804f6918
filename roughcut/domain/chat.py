"""Chat use cases: one room per feedback thread, messages stored with a gap-free `seq` before anyone sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from roughcut.domain import errors
from roughcut.domain.ports import Clock
from roughcut.domain.project_model import UserRef

TEXT_MAX = 4000
REPLAY_MAX = 200  # `join` returns at most this many missed messages; past it the client pages the history
HISTORY_MAX = 200


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
class Outgoing:
    """A message a member asked to send."""

    user_id: int
    feedback_id: int
    client_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """A stored message and the members to deliver it to (as of the storing transaction)."""

    message: ChatMessage
    recipients: tuple[int, ...]
    duplicate: bool = False


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


class ChatWriter(Protocol):
    async def send(self, item: Outgoing) -> Delivery: ...


class ChatStore(Protocol):
    async def room(self, feedback_id: int, user_id: int) -> RoomState | None: ...
    async def members(self, feedback_id: int) -> tuple[int, ...]: ...
    async def after(self, feedback_id: int, after_seq: int, limit: int) -> list[ChatMessage]: ...
    async def before(self, feedback_id: int, before_seq: int | None, limit: int) -> list[ChatMessage]: ...
    async def mark_read(self, feedback_id: int, user_id: int, seq: int, now: datetime) -> int: ...


@dataclass(frozen=True, slots=True)
class Chat:
    """The ports the chat use cases work with."""

    writer: ChatWriter
    store: ChatStore
    clock: Clock


async def _room(chat: Chat, user_id: int, feedback_id: int) -> RoomState:
    state = await chat.store.room(feedback_id, user_id)
    if state is None:
        raise errors.NotFound("No such feedback thread.")
    return state


async def join(chat: Chat, user_id: int, feedback_id: int, after_seq: int | None) -> JoinResult:
    """Check membership and return the room's state and every message after `after_seq` (bounded)."""
    state = await _room(chat, user_id, feedback_id)
    missed: list[ChatMessage] = []
    if after_seq is not None and after_seq < state.last_seq:
        missed = await chat.store.after(feedback_id, after_seq, REPLAY_MAX + 1)
    truncated = len(missed) > REPLAY_MAX
    return JoinResult(state.project_id, state.last_seq, state.read_seq, missed[:REPLAY_MAX], truncated)


def check_text(text: str) -> str:
    """Chat text: 1 to TEXT_MAX characters, not only white space."""
    if not text.strip() or len(text) > TEXT_MAX:
        raise errors.ValidationFailed(fields={"text": [f"Use 1 to {TEXT_MAX} characters."]})
    return text


async def send(chat: Chat, user_id: int, feedback_id: int, client_id: str, text: str) -> Delivery:
    """Store a message (a repeated client_id returns the first one); members only."""
    return await chat.writer.send(Outgoing(user_id, feedback_id, client_id, check_text(text)))


async def mark_read(chat: Chat, user_id: int, feedback_id: int, seq: int) -> tuple[int, tuple[int, ...]]:
    """Move the caller's read marker forward (never back); returns it and whom to tell."""
    state = await _room(chat, user_id, feedback_id)
    if seq > state.last_seq:
        raise errors.ValidationFailed(fields={"seq": [f"The room's last seq is {state.last_seq}."]})
    stored = await chat.store.mark_read(feedback_id, user_id, seq, chat.clock.now())
    return stored, await chat.store.members(feedback_id)


async def typing_audience(chat: Chat, user_id: int, feedback_id: int) -> tuple[int, ...]:
    """Whom a member's typing notice goes to; non-members get not_found."""
    await _room(chat, user_id, feedback_id)
    return await chat.store.members(feedback_id)


async def history(
    chat: Chat, user_id: int, feedback_id: int, before_seq: int | None, after_seq: int | None, limit: int
) -> list[ChatMessage]:
    """A page of the room's messages in seq order: after `after_seq`, or before `before_seq`, or the latest."""
    await _room(chat, user_id, feedback_id)
    limit = min(limit, HISTORY_MAX)
    if after_seq is not None:
        return await chat.store.after(feedback_id, after_seq, limit)
    return await chat.store.before(feedback_id, before_seq, limit)
