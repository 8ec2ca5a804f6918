"""The python-socketio AsyncServer: Redis manager for fan-out, orjson, permessage-deflate off by default."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp.web import WebSocketResponse
from engineio.async_drivers.aiohttp import WebSocket as EngineWebSocket

from roughcut.config import Settings
from roughcut.http.jsonutil import SocketJson
from roughcut.realtime.fanout import LocalManager, RedisManager

MAX_MESSAGE = 64 * 1024  # largest client packet; chat text is capped far below this
PING_INTERVAL = 25
PING_TIMEOUT = 20


def _websocket_class(compress: bool) -> type[EngineWebSocket]:
    class RoughcutWebSocket(EngineWebSocket):  # type: ignore[misc]
        """engine.io's aiohttp WebSocket with permessage-deflate chosen by setting (4x memory when on)."""

        async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
            request = environ["aiohttp.request"]
            self._sock = WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=compress)
            await self._sock.prepare(request)
            self.environ = environ
            await self.handler(self)
            return self._sock

    return RoughcutWebSocket


def create_sio(settings: Settings) -> socketio.AsyncServer:
    """Build the one AsyncServer of this node."""
    manager: socketio.AsyncManager = (
        RedisManager(settings.redis_url, channel=f"{settings.redis_prefix}:socketio")
        if settings.redis_url
        else LocalManager()
    )
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        json=SocketJson,
        cors_allowed_origins=list(settings.cors_origins) or None,
        cors_credentials=True,
        max_http_buffer_size=MAX_MESSAGE,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        logger=False,
        engineio_logger=False,
    )
    # The driver table is module-global: copy it before swapping in our WebSocket class.
    sio.eio._async = {**sio.eio._async, "websocket": _websocket_class(settings.ws_compression)}
    return sio
