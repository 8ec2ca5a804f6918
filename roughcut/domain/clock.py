"""The real clock (tests pass their own Clock)."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Clock port: the current UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)
