"""Operational endpoints on the root app: health, readiness, JWKS, Prometheus metrics, API docs."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import prometheus_client
from aiohttp import web
from sqlalchemy import text
from swagger_ui.core import ApplicationDocument

from roughcut import keys
from roughcut.http import problems
from roughcut.http.jsonutil import json_response

log = logging.getLogger("roughcut.ops")
READY_TIMEOUT = 2.0
JWKS_MAX_AGE = 300
DOCS_URL = "/api/docs"
OPENAPI_URL = "/api/v1/openapi.json"


async def healthz(request: web.Request) -> web.Response:
    """Alive: the process answers."""
    return json_response({"status": "ok"})


async def _check_db(app: web.Application) -> None:
    async with app[keys.ENGINE].connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(app: web.Application) -> None:
    if keys.REDIS in app:
        await app[keys.REDIS].ping()


async def _check_storage(app: web.Application) -> None:
    await app[keys.BLOBS].check()


async def readyz(request: web.Request) -> web.Response:
    """Ready: not draining, and database, Redis and storage answer within a short timeout."""
    if request.app[keys.DRAINED].is_set():  # the balancer takes the node out while its sockets move
        return problems.draining()
    checks: dict[str, str] = {}
    for name, check in (("database", _check_db), ("redis", _check_redis), ("storage", _check_storage)):
        try:
            await asyncio.wait_for(check(request.app), READY_TIMEOUT)
            checks[name] = "ok"
        except Exception as exc:  # every failure is reported, none is raised
            log.warning("readiness check failed", extra={"check": name, "error": type(exc).__name__})
            checks[name] = "failed"
    if all(v == "ok" for v in checks.values()):
        return json_response({"status": "ok", "checks": checks})
    return problems.problem(503, "not_ready", "A dependency is unavailable.", extra={"checks": checks})


async def jwks(request: web.Request) -> web.Response:
    """Public keys that verify access tokens (current and previous)."""
    body: dict[str, Any] = request.config_dict[keys.TOKENS].ring.jwks()
    return json_response(body, headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of the process's metrics."""
    return web.Response(
        body=prometheus_client.generate_latest(), headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
    )


def add_ops_routes(app: web.Application) -> ApplicationDocument:
    """Mount the operational endpoints and the offline interactive docs at /api/docs (returned)."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/metrics", metrics)
    # swagger-ui-py serves Swagger UI 5 from its installed package: no CDN, works offline. It would load the
    # document from url_prefix + config_rel_url (/api/docs/api/v1/openapi.json, a 404), so the page is told
    # the real URL; config_rel_url being set, it serves no document of its own.
    doc = ApplicationDocument(app, config_rel_url=OPENAPI_URL, url_prefix=DOCS_URL, title="roughcut API")
    doc.parameters["url"] = json.dumps(OPENAPI_URL)
    doc.match_handler()(doc)
    return doc
