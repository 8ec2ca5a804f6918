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


def encode(data: Any) -> bytes:
    """The JSON body of `data`."""
    return orjson.dumps(data, option=OPTIONS)


def etag_of(body: bytes) -> str:
    """A body's strong ETag: 32 hex digits."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def etag_response(request: web.Request, data: Any) -> web.Response:
    """A JSON read with a strong ETag; 304 Not Modified when If-None-Match already has it."""
    body = encode(data)
    return tagged_response(request, body, etag_of(body))


def tagged_response(request: web.Request, body: bytes, tag: str) -> web.Response:
    """A JSON body already encoded, with its ETag `tag`; 304 when If-None-Match has it."""
    matches = request.if_none_match or ()
    if any(m.value in (tag, "*") for m in matches):
        response = web.Response(status=304)
    else:
        response = web.Response(body=body, content_type="application/json")
    response.etag = tag
    return response
