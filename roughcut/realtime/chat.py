"""`/chat`: one room per feedback thread; join with replay, send (stored first), typing, read markers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from marshmallow import Schema, fields, validate

from roughcut.domain import chat, errors
from roughcut.domain.chat_model import PostMessage
from roughcut.domain.ports import TokenIssuer
from roughcut.realtime.base import AUTH_EXPIRED, AuthNamespace, Payload, RealtimeDeps
from roughcut.realtime.budget import SocketBudget
from roughcut.realtime.envelope import event
from roughcut.realtime.ordering import SeqOrder
from roughcut.realtime.recovery import resync_payload
from roughcut.realtime.rooms import CHAT_NAMESPACE, chat_room
from roughcut.wire.fields import Bool, Id, Text
from roughcut.wire.schemas import MessageSchema

log = logging.getLogger(__name__)


class JoinSchema(Schema):
    feedback_id = Id(required=True)
    after_seq = Id(cursor=True)


class LeaveSchema(Schema):
    feedback_id = Id(required=True)


class SendSchema(Schema):
    feedback_id = Id(required=True)
    client_id = fields.UUID(required=True)
    text = Text(multiline=True, required=True, validate=validate.Length(1, chat.TEXT_MAX))


class TypingSchema(Schema):
    feedback_id = Id(required=True)
    typing = Bool(required=True)


class ReadSchema(Schema):
    feedback_id = Id(required=True)
    seq = Id(cursor=True, required=True)


TYPING: dict[str, Any] = {
    "type": "object",
    "properties": {"feedback_id": {"type": "integer"}, "user_id": {"type": "integer"}, "typing": {"type": "boolean"}},
}
READ: dict[str, Any] = {
    "type": "object",
    "properties": {"feedback_id": {"type": "integer"}, "user_id": {"type": "integer"}, "seq": {"type": "integer"}},
}


class ChatNamespace(AuthNamespace):
    """Members join a thread's room; every event answers through the one ack envelope."""

    path = CHAT_NAMESPACE
    emits: ClassVar[Mapping[str, Payload]] = {
        "message": MessageSchema,
        "typing": TYPING,
        "read": READ,
        "resync": resync_payload("feedback_id"),
        "auth_expired": AUTH_EXPIRED,
    }

    @classmethod
    def build(cls, deps: RealtimeDeps) -> Self:
        """The namespace of this node."""
        budget = SocketBudget(deps.chat_send_burst, deps.chat_send_rate)
        return cls(deps.tokens, deps.chat, budget, deps.chat_typing_ttl, deps.chat_order)

    def __init__(
        self,
        tokens: TokenIssuer,
        deps: chat.Chat,
        budget: SocketBudget,
        typing_ttl: float,
        order: SeqOrder | None = None,
    ) -> None:
        super().__init__(tokens)
        self.deps = deps
        self.order = order
        self.budget = budget
        self.typing_ttl = typing_ttl  # a typing notice without a stop expires by itself after this long
        self._typing: dict[tuple[str, int], asyncio.TimerHandle] = {}

    @event(JoinSchema)
    async def on_join(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Enter the room, then read what was missed: nothing committed in between is lost."""
        user_id, _ = await self.caller(sid)
        fid = data["feedback_id"]
        room = chat_room(fid, user_id)
        await self.enter_room(sid, room)
        try:
            joined = await chat.join(self.deps, user_id, fid, data.get("after_seq"))
        except errors.DomainError:
            await self.leave_room(sid, room)
            raise
        if self.order is not None:
            # What this socket read: live messages go on from here, in seq order (realtime/ordering.py).
            self.order.joined(fid, joined.last_seq)
        return {
            "feedback_id": fid,
            "last_seq": joined.last_seq,
            "read_seq": joined.read_seq,
            "missed": [m.wire() for m in joined.missed],
            "truncated": joined.truncated,
        }

    @event(LeaveSchema)
    async def on_leave(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stop receiving the thread's messages."""
        user_id, _ = await self.caller(sid)
        await self._stop_typing(sid, user_id, data["feedback_id"])
        await self.leave_room(sid, chat_room(data["feedback_id"], user_id))
        return {}

    @event(SendSchema)
    async def on_send(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store the message (idempotent per client_id), then answer with the stored message."""
        user_id, _ = await self.caller(sid)
        wait = self.budget.take(sid)
        if wait:
            raise errors.RateLimited(max(1, round(wait + 0.5)), "Sending too fast.")
        post = PostMessage(user_id, data["feedback_id"], str(data["client_id"]), data["text"])
        sent = await chat.send(self.deps, post)
        return {"message": sent.message.wire(), "duplicate": sent.duplicate}

    @event(TypingSchema)
    async def on_typing(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Tell the room; a start without a stop expires after `typing_ttl` seconds."""
        user_id, _ = await self.caller(sid)
        fid = data["feedback_id"]
        if not data["typing"]:
            await self._stop_typing(sid, user_id, fid)
            return {}
        await chat.start_typing(self.deps, user_id, fid, sid)
        if not self.alive(sid):  # gone meanwhile: a timer now would outlive the socket, so stop at once
            await chat.stop_typing(self.deps, user_id, fid, sid)
            return {}
        old = self._typing.pop((sid, fid), None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._typing[(sid, fid)] = loop.call_later(
            self.typing_ttl, lambda: loop.create_task(self._stop_typing(sid, user_id, fid))
        )
        return {}

    async def _stop_typing(self, sid: str, user_id: int, fid: int) -> None:
        handle = self._typing.pop((sid, fid), None)
        if handle is None:
            return
        handle.cancel()
        try:
            await chat.stop_typing(self.deps, user_id, fid, sid)
        except Exception:
            log.exception("typing stop failed", extra={"feedback_id": fid})

    @event(ReadSchema)
    async def on_read(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store the caller's read marker (it only moves forward); the room hears of it after commit."""
        user_id, _ = await self.caller(sid)
        fid = data["feedback_id"]
        return {"read_seq": await chat.mark_read(self.deps, user_id, fid, data["seq"])}

    async def disconnected(self, sid: str) -> None:
        """Drop the socket's budget and end its typing notices."""
        self.budget.forget(sid)
        session = await self.get_session(sid) if self._typing else None
        for tsid, fid in [k for k in self._typing if k[0] == sid]:
            if session is not None:
                await self._stop_typing(tsid, int(session["user_id"]), fid)
