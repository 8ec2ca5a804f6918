"""Typed application keys: the one place that names what create_app stores on the aiohttp app."""

from __future__ import annotations

import asyncio

import aiohttp
import socketio
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.domain.accounts import Accounts
from roughcut.domain.chat import Chat
from roughcut.domain.ports import (
    BlobGate,
    BlobStore,
    ProjectNews,
    RateLimiter,
    ReadGate,
    ResponseCache,
    TicketStore,
    UnitOfWorkFactory,
)
from roughcut.domain.presence import Presence
from roughcut.domain.projects import Projects
from roughcut.domain.uploads import Uploads
from roughcut.domain.webhooks import Webhooks
from roughcut.security.access import AccessVerifier
from roughcut.security.tokens import JwtTokens

SETTINGS = web.AppKey("settings", Settings)
# Set when the node starts to drain (app.drain): readiness fails and new Socket.IO sessions are refused.
DRAINED = web.AppKey("drained", asyncio.Event)
ENGINE = web.AppKey("engine", AsyncEngine)
REDIS = web.AppKey("redis", Redis)
CACHE_REDIS = web.AppKey("cache_redis", Redis)  # the response cache's own client (fails fast)
HTTP = web.AppKey("http", aiohttp.ClientSession)
SIO = web.AppKey("sio", socketio.AsyncServer)
UOW: web.AppKey[UnitOfWorkFactory] = web.AppKey("uow")
ACCOUNTS = web.AppKey("accounts", Accounts)
TOKENS = web.AppKey("tokens", JwtTokens)
LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter")
TICKETS: web.AppKey[TicketStore] = web.AppKey("tickets")
PROJECTS = web.AppKey("projects", Projects)
BLOBS: web.AppKey[BlobStore] = web.AppKey("blobs")
BLOB_GATE: web.AppKey[BlobGate] = web.AppKey("blob_gate")  # the local store only
UPLOADS = web.AppKey("uploads", Uploads)
NOTIFIER: web.AppKey[ProjectNews] = web.AppKey("notifier")
CHAT_NEWS: web.AppKey[ProjectNews] = web.AppKey("chat_news")  # the same waiters, by feedback id
CHAT = web.AppKey("chat", Chat)
ACCESS = web.AppKey("access", AccessVerifier)
PRESENCE = web.AppKey("presence", Presence)
WATCHING = web.AppKey("watching", Presence)
WEBHOOKS = web.AppKey("webhooks", Webhooks)
RESPONSE_CACHE: web.AppKey[ResponseCache] = web.AppKey("response_cache")  # absent: RESPONSE_CACHE=false
READ_GATE: web.AppKey[ReadGate] = web.AppKey("read_gate")  # absent with the cache
