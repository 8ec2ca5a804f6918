"""The old database, read only: reflected tables, pages by id (memory stays flat), rows by id."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

Row = dict[str, Any]


def source_url(given: str) -> tuple[str, dict[str, Any]]:
    """The async URL and connect arguments of `--from`: a PostgreSQL URL or a SQLite file, opened read-only."""
    if given.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        url = "postgresql+asyncpg://" + given.split("://", 1)[1]
        return url, {"server_settings": {"default_transaction_read_only": "on"}}
    path = Path(given.removeprefix("sqlite:///")).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no SQLite database at {path}")
    return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", {}


class Source:
    """The reflected old schema; every read is its own short read-only transaction."""

    def __init__(self, engine: AsyncEngine, tables: dict[str, Table]) -> None:
        self._engine = engine
        self.tables = tables

    @classmethod
    async def open(cls, given: str) -> Source:
        url, args = source_url(given)
        engine = create_async_engine(url, connect_args=args)
        try:
            async with engine.connect() as conn:
                tables = await conn.run_sync(_reflect)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, tables)

    async def close(self) -> None:
        await self._engine.dispose()

    def has(self, table: str, column: str | None = None) -> bool:
        """True when the old database has the table (and the column: the later versions add some)."""
        found = self.tables.get(table)
        return found is not None and (column is None or column in found.c)

    async def count(self, table: str) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(self.tables[table]))).scalar_one())

    async def pages(self, table: str, size: int) -> AsyncIterator[list[Row]]:
        """Every row by id, `size` at a time (keyset: each page is one query, nothing held between pages)."""
        t = self.tables[table]
        after: int | None = None
        while True:
            q = select(t).order_by(t.c.id).limit(size)
            if after is not None:
                q = q.where(t.c.id > after)
            async with self._engine.connect() as conn:
                rows = [dict(r) for r in (await conn.execute(q)).mappings()]
            if not rows:
                return
            yield rows
            after = rows[-1]["id"]

    async def by_ids(self, table: str, column: str, values: Iterable[Any]) -> list[Row]:
        """Rows whose `column` is one of `values` (none when the table is missing)."""
        wanted = sorted({v for v in values if v is not None})
        if not wanted or table not in self.tables:
            return []
        t = self.tables[table]
        async with self._engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(select(t).where(t.c[column].in_(wanted)))).mappings()]


def _reflect(conn: Connection) -> dict[str, Table]:
    names = [n for n in inspect(conn).get_table_names() if n.split("_", 1)[0] in OLD_APPS]
    meta = MetaData()
    meta.reflect(conn, only=names)
    return dict(meta.tables)


OLD_APPS = frozenset({"users", "projects", "feedbacks", "onlines"})
