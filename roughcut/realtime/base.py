"""The base namespace: access token checked at connect, `reauth`, disconnect when the token runs out."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, ClassVar, Self

import socketio
from marshmallow import Schema, fields, validate

from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.domain.chat import Chat
from roughcut.domain.ports import TokenIssuer
from roughcut.domain.presence import Presence
from roughcut.domain.projects import Projects
from roughcut.domain.uploads import Uploads
from roughcut.realtime.budget import SocketBudget
from roughcut.realtime.deadlines import Deadlines
from roughcut.realtime.envelope import error_ack, event, from_domain
from roughcut.realtime.ordering import SeqOrder
from roughcut.realtime.rooms import session_room, user_room
from roughcut.security.access import ACCESS_COOKIE

log = logging.getLogger("roughcut.realtime")


class ReauthSchema(Schema):
    token = fields.Str(required=True, validate=validate.Length(1, 4096))


# A server-to-client event's payload: a marshmallow schema, or a JSON Schema written out.
Payload = type[Schema] | dict[str, Any]

AUTH_EXPIRED: dict[str, Any] = {"type": "object", "properties": {"code": {"const": "token_expired"}}}
SOCKET_GONE = "The socket has disconnected."

# What python-socketio itself triggers on a namespace; a client cannot send these names (realtime/protocol.py).
LIFECYCLE = frozenset({"connect", "disconnect"})
EVENT_ARGS = 2  # a client event reaches its handler as (sid, payload)
EVENT_BURST, EVENT_RATE = 100, 30.0  # the default per-socket event budget (SOCKET_EVENT_BURST / _RATE)


def handles(namespace: type[socketio.AsyncNamespace], name: str) -> bool:
    """Whether `name` is a client event of the namespace: an `on_*` handler wrapped by the ack envelope."""
    return hasattr(getattr(namespace, f"on_{name}", None), "event_schema")


@dataclass(frozen=True, slots=True)
class RealtimeDeps:
    """What every namespace is built from: one per node."""

    tokens: TokenIssuer
    projects: Projects
    chat: Chat
    chat_send_burst: int
    chat_send_rate: float
    chat_typing_ttl: float
    chat_order: SeqOrder | None = None  # this node's reorder buffers: a join or subscribe sets the baseline
    project_order: SeqOrder | None = None
    presence: Presence | None = None  # this node's presence hub and its ports
    watching: Presence | None = None  # the same for who watches a thread
    uploads: Uploads | None = None  # the upload use cases (progress reports)
    cookie_origins: frozenset[str] = frozenset()  # pages whose sockets may authenticate with the access cookie
    event_burst: int = EVENT_BURST  # every client event of one socket on one namespace: a token bucket
    event_rate: float = EVENT_RATE


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
        # Set from RealtimeDeps by server.register_namespaces: the Origins trusted with the access cookie, and
        # the budget every client event of a socket spends (`send` has its own, smaller one as well).
        self.cookie_origins: frozenset[str] = frozenset()
        self.event_budget = SocketBudget(EVENT_BURST, EVENT_RATE)
        # Each live socket's access-token expiry, one loop timer per second for all of them.
        self._expiry: Deadlines[str] = Deadlines(self._expire)
        self._dropping: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Dispatch to the `on_*` handler; an event this namespace does not know is acked `unknown_event`.

        python-socketio would run no handler and ack an empty list; a payload split over several
        arguments would make the handler raise, and then no ack is sent at all.
        """
        if event not in LIFECYCLE:
            if not handles(type(self), event):
                return error_ack("unknown_event", f"This namespace ({self.path}) has no such event.")
            if len(args) > EVENT_ARGS:
                return error_ack("validation_failed", "An event carries one payload object.")
            wait = self.event_budget.take(args[0]) if args else 0.0
            if wait:
                return from_domain(errors.RateLimited(math.ceil(wait), "Too many events on this socket."))
        return await super().trigger_event(event, *args)

    def _claims(self, token: Any) -> AccessClaims:
        if not isinstance(token, str) or not token:
            raise errors.TokenMissing()
        return self.tokens.verify_access(token)

    def _cookie_token(self, environ: Mapping[str, Any]) -> str | None:
        """Cookie mode: the httpOnly access cookie, taken only from a page of an allowed Origin.

        The Origin check is the socket's CSRF defence: any site can make a browser open a socket that
        carries the cookie, but only the allowed front ends' pages send their own Origin (browsers send it
        on every WebSocket and cross-origin request; a request without one is refused).
        """
        jar = SimpleCookie()
        try:
            jar.load(environ.get("HTTP_COOKIE", ""))
        except CookieError:
            return None
        morsel = jar.get(ACCESS_COOKIE)
        if morsel is None:
            return None
        if environ.get("HTTP_ORIGIN") not in self.cookie_origins:
            raise errors.CsrfFailed("The access cookie is accepted only from the allowed origins.")
        return morsel.value

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Refuse without a valid token (the `auth.token`, else the access cookie from an allowed Origin).

        connect_error `data.code` is token_missing/invalid/expired, or csrf_failed for a cookie from
        another origin.
        """
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            claims = self._claims(token if token is not None else self._cookie_token(environ))
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
        """Forget the socket's expiry."""
        self._expiry.cancel(sid)
        self.event_budget.forget(sid)
        await self.disconnected(sid)

    async def disconnected(self, sid: str) -> None:
        """Hook for subclasses, when the socket has gone."""

    def _schedule(self, sid: str, exp: int) -> None:
        self._expiry.set(sid, exp - time.time())

    def _expire(self, sid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._drop_expired(sid))
        self._dropping.add(task)
        task.add_done_callback(self._dropping.discard)

    async def _drop_expired(self, sid: str) -> None:
        try:
            await self.emit("auth_expired", {"code": "token_expired"}, to=sid)
            await self.disconnect(sid)
        except Exception:
            log.exception("could not drop an expired socket", extra={"sid": sid})

    def alive(self, sid: str) -> bool:
        """Whether the socket is still here: connected, or connecting (its connect handler runs).

        Each event handler runs in a task of its own and may outlive its socket. What is kept per sid
        (timers, budgets, rooms) is stored only while this holds, checked after the handler's last await,
        so nothing is left that no disconnect will remove. python-socketio counts a socket whose
        disconnect has begun as not connected (pinned in tests/unit/test_socket_internals.py).
        """
        manager = self.server.manager
        return bool(manager.is_connected(sid, self.namespace) or manager.is_pre_connected(sid, self.namespace))

    async def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Join a room; refused for a socket that has gone (the room would outlive it, empty or not)."""
        if not self.alive(sid):
            raise errors.NotAuthenticated(SOCKET_GONE)
        await super().enter_room(sid, room, namespace=namespace)

    async def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None:
        """Leave a room; a socket that has gone has left them all (and the Redis manager would broadcast)."""
        if self.alive(sid):
            await super().leave_room(sid, room, namespace=namespace)

    async def _session(self, sid: str) -> dict[str, Any]:
        if not self.alive(sid):
            raise errors.NotAuthenticated(SOCKET_GONE)
        session: dict[str, Any] = await self.get_session(sid)
        return session

    async def caller(self, sid: str) -> tuple[int, int]:
        """(user_id, session_id) of an authenticated socket that is still connected."""
        session = await self._session(sid)
        if time.time() >= session["exp"]:
            raise errors.TokenExpired()
        return int(session["user_id"]), int(session["session_id"])

    @event(ReauthSchema)
    async def on_reauth(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Renew the connection's token: same user, later expiry, in every namespace of the connection."""
        claims = self._claims(data["token"])
        session = await self._session(sid)
        if claims.user_id != session["user_id"]:
            raise errors.PermissionDenied("The token belongs to another user.")
        for namespace, namespace_sid in self._connection(sid):
            await namespace._renew(namespace_sid, claims)
        return {"expires_at": claims.expires_at}

    def _connection(self, sid: str) -> list[tuple[AuthNamespace, str]]:
        """(namespace, sid) of every namespace the socket's engine.io connection has joined, this one included.

        Namespaces multiplexed on one connection share its engine.io session; python-socketio maps each
        namespace's sid to that session's id (manager.eio_sid_from_sid / sid_from_eio_sid, pinned in
        tests/unit/test_socket_internals.py), and `server.namespace_handlers` holds our registered namespaces.
        """
        manager = self.server.manager
        eio_sid = manager.eio_sid_from_sid(sid, self.namespace)
        found: list[tuple[AuthNamespace, str]] = []
        for path, namespace in self.server.namespace_handlers.items():
            other = manager.sid_from_eio_sid(eio_sid, path) if eio_sid is not None else None
            if isinstance(namespace, AuthNamespace) and other is not None and manager.is_connected(other, path):
                found.append((namespace, other))
        return found

    async def _renew(self, sid: str, claims: AccessClaims) -> None:
        """Give one socket the token's session and expiry (a socket of another user keeps its own)."""
        session = await self.get_session(sid)
        if claims.user_id != session.get("user_id"):
            return
        if claims.session_id != session["session_id"]:
            await self.leave_room(sid, session_room(session["session_id"]))
            await self.enter_room(sid, session_room(claims.session_id))
        session.update(session_id=claims.session_id, exp=claims.expires_at)
        await self.save_session(sid, session)
        self._schedule(sid, claims.expires_at)
