"""Middlewares: request id and access log, the one edge where errors become problem+json, and the client's
address behind a trusted load balancer."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable
from ipaddress import ip_address, ip_network

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp_remotes import XForwardedFiltered

from roughcut import keys
from roughcut.domain import errors
from roughcut.http import problems
from roughcut.logging import request_id
from roughcut.metrics import HTTP_REQUESTS

log = logging.getLogger("roughcut.http")
access_log = logging.getLogger("roughcut.access")

REQUEST_ID_HEADER = "X-Request-ID"
# Set on a request from a trusted proxy: whether the client reached the proxy over TLS (X-Forwarded-Proto).
FORWARDED_SECURE = web.RequestKey("forwarded_secure", bool)
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Path segments that carry secrets (invitation tokens) are not written to the access log.
_SECRET_PATH = re.compile(r"(/invitations/)[A-Za-z0-9_-]{20,}")


def websocket_session(request: web.Request) -> bool:
    """A Socket.IO WebSocket: it lives for hours and has no response to log or map.

    The middlewares hand it straight on (`return handler(request)`, not `await`): a middleware's frame,
    with its locals, would otherwise stay suspended for the connection's whole life, some hundreds of
    bytes per idle socket each (bench/idle_memory.py).
    """
    return request.path.startswith("/socket.io/") and request.headers.get("Upgrade", "").lower() == "websocket"


def _new_socket_while_draining(request: web.Request) -> bool:
    if not request.path.startswith("/socket.io/"):
        return False
    drained = request.config_dict.get(keys.DRAINED)
    return drained is not None and drained.is_set() and "sid" not in request.query


async def _refuse_new_socket() -> web.StreamResponse:
    # The client retries; by then the balancer has seen /readyz fail and sends it to another node.
    return problems.draining()


@web.middleware
def request_context(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Give every request an id (reused from X-Request-ID when sane), echo it, log one access line. A node
    that is draining refuses new Socket.IO sessions (503 `draining`): its own sockets are being closed so
    their clients move to another node, and one that came back here would be cut at exit."""
    if _new_socket_while_draining(request):
        return _refuse_new_socket()
    if websocket_session(request):
        return handler(request)
    return _request_context(request, handler)


async def _request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    rid = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[REQUEST_ID_HEADER] = rid
        raise
    finally:
        if not request.path.startswith("/socket.io"):
            elapsed = time.perf_counter() - started
            access_log.info(
                "%s %s %s",
                request.method,
                _SECRET_PATH.sub(r"\1…", request.path),
                status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            # Label by route template, never by raw path: ids and tokens would explode the series.
            resource = request.match_info.route.resource
            HTTP_REQUESTS.labels(request.method, resource.canonical if resource else "unmatched", str(status)).observe(
                elapsed
            )
        request_id.reset(token)


@web.middleware
def problem_errors(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Map DomainError and aiohttp errors to problem+json; log unknown errors once, with the stack."""
    if websocket_session(request):
        return handler(request)
    return _problem_errors(request, handler)


async def _problem_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DomainError as exc:
        return problems.from_domain(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problems.from_http(exc)
    except Exception:
        log.exception(
            "unhandled error", extra={"method": request.method, "path": _SECRET_PATH.sub(r"\1…", request.path)}
        )
        return problems.problem(500, "internal_error", "Something went wrong on our side.")


def forwarded_for(trusted: tuple[str, ...]) -> Middleware:
    """Take the client's address from X-Forwarded-For, but only on requests that come from a trusted proxy.

    aiohttp-remotes' XForwardedFiltered walks the header from the right, skipping trusted addresses, so
    entries a client put there itself are ignored; it does not check the peer, which is done here, so a
    client that reaches the node directly cannot choose its address (and its rate-limit keys) at all.
    """
    networks = [ip_network(t) for t in trusted]
    filtered = XForwardedFiltered(set(networks))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        try:
            from_proxy = peer is not None and any(ip_address(peer[0]) in n for n in networks)
        except ValueError:  # a Unix socket peer has no IP address
            from_proxy = False
        if from_proxy:

            async def marked(forwarded: web.Request) -> web.StreamResponse:
                # aiohttp prepares a returned response with the original request: it learns the scheme here
                request[FORWARDED_SECURE] = forwarded.secure
                return await handler(forwarded)

            return await filtered.middleware(request, marked)
        return await handler(request)

    return middleware
