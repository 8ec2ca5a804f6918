"""Behind a trusted load balancer the client's address comes from X-Forwarded-For (rate limits key on it);
from anyone else the header is ignored, so a client cannot pick its own address."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from roughcut.config import RateLimit, Settings
from tests.helpers import unique_email

TWO_PER_MINUTE = RateLimit(2, 60)


def _own_prefix(settings: Settings) -> str:
    """Rate-limit keys of this test only (the run's prefix is shared by every test; cleaned up with it)."""
    return f"{settings.redis_prefix}:fwd{uuid.uuid4().hex[:8]}"


async def _login(client: Any, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    body = {"email": unique_email(), "password": "wrong-password-1"}
    resp = await client.post("/api/v1/auth/login", json=body, headers=headers)
    return int(resp.status)


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
async def test_the_client_address_comes_from_a_trusted_proxy_only(
    make_client: Any, pg_settings: Settings, sqlite_settings: Settings, db: str
) -> None:
    base = pg_settings if db == "postgres" else sqlite_settings
    # The test client connects from 127.0.0.1: here that is the load balancer.
    client = await make_client(
        base, trusted_proxies=("127.0.0.1/32",), rate_login_ip=TWO_PER_MINUTE, redis_prefix=_own_prefix(pg_settings)
    )
    assert [await _login(client, "203.0.113.5") for _ in range(3)] == [401, 401, 429]
    assert await _login(client, "203.0.113.6") == 401  # another client behind the proxy has its own budget
    # Entries a client wrote itself sit left of what the proxy appended: the rightmost untrusted one counts.
    assert await _login(client, "198.51.100.1, 203.0.113.5") == 429
    assert await _login(client, "203.0.113.6, 127.0.0.1") == 401  # a trusted hop is skipped


async def test_without_trusted_proxies_the_header_is_ignored(make_client: Any, pg_settings: Settings) -> None:
    client = await make_client(rate_login_ip=TWO_PER_MINUTE, redis_prefix=_own_prefix(pg_settings))
    statuses = [await _login(client, f"203.0.113.{n}") for n in range(3)]
    assert statuses == [401, 401, 429]  # every attempt counted against the real peer, 127.0.0.1
