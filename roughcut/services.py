"""build_services(settings, resources): every use-case bundle, the one publisher and the chat writer.

The only module besides app.py that knows concrete adapters; it takes resources that are already open
(database engine, Redis client, HTTP session) and makes nothing network-bound itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import aiohttp
import socketio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.domain.accounts import Accounts, AuthPolicy
from roughcut.domain.chat import Chat, RoomMembers
from roughcut.domain.clock import SystemClock
from roughcut.domain.ports import BlobStore, Broker, Mailer, PresenceStore, RateLimiter, UnitOfWorkFactory
from roughcut.domain.presence import Coalescer, Presence, PresenceHub
from roughcut.domain.projects import Projects
from roughcut.realtime.base import RealtimeDeps
from roughcut.realtime.notifier import Notifier
from roughcut.realtime.presence import PresenceRunner
from roughcut.realtime.publisher import NodeDelivery, Publisher
from roughcut.realtime.routing import Routes, needed_topics
from roughcut.security.access import AccessVerifier
from roughcut.security.passwords import Passwords
from roughcut.security.secrets import load_secret_key
from roughcut.security.social import SocialAuthenticator
from roughcut.storage.blobs import LocalBlobStore
from roughcut.storage.broker import LocalBroker, RedisBroker
from roughcut.storage.mail import LogMailer, SmtpMailer
from roughcut.storage.presence import LocalPresenceStore, RedisPresenceStore
from roughcut.storage.ratelimit import LocalRateLimiter, RedisRateLimiter
from roughcut.storage.repos.chat import GroupCommitWriter
from roughcut.storage.s3 import S3BlobStore
from roughcut.storage.uow import SqlUnitOfWork


@dataclass(frozen=True, slots=True)
class Resources:
    """What is open for the lifetime of the app: made and closed by app.py's cleanup contexts."""

    engine: AsyncEngine
    redis: Redis | None
    http: aiohttp.ClientSession
    sio: socketio.AsyncServer
    access: AccessVerifier


@dataclass(frozen=True, slots=True)
class Services:
    """The node's use-case bundles and the machinery behind them."""

    uow: UnitOfWorkFactory
    accounts: Accounts
    projects: Projects
    chat: Chat
    blobs: BlobStore
    limiter: RateLimiter
    notifier: Notifier
    publisher: Publisher
    writer: GroupCommitWriter
    realtime: RealtimeDeps
    presence: Presence
    presence_runner: PresenceRunner


def _mailer(settings: Settings) -> Mailer:
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url.value, settings.mail_from)
    return LogMailer()


def _broker(settings: Settings) -> Broker:
    return RedisBroker(settings.redis_url, settings.redis_prefix) if settings.redis_url else LocalBroker()


def _limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    return RedisRateLimiter(redis, settings.redis_prefix) if redis is not None else LocalRateLimiter()


def _presence_store(settings: Settings, redis: Redis | None) -> PresenceStore:
    return RedisPresenceStore(redis, settings.redis_prefix) if redis is not None else LocalPresenceStore()


def build_services(settings: Settings, res: Resources) -> Services:
    """Wire adapters into ports and ports into use-case bundles (no I/O; start() what needs starting)."""
    clock, mailer = SystemClock(), _mailer(settings)
    blobs: BlobStore = S3BlobStore(settings) if settings.s3_bucket else LocalBlobStore(settings.data_dir / "blobs")
    broker = _broker(settings)
    routes = Routes(broker, lambda: needed_topics(res.sio.manager.rooms, notifier.projects()))
    notifier = Notifier(routes.attend_project) if settings.room_routing else Notifier()
    if settings.room_routing:
        res.sio.manager.routes = routes
    delivery = NodeDelivery(res.sio, notifier, res.access.revoked)
    publisher = Publisher(delivery, broker, routes if settings.room_routing else None)
    engine = res.engine

    def uow() -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, publisher)

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
    projects = Projects(uow=uow, clock=clock, blobs=blobs, mailer=mailer, public_url=settings.public_url)
    writer = GroupCommitWriter(engine, publisher)
    chat = Chat(uow=uow, writer=writer, clock=clock, members=RoomMembers(clock))
    publisher.node.attach_chat(chat)  # the chat reorder buffer reads a gap it waited for in vain
    presence = Presence(
        uow=uow,
        store=_presence_store(settings, res.redis),
        publisher=publisher,
        clock=clock,
        hub=PresenceHub(uuid.uuid4().hex, Coalescer(settings.presence_window)),
        ttl=settings.presence_ttl,
        away_after=settings.presence_away_after,
    )
    realtime = RealtimeDeps(
        tokens=res.access,
        projects=projects,
        chat=chat,
        chat_send_burst=settings.chat_send_burst,
        chat_send_rate=settings.chat_send_rate,
        chat_typing_ttl=settings.chat_typing_ttl,
        chat_order=publisher.node.chat_order,
        presence=presence,
    )
    return Services(
        uow=uow,
        accounts=accounts,
        projects=projects,
        chat=chat,
        blobs=blobs,
        limiter=_limiter(settings, res.redis),
        notifier=notifier,
        publisher=publisher,
        writer=writer,
        realtime=realtime,
        presence=presence,
        presence_runner=PresenceRunner(presence, settings.presence_window, settings.presence_heartbeat, res.sio),
    )
