"""Redis clients that ride out a Redis restart: a command that met a dropped connection runs again.

A restart closes every pooled connection, so the first command on each one fails ("Connection closed
by server") and, while Redis is starting, connecting is refused. redis-py's retry closes the broken
connection and runs the command again on a fresh one, after a short backoff that bridges a quick
restart; a longer outage still fails within about two seconds instead of holding requests.

A retried command may have run once already (the reply, not the command, was lost), so only clients
whose every command is safe to run twice take this policy; each caller says why its commands are.
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import EqualJitterBackoff, NoBackoff

RETRIES = 3  # after the first try; connecting retries the same number of times within each try
BACKOFF_BASE_SECONDS = 0.05  # waits of ~0.05-0.1 s, ~0.1-0.2 s, then ~0.13-0.25 s (jittered: nodes spread out)
BACKOFF_CAP_SECONDS = 0.25
RETRY_ON = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def retry_options() -> dict[str, Any]:
    """redis-py client options: retry a command on a fresh connection after a connection error or timeout."""
    return {
        "retry": Retry(EqualJitterBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS), RETRIES, RETRY_ON),
        "retry_on_error": list(RETRY_ON),
    }


def connect(url: str, **options: Any) -> Redis:
    """A client for `url` (no connection is opened yet) that retries per `retry_options`."""
    return Redis.from_url(url, **retry_options(), **options)


def connect_fail_fast(url: str, timeout: float) -> Redis:
    """A client for `url` that never retries and gives up after `timeout` seconds: for a caller that would
    rather go without Redis than wait for it (the response cache)."""
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
