"""build_services(settings, resources): every use-case bundle, the one publisher and the chat writer.

The only module besides app.py that knows concrete adapters; it takes resources that are already open
(database engine, Redis client, HTTP session) and makes nothing network-bound itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aiohttp
import socketio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.domain.accounts import Accounts, AuthPolicy
from roughcut.domain.chat import Chat, RoomMembers
from roughcut.domain.clock import SystemClock
from roughcut.domain.events import Committed
from roughcut.domain.media import Media
from roughcut.domain.ports import (
    BlobGate,
    BlobStore,
    Broker,
    Mailer,
    PresenceStore,
    RateLimiter,
    ReadGate,
    ResponseCache,
    TicketStore,
    UnitOfWorkFactory,
)
from roughcut.domain.presence import Coalescer, Presence, PresenceHub
from roughcut.domain.projects import Projects
from roughcut.domain.read_cache import stale_scopes
from roughcut.domain.upload_model import UploadPolicy
from roughcut.domain.uploads import Uploads
from roughcut.domain.webhooks import Webhooks
from roughcut.jobs import JobRunner, Registry
from roughcut.jobs.housekeeping import register_housekeeping
from roughcut.jobs.upload_jobs import register_upload_jobs
from roughcut.jobs.webhook_jobs import DeliveryPolicy, register_webhook_jobs
from roughcut.realtime.base import RealtimeDeps
from roughcut.realtime.notifier import Notifier
from roughcut.realtime.presence import PresenceRunner
from roughcut.realtime.publisher import NodeDelivery, Publisher
from roughcut.realtime.routing import Routes, chat_topic, needed_topics
from roughcut.security.access import AccessVerifier
from roughcut.security.passwords import Passwords
from roughcut.security.secrets import load_secret_key
from roughcut.security.social import SocialAuthenticator
from roughcut.storage.blobs import LocalBlobStore
from roughcut.storage.broker import LocalBroker, RedisBroker
from roughcut.storage.jobs import SqlJobStore
from roughcut.storage.mail import LogMailer, SmtpMailer
from roughcut.storage.media import MediaTools
from roughcut.storage.presence import LocalPresenceStore, RedisPresenceStore
from roughcut.storage.ratelimit import LocalRateLimiter, RedisRateLimiter
from roughcut.storage.read_gate import RedisReadGate, SequentialReadGate
from roughcut.storage.repos.chat import GroupCommitWriter
from roughcut.storage.response_cache import LocalResponseCache, RedisResponseCache
from roughcut.storage.s3 import S3BlobStore
from roughcut.storage.tickets import LocalTicketStore, RedisTicketStore
from roughcut.storage.uow import SqlUnitOfWork
from roughcut.storage.webhooks import WebhookOutbox


@dataclass(frozen=True, slots=True)
class Resources:
    """What is open for the lifetime of the app: made and closed by app.py's cleanup contexts."""

    engine: AsyncEngine
    redis: Redis | None
    http: aiohttp.ClientSession
    sio: socketio.AsyncServer
    access: AccessVerifier
    cache_redis: Redis | None = None  # the response cache's client, when it lives in Redis


@dataclass(frozen=True, slots=True)
class Services:
    """The node's use-case bundles and the machinery behind them."""

    uow: UnitOfWorkFactory
    accounts: Accounts
    projects: Projects
    chat: Chat
    blobs: BlobStore
    limiter: RateLimiter
    tickets: TicketStore
    notifier: Notifier
    chat_news: Notifier  # by feedback id: the old chat sockets (http/legacy/chat_socket.py)
    publisher: Publisher
    writer: GroupCommitWriter
    realtime: RealtimeDeps
    presence: Presence
    watching: Presence  # who watches a feedback thread
    presence_runner: PresenceRunner
    blob_gate: BlobGate | None
    uploads: Uploads
    jobs: Registry  # handlers by job kind: register yours in build_services
    job_runner: JobRunner  # started by app.py when settings.job_worker (and by `roughcut worker`)
    webhooks: Webhooks
    cache: ResponseCache | None  # hot reads (http/cached_reads.py); None when RESPONSE_CACHE=false
    read_gate: ReadGate | None  # a cached read's limits and lookup together; None without the cache


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url.value, settings.mail_from)
    return LogMailer()


