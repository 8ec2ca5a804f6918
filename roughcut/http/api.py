"""The /api/v1 sub-app: REST routes, their middlewares, CORS and the OpenAPI document."""

from __future__ import annotations

import copy
import functools
from typing import Any

import aiohttp_cors
from aiohttp import web

from roughcut.config import Settings
from roughcut.http import (
    auth_routes,
    chat_routes,
    event_stream_routes,
    feedback_routes,
    invitation_routes,
    learning_routes,
    me_routes,
    memo_routes,
    presence_routes,
    project_routes,
    upload_routes,
    webhook_routes,
)
from roughcut.http.jsonutil import json_response
from roughcut.http.openapi import build_spec
from roughcut.http.rate_limits import api_rate_limits
from roughcut.http.routing import ApiRoutes

MAX_BODY = 1024 * 1024  # JSON bodies; files go straight to object storage
ROUTE_MODULES: tuple[ApiRoutes, ...] = (
    auth_routes.routes,
    me_routes.routes,
    project_routes.routes,
    invitation_routes.routes,
    memo_routes.routes,
    event_stream_routes.routes,
    feedback_routes.routes,
    chat_routes.routes,
    presence_routes.routes,
    upload_routes.routes,
    learning_routes.routes,
    webhook_routes.routes,
)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every REST route (a copy: callers may change it)."""
    return copy.deepcopy(_built_openapi())


@functools.cache
def _built_openapi() -> dict[str, Any]:
    # Built once per process: the routes are fixed at import, and building takes ~0.1 s (each app built for a
    # test paid it).
    return build_spec(op for routes in ROUTE_MODULES for op in routes.operations)


def create_api(settings: Settings, asyncapi: dict[str, Any]) -> web.Application:
    """Build the REST sub-app (mounted at /api/v1) serving the OpenAPI and the given AsyncAPI document."""
    cache_keys = {handler: key for routes in ROUTE_MODULES for handler, key in routes.cache_keys.items()}
    api = web.Application(
        client_max_size=MAX_BODY, middlewares=[api_rate_limits(settings.rate_api, settings.rate_api_ip, cache_keys)]
    )
    for routes in ROUTE_MODULES:
        api.add_routes(routes.table)
    spec = openapi_document()

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(spec)

    async def asyncapi_json(_request: web.Request) -> web.Response:
        return json_response(asyncapi)

    api.router.add_get("/openapi.json", openapi)
    api.router.add_get("/asyncapi.json", asyncapi_json)
    if settings.cors_origins:
        cors = aiohttp_cors.setup(
            api,
            defaults={
                origin: aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
                    allow_credentials=True,
                    allow_headers="*",
                    expose_headers=("X-Request-ID", "Retry-After", "ETag", "RateLimit", "RateLimit-Policy"),
                    max_age=600,
                )
                for origin in settings.cors_origins
            },
        )
        for route in list(api.router.routes()):
            cors.add(route)
    return api
