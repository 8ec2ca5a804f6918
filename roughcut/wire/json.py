"""JSON encoding shared by REST and Socket.IO: orjson, UTC times with `Z`."""

from __future__ import annotations

from typing import Any

import orjson

# Aware datetimes in UTC end in `Z`; naive ones are taken as UTC (the API contract has no local times).
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def dumps(value: Any) -> str:
    """Serialise to a JSON string."""
    return orjson.dumps(value, option=OPTIONS).decode()


class SocketJson:
    """The `json` module python-socketio uses, backed by orjson."""

    @staticmethod
    def dumps(value: Any, **_kwargs: Any) -> str:
        return dumps(value)

    @staticmethod
    def loads(text: str | bytes, **_kwargs: Any) -> Any:
        return orjson.loads(text)
