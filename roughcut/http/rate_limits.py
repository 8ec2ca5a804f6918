"""API-wide rate limits: every /api/v1 request counts against its client address and, when it carries a
valid access token, its user; both are announced on every response (RateLimit, RateLimit-Policy).

The header syntax is the IETF httpapi draft's structured fields: `RateLimit-Policy: "ip";q=…;w=…, "user";…`
lists the policies, `RateLimit: "user";r=…;t=…` reports the one with the least quota left (`t` is the time
after which all of its quota is back: the sliding window's length, or the wait when refused).

When the limiter's store (Redis) is down, this budget fails open: requests are served uncounted (and without
RateLimit headers), the outage is logged once, LIMITER_ERRORS counts the failed checks, and Redis is asked
again only every OUTAGE_RETRY_SECONDS, so requests do not each wait out the client's retries. It guards
capacity, not secrets; losing it for a while costs less than refusing every request. The security limits of
the auth routes (http/security.limit) fail closed instead: 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from roughcut import keys
from roughcut.config import RateLimit
from roughcut.domain import errors
from roughcut.domain.ports import Hit, Verdict
from roughcut.domain.read_cache import CacheKey
from roughcut.http import problems
from roughcut.http.cached_reads import PRE_LOOKUP
from roughcut.http.routing import CacheKeyOf
from roughcut.http.security import CLAIMS_KEY, bearer
from roughcut.metrics import LIMITER_ERRORS
from roughcut.security.access import ACCESS_COOKIE

log = logging.getLogger("roughcut")

# At most this many requests of a node count against the limiter at once: on Redis each count holds a pooled
# connection, and the pool (100 connections, shared with presence, tickets and the rest) refuses past its size
# rather than wait; a burst of requests queues here instead.
LIMITER_SLOTS = 32
# While the limiter's store is down, ask it again after this many seconds (the first request after that pays
# the client's retries, about two seconds, once).
OUTAGE_RETRY_SECONDS = 5.0

# Handed to a handler that prepares its own response (the SSE stream), which must send them itself.
RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("rate_headers")


@dataclass(frozen=True, slots=True)
class _Counted:
    policy: str
    rate: RateLimit
    verdict: Verdict


class _Outage:
    """The limiter's store is down: skip it for a while; logged once per outage."""

    def __init__(self) -> None:
        self._retry_at = 0.0
        self._down = False

    def skipping(self) -> bool:
        return time.monotonic() < self._retry_at

    def failed(self, exc: errors.LimiterUnavailable) -> None:
        LIMITER_ERRORS.labels("fail_open").inc()
        self._retry_at = time.monotonic() + OUTAGE_RETRY_SECONDS
        if not self._down:
            self._down = True
            cause = type(exc.__cause__ or exc).__name__
            log.warning("rate limiter unavailable: API-wide limits fail open", extra={"error": cause})

    def answered(self) -> None:
        if self._down:
            self._down = False
            log.warning("rate limiter available again: API-wide limits apply")


def _user_id(request: web.Request) -> int | None:
    """The caller's user id from a valid bearer token or access cookie; None when there is none.

    A bearer token's claims are kept for `authenticate`; a cookie's are not, since `authenticate` must still
    check its CSRF header.
    """
    access = request.config_dict[keys.ACCESS]
    token = bearer(request)
    try:
        if token is not None:
            claims = access.verify_access(token)
            request[CLAIMS_KEY] = claims
            return claims.user_id
        cookie = request.cookies.get(ACCESS_COOKIE)
        return access.verify_access(cookie).user_id if cookie else None
    except errors.DomainError:  # the handler answers the bad token; it is counted by address only
        return None


def _headers(counted: list[_Counted], inner: dict[str, str]) -> dict[str, str]:
    policies = ", ".join(f'"{c.policy}";q={c.rate.limit};w={c.rate.window}' for c in counted)
    tightest = min(counted, key=lambda c: c.verdict.remaining)
    reset = tightest.verdict.reset if not tightest.verdict.allowed else tightest.rate.window
    # A route's own limit (login, signup, ...) that refused the request is the binding one: it stays first.
    return {
        "RateLimit-Policy": ", ".join(p for p in (inner.get("RateLimit-Policy", ""), policies) if p),
        "RateLimit": inner.get("RateLimit") or f'"{tightest.policy}";r={tightest.verdict.remaining};t={reset}',
    }


def api_rate_limits(
    per_user: RateLimit, per_ip: RateLimit, cache_keys: Mapping[Handler, CacheKeyOf] | None = None
) -> Middleware:
    """The /api/v1 middleware: count, refuse past either limit (429 rate_limited), announce on every response.

    A cached read (a route with a `cache_key`, http/routing.py) counts its limits and looks its entry up
    through the read gate together, and leaves the lookup on the request for `cached_read`.
    """
    slots = asyncio.Semaphore(LIMITER_SLOTS)
    outage = _Outage()
    keyed = cache_keys or {}

    async def count(request: web.Request, hits: list[Hit], user_id: int | None) -> list[Verdict] | None:
        """The verdicts (None: uncounted, the limiter is down); a cached read's lookup goes along."""
        gate = request.config_dict.get(keys.READ_GATE)
        key = None if gate is None else _cache_key(request, keyed, user_id)
        if gate is not None and key is not None:
            async with slots:
                admitted = await gate.admit(hits, key)
            request[PRE_LOOKUP] = (key, admitted.lookup)
            if admitted.limiter_error is not None:
                raise admitted.limiter_error
            return admitted.verdicts
        if not hits:
            return None
        async with slots:
            return await request.config_dict[keys.LIMITER].hit_many(hits)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        wanted = [("ip", per_ip, request.remote or "-")]
        user_id = _user_id(request)
        if user_id is not None:
            wanted.append(("user", per_user, str(user_id)))
        counted: list[_Counted] = []
        skipping = outage.skipping()
        hits = [] if skipping else [(f"api_{n}", key, r.limit, r.window) for n, r, key in wanted]
        try:
            verdicts = await count(request, hits, user_id)
            if verdicts is not None and not skipping:
                counted = [_Counted(n, r, v) for (n, r, _key), v in zip(wanted, verdicts, strict=True)]
                outage.answered()
        except errors.LimiterUnavailable as exc:
            outage.failed(exc)
            counted = []  # uncounted: no partial headers either
        refused = [c for c in counted if not c.verdict.allowed]
        request[RATE_HEADERS] = _headers(counted, {}) if counted else {}
        if refused:
            worst = max(refused, key=lambda c: c.verdict.reset)
            refusal = problems.from_domain(
                errors.RateLimited(worst.verdict.reset, limit=worst.rate.limit, window=worst.rate.window)
            )
            refusal.headers.update(request[RATE_HEADERS])
            return refusal
        response: web.StreamResponse
        try:
            response = await handler(request)
        except errors.DomainError as exc:  # mapped here (not only by the root's problem_errors) to carry the headers
            response = problems.from_domain(exc)
        except web.HTTPException as exc:
            exc.headers.update(request[RATE_HEADERS])
            raise
        if counted and not response.prepared:
            response.headers.update(_headers(counted, dict(response.headers)))
        return response

    return middleware


def _cache_key(request: web.Request, keyed: Mapping[Handler, CacheKeyOf], user_id: int | None) -> CacheKey | None:
    """The cached read this request will make, if its route has one and the caller and input are valid."""
    if user_id is None or request.method != "GET":
        return None
    key_of = keyed.get(request.match_info.handler)
    if key_of is None:
        return None
    try:
        return key_of(request, user_id)
    except errors.DomainError:  # the handler answers the bad input
        return None
