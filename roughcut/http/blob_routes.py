"""`/blobs/{key}`: the local blob store's signed URLs, served on the root app (the S3 store has none).

A PUT body is streamed to disk in chunks as it arrives, and a GET is sent from the file, so neither is
ever held whole in memory. The signature names the method, key, expiry and size limit; a bad one is 403
`signature_invalid`, a late one 403 `url_expired`, a body past the limit 413 `payload_too_large`.

CORS as a bucket's CORS rules would give: a page on CORS_ORIGINS or FRONTEND_URL PUTs and GETs
cross-origin (the signed URL is the credential, so no cookies), and reads `ETag` to complete a multipart
upload. Error answers carry the headers too, so the page sees the problem's `code`.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from aiohttp import web

from roughcut import keys
from roughcut.domain import errors
from roughcut.domain.file_names import content_disposition
from roughcut.domain.ports import BlobGate

READ_CHUNK = 256 * 1024
CORS_METHODS = "GET, HEAD, PUT"
CORS_HEADERS = frozenset({"content-type", "content-md5", "range", "x-requested-with"})  # what a page may send
CORS_EXPOSE = "ETag, Content-Length, Content-Range, Accept-Ranges, Content-Disposition, X-Request-ID"
CORS_MAX_AGE = "3000"  # seconds a preflight is cached (as a typical bucket rule)
BLOB_ORIGINS = web.AppKey("blob_origins", frozenset[str])


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


async def preflight(request: web.Request) -> web.Response:
    """Answer a CORS preflight of an allowed origin; anything else gets no CORS headers (the browser refuses)."""
    origin = request.headers.get("Origin", "")
    method = request.headers.get("Access-Control-Request-Method", "")
    asked = {h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")}
    asked.discard("")
    if origin not in request.app[BLOB_ORIGINS] or method not in CORS_METHODS.split(", ") or asked - CORS_HEADERS:
        return web.Response(status=403, headers={"Vary": "Origin"})
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Max-Age": CORS_MAX_AGE,
        "Vary": "Origin",
    }
    if asked:
        headers["Access-Control-Allow-Headers"] = ", ".join(sorted(asked))
    return web.Response(status=204, headers=headers)


async def _cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every /blobs answer to an allowed origin (errors too): who may read it, and which headers."""
    if not request.path.startswith("/blobs/") or request.method == "OPTIONS":
        return
    origin = request.headers.get("Origin", "")
    if origin in request.app[BLOB_ORIGINS]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE
        response.headers.add("Vary", "Origin")


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def add_blob_routes(app: web.Application, cors_origins: Collection[str] = (), frontend_url: str = "") -> None:
    """Mount `/blobs/{key}` (PUT and GET, HEAD with it), open to CORS_ORIGINS and FRONTEND_URL's origin."""
    front = _origin(frontend_url)
    app[BLOB_ORIGINS] = frozenset({*cors_origins, *([front] if front else [])})
    app.router.add_put("/blobs/{key:.+}", put_blob)
    app.router.add_get("/blobs/{key:.+}", get_blob)
    app.router.add_route("OPTIONS", "/blobs/{key:.+}", preflight)
    app.on_response_prepare.append(_cors_headers)
