"""The async engine: PostgreSQL via asyncpg, or the embedded SQLite file (WAL) via aiosqlite.

Write slots: write transactions queue in process for a slot (`write_slot`, FIFO) *before* they take
a pooled connection, so writers waiting for each other never hold the connections reads need.

- SQLite: one slot, as the file has one write lock. The writer then BEGINs IMMEDIATE, so it never
  waits inside SQLite's polling busy handler holding a connection (which filled the pool and stalled
  every request) and never fails upgrading a read snapshot that another writer made stale. Reads
  BEGIN deferred and, under WAL, run beside the writer.
- PostgreSQL: slots for half the pool. Row locks order the writers; the cap only keeps a queue of
  writers parked on one hot project's row lock (each with a connection) from taking the whole pool.

Reads on PostgreSQL run without an explicit transaction (`connect(write=False)`: AUTOCOMMIT). A read
transaction bought nothing there: at READ COMMITTED, the isolation every connection uses, each statement
takes its own snapshot whether or not a BEGIN came first, so a read of several statements was never one
snapshot. It cost two round trips (BEGIN, ROLLBACK) and, worse, left the connection `idle in transaction`
on the server whenever the request waited for the CPU between its statements. Safety net: a unit of work
that is not declared `@writes` but writes anyway (storage tests drive `SqlUnitOfWork` directly) gets its
transaction back at its first statement that is not a plain SELECT (a write, or a SELECT ... FOR UPDATE
/ SHARE): `_begin_at_first_write` turns autocommit off just before it, so from there to `commit()` it is
one transaction, as before; the plain SELECTs before it saw what they would have seen inside one.
SQLite keeps its deferred BEGIN for reads: it is local (no round trip) and, under WAL, it is what holds
one snapshot across the read's statements.
"""

from __future__ import annotations

import asyncio
import functools
import re
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
# Execution option on a PostgreSQL read connection (AUTOCOMMIT) that begins a transaction at its first write.
READER = "roughcut_reader"
# A SELECT that locks rows needs the transaction that holds the locks.
_LOCKING = re.compile(r"\bFOR\s+(?:UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b", re.IGNORECASE)
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
    """A pooled connection; a writer's (take the slot first) begins IMMEDIATE on SQLite; a reader's runs
    each statement on its own on PostgreSQL (no BEGIN, no ROLLBACK, never idle in a transaction)."""
    conn = await engine.connect()
    if write and engine.dialect.name == "sqlite":
        options: dict[str, Any] = {WRITER: True}
    elif not write and engine.dialect.name == "postgresql":
        options = {"isolation_level": "AUTOCOMMIT", READER: True}
    else:
        return conn
    try:
        await conn.execution_options(**options)  # this Connection only; the pool resets it on return
    except BaseException:
        await conn.close()
        raise
    return conn


@functools.lru_cache(maxsize=1024)  # the statements are the compiled cache's strings: a few hundred distinct ones
def _plain_read(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT" and _LOCKING.search(statement) is None


def _begin_at_first_write(conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
    """On a read connection, turn autocommit off before its first write or locking read: the statement then
    BEGINs, and what follows up to commit or rollback is one transaction (see the module docstring)."""
    if conn.get_execution_options().get(READER) and not _plain_read(statement):
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.detect_autocommit_setting(dbapi):
            conn.dialect.set_isolation_level(dbapi, conn.dialect.default_isolation_level)


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
    url: str, *, pool_size: int = 30, max_overflow: int = 0, connect_args: dict[str, Any] | None = None
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
        # (TCP, auth, type introspection, cold prepared-statement cache), so the pool holds what the
        # node may use and overflow is off by default (config/settings.py).
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a round trip per checkout. A dropped connection fails one call, and
        # SQLAlchemy then invalidates the pool so the next calls reconnect.
        pool_recycle=1800,
        connect_args=connect_args or {},
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _begin_at_first_write)
    _slots[engine.sync_engine] = asyncio.Semaphore(max(1, (pool_size + max_overflow) // POOL_SHARE_OF_WRITERS))
    return engine
