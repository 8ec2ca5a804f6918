"""The base namespace: access token checked at connect, `reauth`, disconnect when the token runs out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import socketio
from marshmallow import Schema, fields, validate

from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.domain.chat import Chat
from roughcut.domain.ports import TokenIssuer
from roughcut.domain.projects import Projects
from roughcut.realtime.envelope import event
from roughcut.realtime.rooms import session_room, user_room

log = logging.getLogger("roughcut.realtime")


class ReauthSchema(Schema):
    token = fields.Str(required=True, validate=validate.Length(1, 4096))


# A server-to-client event's payload: a marshmallow schema, or a JSON Schema written out.
Payload = type[Schema] | dict[str, Any]

AUTH_EXPIRED: dict[str, Any] = {"type": "object", "properties": {"code": {"const": "token_expired"}}}


@dataclass(frozen=True, slots=True)
class RealtimeDeps:
    """What every namespace is built from: one per node."""

    tokens: TokenIssuer
    projects: Projects
    chat: Chat
    chat_send_burst: int
    chat_send_rate: float
    chat_typing_ttl: float


class AuthNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Authenticates at connect; subclasses read the caller from `await self.caller(sid)`.

    Each subclass names its `path` and the events it `emits` (for the AsyncAPI document) and builds
    itself from the node's RealtimeDeps; realtime/server.py lists them all.
    """

    path: ClassVar[str]
    emits: ClassVar[Mapping[str, Payload]] = {"auth_expired": AUTH_EXPIRED}

    @classmethod
    def build(cls, deps: RealtimeDeps) -> Self:
        """The namespace of this node."""
        return cls(deps.tokens)

    def __init__(self, tokens: TokenIssuer) -> None:
        super().__init__(self.path)
        self.tokens = tokens
        # One timer per live socket: cheaper than sweeping, and exact.
        self._expiry: dict[str, asyncio.TimerHandle] = {}

    def _claims(self, token: Any) -> AccessClaims:
        if not isinstance(token, str) or not token:
            raise errors.TokenMissing()
        return self.tokens.verify_access(token)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse without a valid token: connect_error `data.code` is token_missing/invalid/expired."""
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self._claims(token)
        except errors.DomainError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        await self.save_session(
            sid, {"user_id": claims.user_id, "session_id": claims.session_id, "exp": claims.expires_at}
        )
        await self.enter_room(sid, user_room(claims.user_id))
        await self.enter_room(sid, session_room(claims.session_id))
        self._schedule(sid, claims.expires_at)
        await self.connected(sid, claims)

    async def connected(self, sid: str, claims: AccessClaims) -> None:
        """Hook for subclasses, after the socket is authenticated."""

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        """Forget the socket's expiry timer."""
        handle = self._expiry.pop(sid, None)
        if handle is not None:
            handle.cancel()
        await self.disconnected(sid)

    async def disconnected(self, sid: str) -> None:
        """Hook for subclasses, when the socket has gone."""

    def _schedule(self, sid: str, exp: int) -> None:
        old = self._expiry.pop(sid, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        delay = max(0.0, exp - time.time())
        self._expiry[sid] = loop.call_at(loop.time() + delay, self._expire, sid)

    def _expire(self, sid: str) -> None:
        self._expiry.pop(sid, None)
        asyncio.get_running_loop().create_task(self._drop_expired(sid))

    async def _drop_expired(self, sid: str) -> None:
        try:
            await self.emit("auth_expired", {"code": "token_expired"}, to=sid)
            await self.disconnect(sid)
        except Exception:
            log.exception("could not drop an expired socket", extra={"sid": sid})

    async def caller(self, sid: str) -> tuple[int, int]:
        """(user_id, session_id) of an authenticated socket."""
        session = await self.get_session(sid)
        if time.time() >= session["exp"]:
            raise errors.TokenExpired()
        return int(session["user_id"]), int(session["session_id"])

    @event(ReauthSchema)
    async def on_reauth(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Renew the socket's token: same user, later expiry."""
        claims = self._claims(data["token"])
        session = await self.get_session(sid)
        if claims.user_id != session["user_id"]:
            raise errors.PermissionDenied("The token belongs to another user.")
        if claims.session_id != session["session_id"]:
            await self.leave_room(sid, session_room(session["session_id"]))
            await self.enter_room(sid, session_room(claims.session_id))
        session.update(session_id=claims.session_id, exp=claims.expires_at)
        await self.save_session(sid, session)
        self._schedule(sid, claims.expires_at)
        return {"expires_at": claims.expires_at}
