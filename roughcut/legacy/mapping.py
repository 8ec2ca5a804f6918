"""Old table + old id → new id, with the digest of the old row as last imported (the `legacy_map` table).

A dry run reads the mapping but writes nothing: what it would have mapped is kept in memory, so later
tables resolve their references exactly as a real run would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.storage import tables as t

M = t.legacy_map


@dataclass(frozen=True, slots=True)
class Mapped:
    new_id: int | None
    digest: str


class Mapping:
    """Lookups and records inside the batch's transaction (`conn`), or in memory for a dry run."""

    def __init__(self, *, dry: bool) -> None:
        self._dry = dry
        self._memory: dict[tuple[str, int], Mapped] = {}
        self._claims: set[tuple[str, Any]] = set()
        self._next_dry_id = 0

    def dry_ids(self, count: int) -> list[int]:
        """Ids a dry run pretends new rows got: negative, so they never meet a real one, and distinct."""
        first = self._next_dry_id
        self._next_dry_id -= count
        return list(range(first - 1, first - count - 1, -1))

    def claimed(self, kind: str, keys: Iterable[Any]) -> set[Any]:
        """Of `keys`, those a dry run would have written already (a real run finds them in the database)."""
        return {k for k in keys if (kind, k) in self._claims}

    def claim(self, kind: str, key: Any) -> None:
        if self._dry:
            self._claims.add((kind, key))

    async def lookup(self, conn: AsyncConnection, table: str, old_ids: Iterable[int | None]) -> dict[int, Mapped]:
        """The mappings of those old ids that have one."""
        wanted = sorted({i for i in old_ids if i is not None})
        found: dict[int, Mapped] = {}
        if wanted:
            q = select(M.c.old_id, M.c.new_id, M.c.digest).where(M.c.old_table == table, M.c.old_id.in_(wanted))
            found = {r.old_id: Mapped(r.new_id, r.digest) for r in await conn.execute(q)}
        for old_id in wanted:
            if (table, old_id) in self._memory:
                found[old_id] = self._memory[(table, old_id)]
        return found

    async def record(
        self, conn: AsyncConnection, table: str, entries: list[tuple[int, int | None, str, bool]], now: datetime
    ) -> None:
        """Map old rows (`new`) or note their new digest: entries of (old id, new id, digest, new)."""
        if self._dry:
            self._memory.update({(table, old): Mapped(new_id, digest) for old, new_id, digest, _new in entries})
            return
        fresh = [
            {"old_table": table, "old_id": old, "new_id": new_id, "digest": digest, "imported_at": now}
            for old, new_id, digest, new in entries
            if new
        ]
        if fresh:
            await conn.execute(insert(M), fresh)
        for old, new_id, digest, new in entries:
            if not new:
                await conn.execute(
                    update(M)
                    .where(M.c.old_table == table, M.c.old_id == old)
                    .values(new_id=new_id, digest=digest, imported_at=now)
                )
