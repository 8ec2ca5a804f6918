"""What an import did per old table: rows read, imported (new or changed), unchanged, skipped with reasons,
and a checksum over every row's id, content and outcome that a second run over the same data reproduces."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

SKIPS_LISTED = 20  # skipped rows named one by one per table; the rest are counted by reason


@dataclass
class TableReport:
    table: str
    read: int = 0
    imported: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    examples: list[tuple[int, str]] = field(default_factory=list)
    _sum: Any = field(default_factory=hashlib.sha256, repr=False)

    def ok(self, old_id: int, digest: str, *, changed: bool) -> None:
        self._count(old_id, digest, "ok")
        if changed:
            self.imported += 1
        else:
            self.unchanged += 1

    def skip(self, old_id: int, digest: str, reason: str) -> None:
        self._count(old_id, digest, f"skip:{reason}")
        self.skipped[reason] += 1
        if len(self.examples) < SKIPS_LISTED:
            self.examples.append((old_id, reason))

    def _count(self, old_id: int, digest: str, outcome: str) -> None:
        # Rows arrive in id order, so the running hash is the same whatever the batch size or the resumes.
        self.read += 1
        self._sum.update(f"{old_id}:{digest}:{outcome}\n".encode())

    @property
    def checksum(self) -> str:
        return str(self._sum.hexdigest())

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "read": self.read,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "skipped": sum(self.skipped.values()),
            "skip_reasons": dict(sorted(self.skipped.items())),
            "skipped_rows": [{"id": i, "reason": r} for i, r in self.examples],
            "checksum": self.checksum,
        }


@dataclass
class Report:
    dry_run: bool
    tables: list[TableReport] = field(default_factory=list)

    def table(self, name: str) -> TableReport:
        found = TableReport(name)
        self.tables.append(found)
        return found

    def by_table(self) -> dict[str, TableReport]:
        return {t.table: t for t in self.tables}

    def render(self) -> str:
        """The report as text, one line per table and one per skipped row listed."""
        head = "dry run: nothing was written\n" if self.dry_run else ""
        lines = [f"{'table':32} {'read':>8} {'imported':>8} {'unchanged':>9} {'skipped':>8}  checksum"]
        for t in self.tables:
            skipped = sum(t.skipped.values())
            lines.append(f"{t.table:32} {t.read:>8} {t.imported:>8} {t.unchanged:>9} {skipped:>8}  {t.checksum[:16]}")
            lines.extend(f"    skipped {t.table} id {i}: {r}" for i, r in t.examples)
            more = skipped - len(t.examples)
            if more > 0:
                lines.append(f"    ... {more} more: " + ", ".join(f"{r} ({n})" for r, n in t.skipped.most_common()))
        return head + "\n".join(lines)
