"""Prometheus metrics of the process (exposed at /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

HTTP_REQUESTS = Histogram(
    "roughcut_http_request_duration_seconds",
    "REST request duration by route and status",
    ["method", "route", "status"],
)
DB_STATEMENTS = Counter("roughcut_db_statements_total", "SQL statements sent to the database")


def count_statements(engine: AsyncEngine) -> None:
    """Count every statement the engine executes (benchmarks read it to check N+1 freedom)."""

    def on_execute(*_args: Any) -> None:
        DB_STATEMENTS.inc()

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
