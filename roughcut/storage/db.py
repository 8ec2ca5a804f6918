"""The async engine: PostgreSQL via asyncpg, or the embedded SQLite file (WAL) via aiosqlite."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000


def _json_dumps(value: Any) -> str:
    # Times inside JSON columns (event payloads) use the API's form: UTC with `Z`.
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC).decode()


def make_engine(
    url: str, *, pool_size: int = 20, max_overflow: int = 10, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    """Build the engine with the right pool and per-connection settings for the backend."""
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, **(connect_args or {})},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Any) -> None:
            # Take the write lock at BEGIN so two writers queue instead of failing on upgrade.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        # Connections past pool_size are closed when returned; churning them costs a connect each
        # (TCP, auth, cold prepared-statement cache), so the pool holds what the node normally uses.
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip per checkout. A dropped connection fails one call, and
        # SQLAlchemy then invalidates the pool so the next calls reconnect.
        pool_recycle=1800,
        connect_args=connect_args or {},
    )
