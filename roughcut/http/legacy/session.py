"""Who calls an old endpoint: Bearer (as [V1H] sends it), else the `vridge_session` cookie ([S]).

The cookie holds a roughcut access token; `vridge_refresh` (httpOnly) holds the session's refresh token, so
an expired access cookie is renewed through the same rotation as POST /auth/refresh: the old app keeps
working for the whole session, as its 28-day cookie did. A cookie-authenticated unsafe call must come
from an allowed Origin (the old backend had CSRF off; this layer does not).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import errors, sessions
from roughcut.domain.account_model import AccessClaims, TokenPair
from roughcut.http.security import SAFE_METHODS, bearer

SESSION_COOKIE = "vridge_session"
REFRESH_COOKIE = "vridge_refresh"
RENEWED = web.RequestKey("legacy_renewed", TokenPair)


def origin_allowed(request: web.Request) -> bool:
    settings = request.config_dict[keys.SETTINGS]
    origin = request.headers.get("Origin")
    return origin is not None and (origin in settings.cors_origins or origin == settings.public_url.rstrip("/"))


async def caller(request: web.Request) -> AccessClaims:
    """The caller's claims; raises token_missing (answered NEED_ACCESS_TOKEN) when neither credential works."""
    verifier = request.config_dict[keys.ACCESS]
    token = bearer(request)
    if token is not None:
        try:
            return verifier.verify_access(token)
        except errors.NotAuthenticated:
            pass  # [V1H] falls back to the cookie
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        raise errors.TokenMissing()
    if request.method not in SAFE_METHODS and not origin_allowed(request):
        raise errors.CsrfFailed()
    try:
        return verifier.verify_access(cookie)
    except errors.TokenExpired:
        refresh = request.cookies.get(REFRESH_COOKIE)
        if not refresh:
            raise
    pair = await sessions.refresh(request.config_dict[keys.ACCOUNTS], refresh)
    request[RENEWED] = pair
    return verifier.verify_access(pair.access_token)


def set_session_cookies(request: web.Request, response: web.StreamResponse, pair: TokenPair) -> None:
    """Both cookies, cross-site (the old app calls from its own origin with credentials)."""
    ttl = request.config_dict[keys.SETTINGS].refresh_absolute_ttl
    common: dict[str, Any] = {"path": "/", "secure": True, "samesite": "None", "httponly": True, "max_age": ttl}
    response.set_cookie(SESSION_COOKIE, pair.access_token, **common)
    response.set_cookie(REFRESH_COOKIE, pair.refresh_token, **common)


def renew_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """After a call whose access cookie was renewed, hand out the new pair."""
    pair = request.get(RENEWED)
    if isinstance(pair, TokenPair):
        set_session_cookies(request, response, pair)
