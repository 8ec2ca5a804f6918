"""JSON encoding shared by REST and Socket.IO: orjson, UTC times with `Z`."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(value: Any) -> str:
    """Serialise to a JSON string."""
    return orjson.dumps(value, option=_OPTIONS).decode()


def json_response(
    data: Any, status: int = 200, *, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(data, option=_OPTIONS), status=status, content_type=content_type, headers=headers
    )


class SocketJson:
    """The `json` module python-socketio uses, backed by orjson."""

    @staticmethod
    def dumps(value: Any, **_kwargs: Any) -> str:
        return dumps(value)

    @staticmethod
    def loads(text: str | bytes, **_kwargs: Any) -> Any:
        return orjson.loads(text)
