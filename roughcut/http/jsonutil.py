"""JSON responses for aiohttp, encoded like every other payload (`roughcut.wire.json`)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from aiohttp import web

from roughcut.wire.json import OPTIONS


def json_response(
    data: Any, status: int = 200, *, content_type: str = "application/json", headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(
        body=orjson.dumps(data, option=OPTIONS), status=status, content_type=content_type, headers=headers
    )


def etag_response(request: web.Request, data: Any) -> web.Response:
    """A JSON read with a strong ETag; 304 Not Modified when If-None-Match already has it."""
    body = orjson.dumps(data, option=OPTIONS)
    tag = hashlib.blake2b(body, digest_size=16).hexdigest()
    matches = request.if_none_match or ()
    if any(m.value in (tag, "*") for m in matches):
        response = web.Response(status=304)
    else:
        response = web.Response(body=body, content_type="application/json")
    response.etag = tag
    return response
