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
# Connections the pool opened: steady growth under steady load means the pool closes what it soon reopens.
DB_CONNECTS = Counter("roughcut_db_connections_opened_total", "Database connections the pool opened")
# Calls of the old single-page app's endpoints: when they stop, LEGACY_API=false switches the layer off.
LEGACY_CALLS = Counter("roughcut_legacy_calls_total", "Calls of the old single-page app's endpoints", ["route"])
# What other nodes' batches cost this node: room routing (realtime/routing.py) keeps these to what its clients need.
BROKER_RECEIVED = Counter("roughcut_broker_received_messages_total", "Broker messages this node received and decoded")
PRESENCE_CHANGES = Counter("roughcut_presence_changes_total", "Coalesced presence changes this node published")
# Attempts of background jobs by kind: ok, failed (retried later) or dead (the last); webhook deliveries
# are kind="webhook.deliver".
JOB_OUTCOMES = Counter("roughcut_jobs_total", "Job attempts by kind and outcome", ["kind", "outcome"])
# Rate limit checks the limiter's store (Redis) could not answer: the API-wide budget let the request through
# (fail_open), a security limit of an auth route refused it with 503 (fail_closed).
LIMITER_ERRORS = Counter("roughcut_rate_limiter_errors_total", "Rate limit checks that could not be made", ["mode"])
BROKER_RECEIVED_BYTES = Counter("roughcut_broker_received_bytes_total", "Bytes of broker messages this node decoded")
# Reads the response cache could answer (http/cached_reads.py), by resource: hit, or miss (rendered; also
# every read while the cache is unavailable).
CACHE_READS = Counter(
    "roughcut_response_cache_reads_total", "Cacheable reads by resource and outcome", ["resource", "outcome"]
)
# The chat's group commit (storage/repos/chat.py): transactions, and the sends they stored or refused together.
CHAT_BATCHES = Counter("roughcut_chat_batches_total", "Chat group-commit transactions attempted")
CHAT_BATCHED_SENDS = Counter("roughcut_chat_batched_sends_total", "Chat sends in group-commit transactions")

# REST admission control (http/admission.py): admitted at once, admitted after waiting in the queue, refused
# because the queue was full, or refused because the wait outlasted API_QUEUE_TIMEOUT_MS.
ADMISSIONS = Counter("roughcut_api_admissions_total", "REST requests by admission outcome", ["outcome"])


def count_statements(engine: AsyncEngine) -> None:
    """Count every statement the engine executes (benchmarks read it to check N+1 freedom) and every
    connection its pool opens."""

    def on_execute(*_args: Any) -> None:
        DB_STATEMENTS.inc()

    def on_connect(*_args: Any) -> None:
        DB_CONNECTS.inc()

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine, "connect", on_connect)
