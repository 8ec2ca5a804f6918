"""`/blobs/{key}`: the local blob store's signed URLs, served on the root app (the S3 store has none).

A PUT body is streamed to disk in chunks as it arrives, and a GET is sent from the file, so neither is
ever held whole in memory. The signature names the method, key, expiry and size limit; a bad one is 403
`signature_invalid`, a late one 403 `url_expired`, a body past the limit 413 `payload_too_large`.
"""

from __future__ import annotations

from aiohttp import web

from roughcut import keys
from roughcut.domain import errors
from roughcut.domain.file_names import content_disposition
from roughcut.domain.ports import BlobGate

READ_CHUNK = 256 * 1024


def _gate(request: web.Request) -> BlobGate:
    gate = request.config_dict.get(keys.BLOB_GATE)
    if gate is None:
        raise errors.NotFound()
    return gate


async def put_blob(request: web.Request) -> web.Response:
    """Store the body under a signed PUT URL (a whole blob or one multipart part); answers its ETag."""
    gate = _gate(request)
    grant = gate.authorize("PUT", request.match_info["key"], request.query)
    if request.content_length is not None and request.content_length > grant.max_size:
        raise errors.PayloadTooLarge(f"The signed URL allows at most {grant.max_size} bytes.")
    etag = await gate.receive(grant, request.content.iter_chunked(READ_CHUNK))
    return web.Response(headers={"ETag": etag, "Cache-Control": "no-store"})


async def get_blob(request: web.Request) -> web.StreamResponse:
    """Send the blob a signed GET URL names, from its file (Range requests work)."""
    gate = _gate(request)
    grant = gate.authorize("GET", request.match_info["key"], request.query)
    path = gate.file(grant)
    if path is None:
        raise errors.NotFound()
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
    if grant.filename:
        headers["Content-Disposition"] = content_disposition(grant.filename)
    return web.FileResponse(path, headers=headers)


def add_blob_routes(app: web.Application) -> None:
    """Mount `/blobs/{key}` (PUT and GET, HEAD with it)."""
    app.router.add_put("/blobs/{key:.+}", put_blob)
    app.router.add_get("/blobs/{key:.+}", get_blob)