def _broker(settings: Settings) -> Broker:
    return RedisBroker(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalBroker()


def _limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    return RedisRateLimiter(redis, settings.redis_prefix) if redis is not None else LocalRateLimiter()


def _tickets(settings: Settings, redis: Redis | None) -> TicketStore:
    return RedisTicketStore(redis, settings.redis_prefix) if redis is not None else LocalTicketStore()


def _presence_store(settings: Settings, redis: Redis | None, scope: str = "") -> PresenceStore:
    prefix = settings.redis_prefix + scope
    return RedisPresenceStore(redis, prefix) if redis is not None else LocalPresenceStore()


def _response_cache(settings: Settings, redis: Redis | None) -> ResponseCache | None:
    if not settings.response_cache:
        return None
    if redis is not None:
        return RedisResponseCache(redis, settings.redis_prefix)
    return LocalResponseCache(settings.response_cache_size)


def _read_gate(settings: Settings, limiter: RateLimiter, cache: ResponseCache | None) -> ReadGate | None:
    if cache is None:
        return None
    shared = not settings.response_cache_url  # one Redis holds both: one round trip
    if shared and isinstance(limiter, RedisRateLimiter) and isinstance(cache, RedisResponseCache):
        return RedisReadGate(limiter, cache)
    return SequentialReadGate(limiter, cache)


def _invalidator(cache: ResponseCache) -> Callable[[Sequence[Committed]], Awaitable[None]]:
    """What the publisher runs on each committed batch before delivering it: bump what it made stale."""

    async def invalidate(batch: Sequence[Committed]) -> None:
        await cache.bump(stale_scopes(batch))

    return invalidate


def blob_stores(settings: Settings) -> tuple[BlobStore, BlobGate | None]:
    """S3 when S3_BUCKET is set; else the local folder, whose signed URLs roughcut serves (its gate)."""
    if settings.s3_bucket:
        return S3BlobStore(settings), None
    local = LocalBlobStore(settings.data_dir / "blobs", secret=load_secret_key(settings), base_url=settings.public_url)
    return local, local


def _upload_policy(settings: Settings) -> UploadPolicy:
    return UploadPolicy(
        max_file_bytes=settings.upload_max_file_bytes,
        max_video_bytes=settings.upload_max_video_bytes,
        file_types=frozenset(settings.upload_file_types),
        video_types=frozenset(settings.upload_video_types),
        single_max_bytes=settings.upload_single_max_bytes,
        part_bytes=settings.upload_part_bytes,
        url_ttl=settings.upload_url_ttl,
        stale_after=settings.upload_stale_after,
    )


def build_services(settings: Settings, res: Resources) -> Services:
    """Wire adapters into ports and ports into use-case bundles (no I/O; start() what needs starting)."""
    clock, mailer = SystemClock(), _mailer(settings)
    blobs, blob_gate = blob_stores(settings)
    broker = _broker(settings)
    routes = Routes(
        broker,
        lambda: needed_topics(res.sio.manager.rooms, notifier.projects()) | set(map(chat_topic, chat_news.projects())),
    )
    notifier = Notifier(routes.attend_project) if settings.room_routing else Notifier()
    chat_news = Notifier(lambda fid: routes.attend(chat_topic(fid))) if settings.room_routing else Notifier()
    if settings.room_routing:
        res.sio.manager.routes = routes
    delivery = NodeDelivery(res.sio, notifier, res.access.revoked, chat_news)
    cache = _response_cache(settings, res.cache_redis)
    invalidate = None if cache is None else _invalidator(cache)
    publisher = Publisher(delivery, broker, routes if settings.room_routing else None, invalidate)
    engine = res.engine

    jobs, job_store = Registry(), SqlJobStore(engine)
    register_housekeeping(jobs, job_store, clock)
    job_runner = JobRunner(
        job_store,
        jobs,
        concurrency=settings.job_concurrency,
        poll_interval=settings.job_poll_interval,
        lease=settings.job_lease,
    )

    outbox = WebhookOutbox([target.ref for target in settings.webhook_urls])

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, publisher, job_runner.wake, outbox)

    webhooks = Webhooks(uow=uow, clock=clock, jobs=job_store)
    register_webhook_jobs(
        jobs,
        webhooks,
        res.http,
        {target.ref: (target.url, target.secret.value) for target in settings.webhook_urls},
        DeliveryPolicy(
            settings.webhook_retry_for, settings.webhook_backoff, settings.webhook_max_backoff, settings.webhook_timeout
        ),
    )

    uploads = Uploads(uow=uow, clock=clock, blobs=blobs, policy=_upload_policy(settings), publisher=publisher)
    register_upload_jobs(jobs, uploads, Media(uow=uow, clock=clock, blobs=blobs, tools=MediaTools()))

    accounts = Accounts(
        uow=uow,
        hasher=Passwords(),
        tokens=res.access,
        mailer=mailer,
        clock=clock,
        pepper=load_secret_key(settings),
        social=SocialAuthenticator(settings.social, res.http),
        policy=AuthPolicy(
            access_ttl=settings.access_token_ttl,
            refresh_idle_ttl=settings.refresh_idle_ttl,
            refresh_absolute_ttl=settings.refresh_absolute_ttl,
        ),
    )
    projects = Projects(uow=uow, clock=clock, blobs=blobs, mailer=mailer, links_url=settings.mail_links_url)
    writer = GroupCommitWriter(engine, publisher)
    chat = Chat(uow=uow, writer=writer, clock=clock, members=RoomMembers(clock), publisher=publisher)
    publisher.node.attach(chat, projects)  # the reorder buffers read a gap they waited for in vain
    presence, watching = (
        Presence(
            uow=uow,
            store=_presence_store(settings, res.redis, ":watching" if threads else ""),
            publisher=publisher,
            clock=clock,
            hub=PresenceHub(uuid.uuid4().hex, Coalescer(settings.presence_window)),
            ttl=settings.presence_ttl,
            away_after=settings.presence_away_after,
            threads=threads,
        )
        for threads in (False, True)
    )
    realtime = RealtimeDeps(
        tokens=res.access.once(),
        projects=projects,
        chat=chat,
        chat_send_burst=settings.chat_send_burst,
        chat_send_rate=settings.chat_send_rate,
        chat_typing_ttl=settings.chat_typing_ttl,
        chat_order=publisher.node.chat_order,
        project_order=publisher.node.project_order,
        presence=presence,
        watching=watching,
        uploads=uploads,
        cookie_origins=settings.allowed_origins,
        event_burst=settings.socket_event_burst,
        event_rate=settings.socket_event_rate,
    )
    limiter = _limiter(settings, res.redis)
    return Services(
        uow=uow,
        accounts=accounts,
        projects=projects,
        chat=chat,
        blobs=blobs,
        limiter=limiter,
        tickets=_tickets(settings, res.redis),
        notifier=notifier,
        chat_news=chat_news,
        publisher=publisher,
        writer=writer,
        realtime=realtime,
        presence=presence,
        watching=watching,
        presence_runner=PresenceRunner(
            (presence, watching), settings.presence_window, settings.presence_heartbeat, res.sio
        ),
        blob_gate=blob_gate,
        uploads=uploads,
        jobs=jobs,
        job_runner=job_runner,
        webhooks=webhooks,
        cache=cache,
        read_gate=_read_gate(settings, limiter, cache),
    )
