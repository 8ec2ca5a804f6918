"""Route registration that also records each operation for the OpenAPI document."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from marshmallow import Schema

from roughcut.domain import errors
from roughcut.domain.read_cache import CacheKey
from roughcut.wire.validation import load

MAX_ID = 2**63 - 1  # ids are 64-bit; a larger one cannot exist (and must not reach the database)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A cached read's key for the caller (user id) from the request alone, before its handler runs (None: this
# request reads uncached, e.g. a later page); raises DomainError on input the handler will refuse.
CacheKeyOf = Callable[[web.Request, int], CacheKey | None]
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_QUERIES: web.RequestKey[dict[type[Schema], dict[str, Any]]] = web.RequestKey("queries")


# A response body: one schema, any of several (a tuple: e.g. the token pair or, in cookie mode, the session
# without tokens), a media type of its own (e.g. text/event-stream), or none.
ResponseBody = type[Schema] | tuple[type[Schema], ...] | str | None


def standard_errors(method: str, *, auth: bool, body: bool, query: bool) -> frozenset[int]:
    """The error statuses every operation of this kind may answer, whatever its handler does.

    401 token_missing/invalid/expired or session_revoked (authenticated calls); 403 csrf_failed (cookie mode,
    unsafe methods); 413 payload_too_large (a body past api.MAX_BODY); 422 validation_failed (a body or
    query); 429 rate_limited (the API-wide limits per user and per address, http/rate_limits.py); 503
    transaction_conflict (a write still conflicting after @writes' retries) or service_unavailable.
    """
    unsafe = method.upper() in UNSAFE_METHODS
    found: set[int] = {429}
    if auth:
        found.add(401)
        if unsafe:
            found.add(403)
    if body:
        found.update((413, 422))
    if query:
        found.add(422)
    if unsafe:
        found.add(503)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Operation:
    """What the OpenAPI document says about one route."""

    method: str
    path: str
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    responses: Mapping[int, ResponseBody] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    auth: bool = True


class ApiRoutes:
    """A route table whose decorators also describe the operation."""

    def __init__(self) -> None:
        self.table = web.RouteTableDef()
        self.operations: list[Operation] = []
        self.cache_keys: dict[Handler, CacheKeyOf] = {}

    def route(
        self,
        method: str,
        path: str,
        *,
        op: str,
        summary: str,
        tags: tuple[str, ...],
        body: type[Schema] | None = None,
        query: type[Schema] | None = None,
        responses: Mapping[int, ResponseBody] | None = None,
        errors: tuple[int, ...] = (),
        auth: bool = True,
        cache_key: CacheKeyOf | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register `method path` and its OpenAPI description; `cache_key` names a cached read's key, so the
        rate limits and the cache lookup go to Redis together (http/rate_limits.py)."""

        def deco(handler: Handler) -> Handler:
            std = standard_errors(method, auth=auth, body=body is not None, query=query is not None)
            self.operations.append(
                Operation(
                    method.lower(),
                    path,
                    op,
                    summary,
                    tags,
                    body,
                    query,
                    responses or {200: None},
                    tuple(sorted(set(errors) | set(std))),
                    auth,
                )
            )
            self.table.route(method, path)(handler)
            if cache_key is not None:
                self.cache_keys[handler] = cache_key
            return handler

        return deco


@functools.cache
def _instance(schema: type[Schema]) -> Schema:
    """One instance per schema class: building one deep-copies its fields, loading is reentrant."""
    return schema()


async def read_body(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    """Parse and validate the JSON body; malformed or invalid input raises validation_failed."""
    raw = await request.read()
    try:
        data = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise errors.ValidationFailed("The body is not valid JSON.", fields={"_body": ["Invalid JSON."]}) from None
    if not isinstance(data, dict):
        raise errors.ValidationFailed("The body must be a JSON object.", fields={"_body": ["Expected an object."]})
    return load(_instance(schema), data)


def read_query(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    """Validate the query string (once a request: a cached read's key reads it before its handler does)."""
    parsed = request.get(_QUERIES)
    if parsed is None:
        parsed = request[_QUERIES] = {}
    if schema not in parsed:
        parsed[schema] = load(_instance(schema), dict(request.query))
    return parsed[schema]


def path_int(request: web.Request, name: str) -> int:
    """An integer path parameter; anything else is not found."""
    try:
        value = int(request.match_info[name])
    except ValueError:
        raise errors.NotFound() from None
    if not 1 <= value <= MAX_ID:
        raise errors.NotFound()
    return value
