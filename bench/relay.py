"""The bare baseline: python-socketio on aiohttp relaying `/chat` messages with no auth and no storage.

    python -m bench.relay --port P

Same transport as roughcut (permessage-deflate off through roughcut's WebSocket class, orjson, uvloop,
the same garbage-collector tuning), the same events and payload shapes; a room is just a Socket.IO room.
"""

from __future__ import annotations

import argparse
import gc
import itertools
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import socketio
import uvloop
from aiohttp import web

from roughcut.__main__ import GC_THRESHOLDS
from roughcut.realtime.rooms import CHAT_NAMESPACE
from roughcut.realtime.server import MAX_MESSAGE, PING_INTERVAL, PING_TIMEOUT, plain_websocket_class
from roughcut.wire.json import SocketJson

AUTHOR = {"id": 0, "nickname": "relay"}


def _bad(message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"code": "validation_failed", "message": message}}


class RelayNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """`join` enters the room; `send` numbers the message per room and emits it to the room."""

    def __init__(self) -> None:
        super().__init__(CHAT_NAMESPACE)
        self._seq: defaultdict[int, int] = defaultdict(int)
        self._ids = itertools.count(1)

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Everyone is welcome."""

    async def on_join(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Enter the room; nothing is stored, so nothing was missed."""
        if not isinstance(data, dict) or not isinstance(data.get("feedback_id"), int):
            return _bad("feedback_id is required")
        fid = data["feedback_id"]
        await self.enter_room(sid, f"chat:{fid}")
        return {"ok": True, "data": {"feedback_id": fid, "last_seq": 0, "read_seq": 0, "missed": []}}

    async def on_send(self, sid: str, data: Any = None) -> dict[str, Any]:
        """Emit the message to the room, then answer with it."""
        if not isinstance(data, dict) or not isinstance(data.get("feedback_id"), int):
            return _bad("feedback_id is required")
        fid = data["feedback_id"]
        self._seq[fid] += 1
        message = {
            "feedback_id": fid,
            "seq": self._seq[fid],
            "id": next(self._ids),
            "client_id": str(data.get("client_id", "")),
            "author": AUTHOR,
            "text": str(data.get("text", "")),
            "created_at": datetime.now(UTC),
        }
        await self.emit("message", message, room=f"chat:{fid}")
        return {"ok": True, "data": {"message": message, "duplicate": False}}


async def _ready(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _tune_gc(_app: web.Application) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app() -> web.Application:
    """The relay's aiohttp app with its AsyncServer attached."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        json=SocketJson,
        max_http_buffer_size=MAX_MESSAGE,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        logger=False,
        engineio_logger=False,
    )
    sio.eio._async = {**sio.eio._async, "websocket": plain_websocket_class(False)}
    sio.register_namespace(RelayNamespace())
    app = web.Application()
    sio.attach(app)
    app.router.add_get("/readyz", _ready)
    app.on_startup.append(_tune_gc)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
