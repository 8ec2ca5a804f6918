"""create_app(settings): the one place that wires everything, with one cleanup_ctx per resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from redis.asyncio import Redis

from roughcut import keys
from roughcut.config import Settings
from roughcut.domain.accounts import Accounts, AuthPolicy
from roughcut.domain.chat import Chat
from roughcut.domain.clock import SystemClock
from roughcut.domain.ports import BlobStore, Mailer, UnitOfWorkFactory
from roughcut.domain.projects import Projects
from roughcut.http import middlewares
from roughcut.http.api import create_api
from roughcut.http.ops import add_ops_routes
from roughcut.metrics import count_statements
from roughcut.realtime.asyncapi import asyncapi_document
from roughcut.realtime.chat import ChatNamespace, ChatPublisher, SendBudget
from roughcut.realtime.projects import ProjectsNamespace
from roughcut.realtime.publisher import SocketPublisher, drain_sockets, drop_sessions
from roughcut.realtime.root import RootNamespace
from roughcut.realtime.server import create_sio
from roughcut.security.access import AccessVerifier, RevokedSessions
from roughcut.security.passwords import Passwords
from roughcut.security.secrets import load_secret_key
from roughcut.security.social import SocialAuthenticator
from roughcut.security.tokens import CLOCK_SKEW, JwtTokens, load_keyring
from roughcut.storage import migrate
from roughcut.storage.blobs import LocalBlobStore
from roughcut.storage.broker import Broker, LocalBroker, Notifier, RedisBroker
from roughcut.storage.db import make_engine
from roughcut.storage.mail import LogMailer, SmtpMailer
from roughcut.storage.ratelimit import LocalRateLimiter, RedisRateLimiter
from roughcut.storage.repos import projects as repo_projects
from roughcut.storage.repos.accounts import recently_revoked
from roughcut.storage.repos.chat import GroupCommitWriter, SqlChatStore, threads_of
from roughcut.storage.s3 import S3BlobStore
from roughcut.storage.seed import seed_demo_user
from roughcut.storage.uow import SqlUnitOfWork

log = logging.getLogger("roughcut")


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url.value, settings.mail_from)
    return LogMailer()


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp app with REST under /api/v1 and Socket.IO at /socket.io/."""
    app = web.Application(middlewares=[middlewares.request_context, middlewares.problem_errors])
    app[keys.SETTINGS] = settings
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)

    signer = JwtTokens(load_keyring(settings), settings.jwt_issuer, settings.jwt_audience, settings.access_token_ttl)
    app[keys.TOKENS] = signer
    # An ended session's access tokens stay signed until they expire: remember the ends that long.
    revoked = RevokedSessions(settings.access_token_ttl + CLOCK_SKEW)
    tokens = AccessVerifier(signer, revoked)
    app[keys.ACCESS] = tokens
    sio = create_sio(settings)
    sio.register_namespace(RootNamespace("/", tokens))
    sio.attach(app)
    app[keys.SIO] = sio

    async def members_of(project_ids: list[int]) -> dict[int, list[int]]:
        return await repo_projects.members_of(app[keys.ENGINE], project_ids)

    # Made here without I/O so the publisher can hold it; its Redis subscriber starts in `event_broker`.
    notifier = Notifier()
    app[keys.NOTIFIER] = notifier
    notifier.on_sessions_ended(revoked.add)
    notifier.on_sessions_ended(lambda ids: drop_sessions(sio, ids))
    broker: Broker = (
        RedisBroker(settings.redis_url, settings.redis_prefix, notifier)
        if settings.redis_url
        else LocalBroker(notifier)
    )

    async def project_threads(project_id: int) -> list[int]:
        return await threads_of(app[keys.ENGINE], project_id)

    publisher = SocketPublisher(sio, members_of, project_threads, broker)
    blobs: BlobStore = S3BlobStore(settings) if settings.s3_bucket else LocalBlobStore(settings.data_dir / "blobs")
    app[keys.BLOBS] = blobs
    pepper = load_secret_key(settings)
    policy = AuthPolicy(
        access_ttl=settings.access_token_ttl,
        refresh_idle_ttl=settings.refresh_idle_ttl,
        refresh_absolute_ttl=settings.refresh_absolute_ttl,
    )

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
        count_statements(engine)
        if settings.sqlite:
            await migrate.upgrade(engine)  # the embedded default migrates itself
        app[keys.ENGINE] = engine

        def uow() -> SqlUnitOfWork:
            return SqlUnitOfWork(engine, publisher)

        factory: UnitOfWorkFactory = uow
        app[keys.UOW] = factory
        yield
        await engine.dispose()

    async def redis(app: web.Application) -> AsyncIterator[None]:
        if settings.redis_url:
            client = Redis.from_url(settings.redis_url)
            app[keys.REDIS] = client
            app[keys.LIMITER] = RedisRateLimiter(client, settings.redis_prefix)
        else:
            app[keys.LIMITER] = LocalRateLimiter()
        yield
        if keys.REDIS in app:
            await app[keys.REDIS].aclose()

    chat_publisher = ChatPublisher(sio)

    async def chat_writer(app: web.Application) -> AsyncIterator[None]:
        store = SqlChatStore(app[keys.ENGINE])
        writer = GroupCommitWriter(app[keys.ENGINE], chat_publisher.publish, store)
        await writer.start()
        app[keys.CHAT] = Chat(writer=writer, store=store, clock=SystemClock())
        yield
        await writer.stop()  # stores what is queued before the engine closes

    async def event_broker(_app: web.Application) -> AsyncIterator[None]:
        await broker.start()
        yield
        await broker.stop()

    async def end_streams(_app: web.Application) -> None:
        # on_shutdown runs before aiohttp waits for open requests: SSE streams end instead of holding it
        # up, and every socket is closed so its client reconnects to another node and replays from there.
        notifier.close()
        await drain_sockets(sio)
        await sio.shutdown()

    async def http_client(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        app[keys.HTTP] = session
        yield
        await session.close()

    async def session_ends(app: web.Application) -> AsyncIterator[None]:
        since = datetime.now(UTC) - timedelta(seconds=settings.access_token_ttl + CLOCK_SKEW)
        try:
            revoked.add(await recently_revoked(app[keys.ENGINE], since))
        except Exception:
            # The node still starts (and /readyz says the database is down); every request needs the
            # database anyway, and later session ends arrive through the broker.
            log.exception("could not load recently ended sessions")
        yield

    async def use_cases(app: web.Application) -> AsyncIterator[None]:
        clock, mailer = SystemClock(), _mailer(settings)
        app[keys.ACCOUNTS] = Accounts(
            uow=app[keys.UOW],
            hasher=Passwords(),
            tokens=tokens,
            mailer=mailer,
            clock=clock,
            pepper=pepper,
            social=SocialAuthenticator(settings.social, app[keys.HTTP]),
            policy=policy,
        )
        app[keys.PROJECTS] = Projects(
            uow=app[keys.UOW], clock=clock, blobs=blobs, mailer=mailer, public_url=settings.public_url
        )
        # Registered here because the namespace needs the use cases; no socket connects before startup ends.
        sio.register_namespace(ProjectsNamespace(tokens, app[keys.PROJECTS]))
        budget = SendBudget(settings.chat_send_burst, settings.chat_send_rate)
        sio.register_namespace(ChatNamespace(tokens, app[keys.CHAT], budget, settings.chat_typing_ttl))
        if settings.demo_user:
            await seed_demo_user(app[keys.ACCOUNTS])
        yield

    app.cleanup_ctx.extend([database, session_ends, redis, event_broker, http_client, chat_writer, use_cases])
    app.on_shutdown.append(end_streams)
    app.add_subapp("/api/v1", create_api(settings, asyncapi_document()))
    add_ops_routes(app)
    return app
