"""create_app(settings): the one place that wires everything, with one cleanup_ctx per resource."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware

from roughcut import keys
from roughcut.config import Settings
from roughcut.http import middlewares
from roughcut.http.admission import ADMISSION, Admission, admission_control
from roughcut.http.api import create_api
from roughcut.http.blob_routes import add_blob_routes
from roughcut.http.headers import security_headers
from roughcut.http.legacy.routes import add_legacy_routes
from roughcut.http.ops import add_ops_routes
from roughcut.metrics import count_statements
from roughcut.realtime.asyncapi import asyncapi_document
from roughcut.realtime.server import create_sio, drain_sockets, register_namespaces
from roughcut.security.access import AccessVerifier, RevokedSessions
from roughcut.security.tokens import CLOCK_SKEW, JwtTokens, load_keyring
from roughcut.services import Resources, Services, build_services
from roughcut.storage import migrate, redis_client
from roughcut.storage.db import make_engine
from roughcut.storage.repos.accounts import recently_revoked
from roughcut.storage.seed import seed_demo

log = logging.getLogger("roughcut")
SERVICES = web.AppKey("services", Services)
CACHE_REDIS_TIMEOUT = 0.5  # seconds: a response cache slower than this is skipped (storage/response_cache.py)


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp app with REST under /api/v1 and Socket.IO at /socket.io/."""
    chain: list[Middleware] = [middlewares.request_context, middlewares.problem_errors]
    if settings.trusted_proxies:  # inside problem_errors, so a malformed header is a problem+json 400
        chain.append(middlewares.forwarded_for(settings.trusted_proxies))
    # Innermost of these, before the token check and the rate limits: a refused request costs next to nothing.
    gate = Admission(settings.api_concurrency, settings.api_queue, settings.api_queue_timeout)
    chain.append(admission_control(gate))
    app = web.Application(middlewares=chain)
    app[ADMISSION] = gate
    app[keys.SETTINGS] = settings
    app[keys.DRAINED] = asyncio.Event()
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    signer = JwtTokens(load_keyring(settings), settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl)
    app[keys.TOKENS] = signer
    # An ended session's access tokens stay signed until they expire: remember the ends that long.
    app[keys.ACCESS] = AccessVerifier(signer, RevokedSessions(settings.access_token_ttl + CLOCK_SKEW))
    app[keys.SIO] = create_sio(settings, redis_client.retry_options())
    app[keys.SIO].attach(app)
    app.cleanup_ctx.extend([database, redis, http_client, services, job_worker])
    app.on_shutdown.append(drain)
    app.add_subapp("/api/v1", create_api(settings, asyncapi_document()))
    docs = add_ops_routes(app)
    add_blob_routes(app, settings.cors_origins, settings.frontend_url)
    if settings.legacy_api:
        add_legacy_routes(app, settings.cors_origins)
    app.on_response_prepare.append(security_headers(docs.url_prefix, docs.doc_html))
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    """The database engine (the embedded default migrates itself)."""
    settings = app[keys.SETTINGS]
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    count_statements(engine)
    if settings.sqlite:
        await migrate.upgrade(engine)
    app[keys.ENGINE] = engine
    yield
    await engine.dispose()


async def redis(app: web.Application) -> AsyncIterator[None]:
    """The Redis client, when REDIS_URL is set.

    It retries a command after a dropped connection (a Redis restart): every command it sends is safe to
    run twice (PING, SCRIPT LOAD, and the rate-limit script, which recognises a replay; storage/ratelimit.py).
    The response cache has a client of its own that never retries: it goes uncached instead of waiting.
    """
    settings = app[keys.SETTINGS]
    if settings.redis_url:
        app[keys.REDIS] = redis_client.connect(settings.redis_url)
    if settings.response_cache and settings.cache_redis_url:
        app[keys.CACHE_REDIS] = redis_client.connect_fail_fast(settings.cache_redis_url, CACHE_REDIS_TIMEOUT)
    yield
    for key in (keys.REDIS, keys.CACHE_REDIS):
        if key in app:
            await app[key].aclose()


