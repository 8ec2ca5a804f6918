"""Who is calling: bearer or cookie authentication, CSRF for cookies, rate limits, token cookies."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.config import RateLimit
from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims, Device, TokenPair
from roughcut.http.auth_schemas import TokenPairSchema
from roughcut.http.jsonutil import json_response
from roughcut.metrics import LIMITER_ERRORS
from roughcut.security.access import ACCESS_COOKIE

REFRESH_COOKIE = "__Host-refresh_token"
CSRF_COOKIE = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CLAIMS_KEY = web.RequestKey("claims", AccessClaims)


def bearer(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_csrf(request: web.Request) -> None:
    """Cookie-authenticated unsafe requests must echo the csrf_token cookie in X-CSRF-Token."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise errors.CsrfFailed()


def authenticate(request: web.Request) -> AccessClaims:
    """Verify the bearer token or the access cookie (with CSRF); raise token_missing/invalid/expired."""
    cached = request.get(CLAIMS_KEY)
    if isinstance(cached, AccessClaims):
        return cached
    token = bearer(request)
    if token is None:
        token = request.cookies.get(ACCESS_COOKIE)
        if token is None:
            raise errors.TokenMissing()
        check_csrf(request)
    claims = request.config_dict[keys.ACCESS].verify_access(token)
    request[CLAIMS_KEY] = claims
    return claims


def device(request: web.Request) -> Device:
    """The caller's user agent and address, for the session list."""
    return Device(request.headers.get("User-Agent", "")[:255], request.remote or "")


async def limit(request: web.Request, name: str, rate: RateLimit, key: str = "") -> None:
    """Count a hit against `name` for this client (and `key`); raise rate_limited past the limit."""
    who = f"{request.remote or '-'}:{key}"
    try:
        verdict = await request.config_dict[keys.LIMITER].hit(name, who, rate.limit, rate.window)
    except errors.LimiterUnavailable:
        # Fail closed: these limits (logins, codes, verification, refresh) stop guessing; serving uncounted
        # would open brute force for as long as Redis is down. The caller gets 503 with Retry-After.
        LIMITER_ERRORS.labels("fail_closed").inc()
        raise
    if not verdict.allowed:
        raise errors.RateLimited(verdict.reset, limit=rate.limit, window=rate.window)


def wants_cookies(request: web.Request) -> bool:
    """Cookie mode: `?cookie=1`, or the AUTH_COOKIE_MODE setting."""
    flag = request.query.get("cookie", "").lower() in {"1", "true", "yes"}
    return flag or request.config_dict[keys.SETTINGS].cookie_mode


def token_response(
    request: web.Request, pair: TokenPair, status: int = 200, *, cookies: bool | None = None
) -> web.Response:
    """The token pair in the body, or in `__Host-` httpOnly cookies in cookie mode."""
    settings = request.config_dict[keys.SETTINGS]
    body: dict[str, Any] = TokenPairSchema().dump(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": "Bearer",
            "expires_in": pair.expires_in,
            "user": pair.user,
        }
    )
    if not (wants_cookies(request) if cookies is None else cookies):
        return json_response(body, status)
    del body["access_token"], body["refresh_token"]
    response = json_response(body, status)
    common: dict[str, Any] = {"path": "/", "secure": True, "samesite": "Lax"}
    response.set_cookie(ACCESS_COOKIE, pair.access_token, max_age=pair.expires_in, httponly=True, **common)
    response.set_cookie(
        REFRESH_COOKIE, pair.refresh_token, max_age=settings.refresh_absolute_ttl, httponly=True, **common
    )
    response.set_cookie(CSRF_COOKIE, secrets.token_urlsafe(32), max_age=settings.refresh_absolute_ttl, **common)
    return response


def clear_cookies(response: web.StreamResponse) -> None:
    """Remove the auth cookies (logout)."""
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        response.del_cookie(name, path="/", secure=True, samesite="Lax")
