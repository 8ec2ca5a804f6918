"""RFC 9457 problem+json: the one place that maps domain error codes to HTTP statuses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

from roughcut.domain import errors
from roughcut.http.jsonutil import json_response
from roughcut.logging import request_id

PROBLEM_TYPE = "https://roughcut.dev/problems/"

# Walked along the exception's MRO, so a subclass inherits its parent's status unless listed itself.
STATUS: dict[type[errors.DomainError], int] = {
    errors.ValidationFailed: 422,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.RateLimited: 429,
    errors.CodeInvalid: 400,
    errors.VerificationTokenInvalid: 400,
    errors.SocialLoginFailed: 400,
    errors.ProviderUnavailable: 502,
    errors.ServiceUnavailable: 503,
}


def status_for(exc: errors.DomainError) -> int:
    """The HTTP status of a domain error."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors_: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    """Build an application/problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id.get(),
    }
    if errors_:
        body["errors"] = errors_
    if extra:
        body.update(extra)
    return json_response(body, status, content_type="application/problem+json", headers=headers)


def draining() -> web.Response:
    """503 `draining`: this node is shutting down (readiness, and new Socket.IO sessions while it drains)."""
    return problem(503, "draining", "This node is shutting down.", headers={"Retry-After": "1"})


def from_domain(exc: errors.DomainError) -> web.Response:
    """Map a DomainError to its problem response, with the headers its kind needs."""
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
        if exc.limit:
            headers["RateLimit-Policy"] = f'"default";q={exc.limit};w={exc.window}'
            headers["RateLimit"] = f'"default";r=0;t={exc.retry_after}'
    elif isinstance(exc, errors.ServiceUnavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    elif status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{exc.code}"'
    extra = {"details": exc.details} if exc.details else None
    return problem(status, exc.code, exc.message, errors_=exc.fields or None, headers=headers, extra=extra)


def from_http(exc: web.HTTPException) -> web.Response:
    """Turn aiohttp's own HTTP errors (404 route, 405 method, 413 body) into problems."""
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
    code = codes.get(exc.status, HTTPStatus(exc.status).phrase.lower().replace(" ", "_").replace("-", "_"))
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return problem(exc.status, code, exc.reason, headers=headers)