async def http_client(app: web.Application) -> AsyncIterator[None]:
    """One aiohttp ClientSession for outgoing calls (social login)."""
    app[keys.HTTP] = session = aiohttp.ClientSession()
    yield
    await session.close()


async def services(app: web.Application) -> AsyncIterator[None]:
    """The use cases, the publisher and the chat writer; namespaces registered; the demo user seeded."""
    settings = app[keys.SETTINGS]
    res = Resources(
        app[keys.ENGINE],
        app.get(keys.REDIS),
        app[keys.HTTP],
        app[keys.SIO],
        app[keys.ACCESS],
        app.get(keys.CACHE_REDIS),
    )
    svc = app[SERVICES] = build_services(settings, res)
    app[keys.UOW], app[keys.ACCOUNTS], app[keys.PROJECTS], app[keys.CHAT] = (
        svc.uow,
        svc.accounts,
        svc.projects,
        svc.chat,
    )
    app[keys.BLOBS], app[keys.LIMITER], app[keys.NOTIFIER] = svc.blobs, svc.limiter, svc.notifier
    app[keys.PRESENCE], app[keys.WATCHING] = svc.presence, svc.watching
    app[keys.CHAT_NEWS] = svc.chat_news
    app[keys.UPLOADS] = svc.uploads
    app[keys.WEBHOOKS] = svc.webhooks
    if svc.blob_gate is not None:
        app[keys.BLOB_GATE] = svc.blob_gate
    app[keys.TICKETS] = svc.tickets
    if svc.cache is not None:
        app[keys.RESPONSE_CACHE] = svc.cache
    if svc.read_gate is not None:
        app[keys.READ_GATE] = svc.read_gate
    await _load_session_ends(app)
    await svc.publisher.start()
    await svc.writer.start()
    register_namespaces(res.sio, svc.realtime)  # no socket connects before startup ends
    await svc.presence_runner.start()
    if settings.demo_user:
        await seed_demo(svc.accounts, svc.projects, svc.chat)
    yield
    await svc.presence_runner.stop()
    await svc.writer.stop()  # stores what is queued, and publishes it, before the broker and engine close
    await svc.publisher.stop()


async def job_worker(app: web.Application) -> AsyncIterator[None]:
    """This node's job worker (JOB_WORKER, on by default): stopped before the services it runs jobs with."""
    runner = app[SERVICES].job_runner if app[keys.SETTINGS].job_worker else None
    if runner is not None:
        await runner.start()
    yield
    if runner is not None:
        await runner.stop()


async def _load_session_ends(app: web.Application) -> None:
    ttl = app[keys.SETTINGS].access_token_ttl
    try:
        app[keys.ACCESS].revoked.add(
            await recently_revoked(app[keys.ENGINE], datetime.now(UTC) - timedelta(seconds=ttl + CLOCK_SKEW))
        )
    except Exception:
        # The node still starts (and /readyz says the database is down); every request needs the
        # database anyway, and later session ends arrive through the broker.
        log.exception("could not load recently ended sessions")


async def drain(app: web.Application) -> None:
    """on_shutdown runs before aiohttp waits for open requests: SSE streams end instead of holding it up,
    and every socket is closed so its client reconnects to another node and replays from there."""
    if app[keys.DRAINED].is_set():
        return  # SIGTERM drained already (roughcut serve); aiohttp's on_shutdown calls this again
    app[keys.DRAINED].set()
    if SERVICES in app:
        app[SERVICES].notifier.close()
        app[SERVICES].chat_news.close()
        await app[SERVICES].presence_runner.release()  # before the sockets close: see domain/presence.release
    await drain_sockets(app[keys.SIO])
    await app[keys.SIO].shutdown()
