"""The async engine: PostgreSQL via asyncpg, or the embedded SQLite file (WAL) via aiosqlite.

Write slots: write transactions queue in process for a slot (`write_slot`, FIFO) *before* they take
a pooled connection, so writers waiting for each other never hold the connections reads need.

- SQLite: one slot, as the file has one write lock. The writer then BEGINs IMMEDIATE, so it never
  waits inside SQLite's polling busy handler holding a connection (which filled the pool and stalled
  every request) and never fails upgrading a read snapshot that another writer made stale. Reads
  BEGIN deferred and, under WAL, run beside the writer.
- PostgreSQL: slots for half the pool. Row locks order the writers; the cap only keeps a queue of
  writers parked on one hot project's row lock (each with a connection) from taking the whole pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from roughcut.domain import errors

SQLITE_BUSY_TIMEOUT_MS = 5000  # only another process (a CLI on the same file) can hold the lock now
# Execution option on a connection whose transactions write: SQLite begins them IMMEDIATE.
WRITER = "roughcut_writer"
# serialization_failure, deadlock_detected: the transaction did nothing and may simply run again.
CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})

SQLITE_WRITERS = 1
POOL_SHARE_OF_WRITERS = 2  # PostgreSQL: write transactions hold at most 1/2 of the pool's connections

_slots: WeakKeyDictionary[Engine, asyncio.Semaphore] = WeakKeyDictionary()


def is_conflict(exc: BaseException) -> bool:
    """Whether the database refused a transaction for a deadlock or serialization failure."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in CONFLICT_SQLSTATES


def write_slot(engine: AsyncEngine) -> asyncio.Semaphore | None:
    """The engine's write slots (waiters served in arrival order); None for an engine not made by make_engine."""
    return _slots.get(engine.sync_engine)


async def connect(engine: AsyncEngine, *, write: bool) -> AsyncConnection:
    """A pooled connection; a writer's (take the slot first) begins IMMEDIATE on SQLite."""
    conn = await engine.connect()
    if write and engine.dialect.name == "sqlite":
        try:
            await conn.execution_options(**{WRITER: True})  # this Connection only, not the pooled one
        except BaseException:
            await conn.close()
            raise
    return conn


@asynccontextmanager
async def begin_write(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction outside a unit of work (chat group commit, migrations, seeding): queued for
    a write slot; a deadlock or serialization failure is raised as TransactionConflict."""
    slot = write_slot(engine)
    queued: AbstractAsyncContextManager[Any] = slot if slot is not None else nullcontext()
    try:
        async with queued:
            conn = await connect(engine, write=True)
            try:
                async with conn.begin():
                    yield conn
            finally:
                await conn.close()
    except DBAPIError as exc:
        if is_conflict(exc):
            raise errors.TransactionConflict() from exc
        raise


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
            # A writer (holding the slot) takes the file's write lock at BEGIN, so it never has to upgrade
            # a read snapshot that another writer made stale; readers begin deferred and never wait.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITER) else "BEGIN")

        _slots[engine.sync_engine] = asyncio.Semaphore(SQLITE_WRITERS)
        return engine
    engine = create_async_engine(
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
    _slots[engine.sync_engine] = asyncio.Semaphore(max(1, (pool_size + max_overflow) // POOL_SHARE_OF_WRITERS))
    return engine
