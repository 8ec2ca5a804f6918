"""Shared fixtures: a fresh PostgreSQL database and Redis prefix per run, a real SMTP server, app clients."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient
from aiosmtpd.controller import Controller

from roughcut.config import RateLimit, Secret, Settings
from tests.helpers import Mailbox
from tests.private_redis import PrivateRedis

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_HOST = os.environ.get("TEST_PG_HOST", "postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = uuid.uuid4().hex[:10]
GENEROUS = RateLimit(10_000, 60)
# Admission control (http/admission.py) that lets every test read wait: the suite shares two cores with
# itself, and a read refused for waiting 0.5 s behind a busy loop is not what any test is about.
PATIENT_QUEUE = 100_000
PATIENT_WAIT = 60.0


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database made for this run (migrated once), dropped at the end."""
    name = f"roughcut_test_{RUN_ID}"

    async def create() -> None:
        from roughcut.storage import migrate  # imported here: the unit tier needs no SQLAlchemy
        from roughcut.storage.db import make_engine

        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        engine = make_engine(f"postgresql+asyncpg://{PG_HOST}/{name}")
        await migrate.upgrade(engine)
        await engine.dispose()

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield f"postgresql+asyncpg://{PG_HOST}/{name}"
    asyncio.run(drop())


@pytest.fixture
async def empty_job_queue(pg_url: str) -> None:
    """The run's PostgreSQL database is shared, and so is its job queue: a test that runs a worker starts with
    none of the jobs earlier tests left (a poison file's retries would hold its worker)."""
    conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DELETE FROM jobs")
    finally:
        await conn.close()


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """The fake Naver, Kakao and Google (tests/fakes/social_provider.py) on a free port."""
    from tests.fakes.social_provider import FakeProviders  # imported here: only the social tests need it

    server = FakeProviders()
    await server.start()
    yield server
    await server.close()


@pytest.fixture(scope="session")
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix for this run; its keys are deleted at the end."""
    prefix = f"rctest{RUN_ID}"
    yield prefix

    async def clean() -> None:
        client = aioredis.Redis.from_url(REDIS_URL)
        async for key in client.scan_iter(f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()

    asyncio.run(clean())


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[str, Mailbox]]:
    """A real SMTP server on a free port, collecting every mail."""
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks readiness by connecting, so it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", box
    controller.stop()


@pytest.fixture
def mailbox(smtp: tuple[str, Mailbox]) -> Mailbox:
    return smtp[1]


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the run, so the JWT key and secret are made once."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def pg_settings(pg_url: str, redis_prefix: str, smtp: tuple[str, Mailbox], key_dir: Path) -> Settings:
    """Settings for the production path: PostgreSQL, Redis, SMTP."""
    return Settings(
        data_dir=key_dir,
        database_url=pg_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        smtp_url=Secret(smtp[0]),
        log_json=True,
        rate_login=GENEROUS,
        rate_login_ip=GENEROUS,
        rate_signup=GENEROUS,
        rate_email_code=GENEROUS,
        rate_verify=GENEROUS,
        rate_refresh=GENEROUS,
        rate_api=GENEROUS,
        rate_api_ip=GENEROUS,
        socket_event_burst=100_000,
        api_queue=PATIENT_QUEUE,
        api_queue_timeout=PATIENT_WAIT,
        job_worker=False,  # no background statements in tests that count them: ask for a worker (job_worker=True)
    )


@pytest.fixture
def sqlite_settings(tmp_path: Path, smtp: tuple[str, Mailbox]) -> Settings:
    """Settings for the embedded default (SQLite, in-process everything), with SMTP to read codes."""
    return Settings(
        data_dir=tmp_path / "var",
        smtp_url=Secret(smtp[0]),
        rate_login=GENEROUS,
        rate_login_ip=GENEROUS,
        rate_signup=GENEROUS,
        rate_email_code=GENEROUS,
        rate_verify=GENEROUS,
        rate_refresh=GENEROUS,
        rate_api=GENEROUS,
        rate_api_ip=GENEROUS,
        socket_event_burst=100_000,
        api_queue=PATIENT_QUEUE,
        api_queue_timeout=PATIENT_WAIT,
        job_worker=False,
    )


AppFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(aiohttp_client: Any, pg_settings: Settings) -> AsyncIterator[AppFactory]:
    """Start the real app (on PostgreSQL and Redis unless given other settings) and return its client."""

    async def make(settings: Settings | None = None, **overrides: Any) -> TestClient[Any, Any]:
        from roughcut.app import create_app  # imported here: the unit tier never needs it

        chosen = replace(settings or pg_settings, **overrides)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(chosen))
        return client

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto in server mode: a real HTTP S3 endpoint on a free port."""
    from moto.server import ThreadedMotoServer  # imported here: slow, and only the S3 tests need it

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[PrivateRedis]:
    """A started redis-server of this test's own, which it may stop and restart (never the shared one)."""
    server = PrivateRedis(tmp_path / "redis")
    await server.start()
    yield server
    await server.stop(signal.SIGKILL)
