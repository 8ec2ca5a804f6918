"""The default PostgreSQL pool keeps every connection it opens: waves of as many reads as admission control
lets in at once (settings.api_concurrency) open connections in the first wave only. With an overflow, the pool
closed the connections past its size after each wave and opened them again in the next, and every reopened one
paid a connect, asyncpg's type introspection and a cold statement cache (bench/RESULTS.md)."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.metrics import count_statements
from roughcut.storage.db import connect, make_engine

WAVES = 3
WAIT = 20.0


def _opened() -> float:
    return REGISTRY.get_sample_value("roughcut_db_connections_opened_total") or 0.0


async def _wave(engine: AsyncEngine, readers: int, peak: int) -> None:
    """`readers` reads at once, each holding its connection until `peak` connections are out together."""
    holding = 0
    full = asyncio.Event()

    async def read() -> None:
        nonlocal holding
        conn = await connect(engine, write=False)
        try:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
            holding += 1
            if holding == peak:
                full.set()
            await full.wait()
        finally:
            await conn.close()

    await asyncio.wait_for(asyncio.gather(*(read() for _ in range(readers))), WAIT)


async def test_waves_of_admitted_reads_reopen_no_connection(pg_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": pg_url})
    engine = make_engine(settings.db_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    count_statements(engine)
    peak = min(settings.api_concurrency, settings.db_pool_size + settings.db_max_overflow)
    before = _opened()
    try:
        for _ in range(WAVES):
            await _wave(engine, settings.api_concurrency, peak)
        assert _opened() - before == peak
        assert engine.sync_engine.pool.checkedin() == peak  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
