"""One batch of old rows inside one roughcut transaction: what changed, references, outcomes, the mapping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.legacy import rules
from roughcut.legacy.mapping import Mapped, Mapping

T = TypeVar("T")
Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    digest: str
    skipped: str | None  # the reason, or None when the row is in roughcut
    changed: bool


@dataclass
class Batch:
    """Handlers ask it what changed, resolve references, write (nothing on a dry run) and note outcomes."""

    conn: AsyncConnection
    now: datetime
    mapping: Mapping
    dry: bool
    table: str
    extra: Any = None
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    _entries: list[tuple[int, int | None, str, bool]] = field(default_factory=list)

    async def pending(
        self, rows: Iterable[Row], extra_of: Callable[[Row], Any] = lambda _row: None
    ) -> list[tuple[Row, str, Mapped | None]]:
        """The rows that are new or changed since their last import; the unchanged ones are noted here."""
        rows = list(rows)
        known = await self.mapping.lookup(self.conn, self.table, [r["id"] for r in rows])
        todo = []
        for row in rows:
            d = rules.digest(row, extra_of(row))
            prev = known.get(row["id"])
            if prev is not None and prev.digest == d:
                self.outcomes[row["id"]] = Outcome(d, None, changed=False)
            else:
                todo.append((row, d, prev))
        return todo

    async def refs(self, table: str, old_ids: Iterable[Any]) -> dict[Any, int | None]:
        """Old ids of another table → the roughcut ids they became (only those imported)."""
        found = await self.mapping.lookup(self.conn, table, [i for i in old_ids if isinstance(i, int)])
        return {old: m.new_id for old, m in found.items()}

    def skip(self, row: Row, digest: str, reason: str) -> None:
        self.outcomes[row["id"]] = Outcome(digest, reason, changed=False)

    def done(self, row: Row, digest: str, prev: Mapped | None, new_id: int | None) -> None:
        self.outcomes[row["id"]] = Outcome(digest, None, changed=True)
        self._entries.append((row["id"], new_id, digest, prev is None))

    async def write(self, dry_result: T, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`fn(conn, *args)`, or `dry_result` on a dry run."""
        return dry_result if self.dry else await fn(self.conn, *args)

    async def flush(self) -> None:
        """Record the mapping of what this batch imported (in its transaction)."""
        await self.mapping.record(self.conn, self.table, self._entries, self.now)
        self._entries.clear()
