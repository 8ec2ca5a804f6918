"""The python-socketio AsyncServer and the one registry of its namespaces.

Everything that needs to know the namespaces (registration, dropping an ended session's sockets, the
AsyncAPI document) reads NAMESPACES: adding one (`/presence`, `/uploads`) is one entry here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import socketio
from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket as EngineWebSocket

from roughcut.config import Settings
from roughcut.realtime.base import AuthNamespace, RealtimeDeps
from roughcut.realtime.budget import SocketBudget
from roughcut.realtime.chat import ChatNamespace
from roughcut.realtime.fanout import LocalManager, RedisManager
from roughcut.realtime.handoff import Connection, HandOffResponse, take_over
from roughcut.realtime.presence import PresenceNamespace
from roughcut.realtime.projects import ProjectsNamespace
from roughcut.realtime.protocol import (
    CheckedServer,
    OpenWebSockets,
    WarningBudget,
    checked_translate_request,
    engine_frame_problem,
)
from roughcut.realtime.root import RootNamespace
from roughcut.realtime.uploads import UploadsNamespace
from roughcut.wire.json import SocketJson

MAX_MESSAGE = 64 * 1024  # largest client packet; chat text is capped far below this
PING_INTERVAL = 25
PING_TIMEOUT = 20

NAMESPACES: tuple[type[AuthNamespace], ...] = (
    RootNamespace,
    ProjectsNamespace,
    ChatNamespace,
    PresenceNamespace,
    UploadsNamespace,
)
NAMESPACE_PATHS = tuple(ns.path for ns in NAMESPACES)


def plain_websocket_class(compress: bool) -> type[EngineWebSocket]:
    """engine.io's aiohttp WebSocket with permessage-deflate chosen by setting (4x memory when on)."""

    class PlainWebSocket(EngineWebSocket):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=compress)
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            return self._sock

    return PlainWebSocket


def _websocket_class(compress: bool, warnings: WarningBudget, open_sockets: OpenWebSockets) -> type[EngineWebSocket]:
    """With permessage-deflate, engine.io's own WebSocket; without, one taken over from aiohttp
    (realtime/handoff.py). Both end the connection on a frame engine.io cannot decode (realtime/protocol.py)
    and are counted while open."""

    def screen(connection: Connection, frame: str | bytes) -> bool:
        problem = engine_frame_problem(frame)
        if problem is None:
            return True
        warnings.warn("malformed engine.io packet; connection closed", reason=problem, remote=connection.remote)
        return False

    class HandedOffWebSocket(EngineWebSocket):  # type: ignore[misc]
        """`connection` is what the DirectSocket listens to; the request is let go once answered."""

        connection: Connection | None = None

        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ.pop("aiohttp.request")  # engine.io keeps the environ for the session's life
            response = HandOffResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
            connection = await take_over(request, response, self.server.max_http_buffer_size)
            if connection is None:
                return response
            connection.remote, connection.screen = request.remote, screen
            open_sockets.opened()
            connection.on_lost(open_sockets.closed)
            self.connection = connection
            try:
                await self.handler(self)
            finally:
                if connection.listener is None:
                    connection.close()  # refused, or an upgrade for a socket that cannot take it
            return response

    class LibraryWebSocket(plain_websocket_class(True)):  # type: ignore[misc]
        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            open_sockets.opened()
            try:
                response: WebSocketResponse = await super().__call__(environ)
                return response
            finally:
                open_sockets.closed()

        async def wait(self) -> str | bytes:
            frame: str | bytes = await super().wait()
            problem = engine_frame_problem(frame)
            if problem is not None:
                remote = self.environ["aiohttp.request"].remote
                warnings.warn("malformed engine.io packet; connection closed", reason=problem, remote=remote)
                # engine.io's reader ends the connection on an OSError, as when the peer goes away.
                raise OSError(problem)
            return frame

    return LibraryWebSocket if compress else HandedOffWebSocket


def create_sio(settings: Settings, redis_options: Mapping[str, Any] | None = None) -> socketio.AsyncServer:
    """Build the one AsyncServer of this node; `redis_options` go to the Redis manager's client (its retry)."""
    manager: socketio.AsyncManager = (
        RedisManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio", redis_options=dict(redis_options or {})
        )
        if settings.redis_url
        else LocalManager()
    )
    sio = CheckedServer(
        async_mode="aiohttp",
        client_manager=manager,
        json=SocketJson,
        cors_allowed_origins=sorted(settings.allowed_origins),
        cors_credentials=True,
        max_http_buffer_size=MAX_MESSAGE,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        logger=False,
        engineio_logger=False,
    )
    # The driver table is module-global: copy it before swapping in our WebSocket class and request check.
    driver = sio.eio._async
    sio.eio._async = {
        **driver,
        "websocket": _websocket_class(settings.ws_compression, sio.bad_input, sio.open_websockets),
        "translate_request": checked_translate_request(driver["translate_request"], sio.eio, sio.bad_input),
    }
    return sio


def register_namespaces(sio: socketio.AsyncServer, deps: RealtimeDeps) -> None:
    """Build and register every namespace of the registry."""
    for namespace in NAMESPACES:
        built = namespace.build(deps)
        built.cookie_origins = deps.cookie_origins
        built.event_budget = SocketBudget(deps.event_burst, deps.event_rate)
        sio.register_namespace(built)


DRAIN_SECONDS = 5.0


async def _close(sock: Any) -> None:
    """Send the close packet, then end the WebSocket after it.

    engine.io's writer closes a WebSocket only once its queue yields None, which its reader puts there
    when the peer closes. The Python client closes on the close packet, but the official JavaScript client
    waits for the server to close the WebSocket, so without the None each browser tab held the drain for
    ping_interval + ping_timeout (45 s). Pinned in tests/unit/test_socket_internals.py.
    """
    await sock.close(wait=False)
    if sock.upgraded and not getattr(sock, "direct", False):  # a DirectSocket closes after the packet itself
        sock.queue.put_nowait(None)


async def drain_sockets(sio: CheckedServer) -> None:
    """Node shutdown: send every socket a close (without waiting for its queue) so clients move elsewhere,
    then wait until their WebSocket close handshakes are done; a peer that has not answered by then is cut.

    engine.io's own disconnect-all waits for each socket's queue to drain, which never ends for a socket
    whose peer is already gone; here the whole drain is bounded. The handshakes must finish before aiohttp
    starts its own shutdown, which ignores what clients send from then on (each would wait out its close
    timeout before reconnecting elsewhere).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    sockets = list(sio.eio.sockets.values())
    if sockets:
        closing = [asyncio.ensure_future(_close(sock)) for sock in sockets]
        await asyncio.wait(closing, timeout=DRAIN_SECONDS)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sio.open_websockets.idle.wait(), max(0.0, deadline - loop.time()))
    for sock in list(sio.eio.sockets.values()):  # peers that never answered the close: cut
        connection = getattr(sock, "_conn", None)
        if connection is not None:
            connection.abort()
