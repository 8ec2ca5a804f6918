"""`@legacy`: old error bodies (`{"message": ...}`, `NEED_ACCESS_TOKEN` on 401), deprecation headers, metrics."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from roughcut.domain import errors
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy.session import renew_cookies
from roughcut.metrics import LEGACY_CALLS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# RFC 9745: when the old endpoints were deprecated (the day the layer shipped); RFC 8594: when they go.
DEPRECATED_AT = datetime(2026, 12, 1, tzinfo=UTC)
SUNSET_AT = datetime(2027, 6, 30, tzinfo=UTC)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")  # a successor's path parameters, filled from the old path's
NEED_ACCESS_TOKEN = "NEED_ACCESS_TOKEN"
UNKNOWN = "알 수 없는 에러입니다 고객센터에 문의해주세요."
BAD_REQUEST = "잘못된 요청입니다."
FORBIDDEN = "권한이 없습니다."
NO_PROJECT = "존재하지 않는 프로젝트입니다."
# Error code → (status, the old message) unless a route names its own. Statuses as [V1H] answers them.
DEFAULTS: dict[type[errors.DomainError], tuple[int, str]] = {
    errors.NotAuthenticated: (401, NEED_ACCESS_TOKEN),
    errors.ValidationFailed: (400, BAD_REQUEST),
    errors.PermissionDenied: (403, FORBIDDEN),
    errors.NotFound: (404, NO_PROJECT),
    errors.Conflict: (409, BAD_REQUEST),
    errors.RateLimited: (429, BAD_REQUEST),
    errors.PayloadTooLarge: (413, BAD_REQUEST),
}


Answers = Mapping[type[errors.DomainError], tuple[int, str]]


def old_answer(exc: errors.DomainError, answers: Answers) -> tuple[int, str]:
    """The old status and message for a domain error: the nearest class (by MRO) the route or DEFAULTS answers."""
    for cls in type(exc).__mro__:
        found = answers.get(cls) or DEFAULTS.get(cls)
        if found is not None:
            return found
    return 500, UNKNOWN


def old_error(exc: errors.DomainError, answers: Answers) -> web.Response:
    """The old body `{"message": ...}` for a domain error."""
    status, message = old_answer(exc, answers)
    return json_response({"message": message}, status)


def mark(request: web.Request, response: web.StreamResponse, successor: str) -> None:
    """Renewed cookies, and the Deprecation / Sunset / Link headers (before the response is prepared)."""
    renew_cookies(request, response)
    response.headers["Deprecation"] = f"@{int(DEPRECATED_AT.timestamp())}"
    response.headers["Sunset"] = format_datetime(SUNSET_AT, usegmt=True)
    target = _PLACEHOLDER.sub(lambda m: request.match_info.get(m[1], m[0]), successor)
    response.headers["Link"] = f'<{target}>; rel="successor-version"'


def legacy(route: str, successor: str, answers: Answers | None = None) -> Callable[[Handler], Handler]:
    """Wrap an old endpoint: count it, answer errors the old way, and point at its /api/v1 successor."""

    def deco(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            LEGACY_CALLS.labels(route).inc()
            try:
                response = await handler(request)
            except errors.DomainError as exc:
                response = old_error(exc, answers or {})
            mark(request, response, successor)
            return response

        return run

    return deco
