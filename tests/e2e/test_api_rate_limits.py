"""API-wide rate limits: per user and per client address, announced on every response, 429 past either."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.config import RateLimit, Settings
from tests.conftest import GENEROUS, AppFactory
from tests.e2e.test_sse import _open, _team
from tests.helpers import Mailbox, auth, signup

Limited = Callable[..., Awaitable[TestClient[Any, Any]]]
REMAINING = re.compile(r'^"(ip|user)";r=(\d+);t=(\d+)$')


@pytest.fixture(params=["postgres_redis", "sqlite_local"])
def limited(
    request: pytest.FixtureRequest, make_client: AppFactory, sqlite_settings: Settings, redis_prefix: str
) -> Limited:
    """The app with the given limits and counters of its own (other tests also call from 127.0.0.1)."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        if request.param == "sqlite_local":
            return await make_client(sqlite_settings, **overrides)  # a fresh app: fresh in-process counters
        return await make_client(redis_prefix=f"{redis_prefix}:rl{uuid.uuid4().hex}", **overrides)

    return make


def _remaining(resp: Any) -> tuple[str, int, int]:
    found = REMAINING.match(resp.headers["RateLimit"])
    assert found is not None, resp.headers["RateLimit"]
    return found.group(1), int(found.group(2)), int(found.group(3))


async def test_every_response_says_where_the_caller_stands(limited: Limited, mailbox: Mailbox) -> None:
    client = await limited(rate_api=RateLimit(50, 60), rate_api_ip=RateLimit(100, 60))
    anonymous = await client.get("/api/v1/openapi.json")
    assert anonymous.headers["RateLimit-Policy"] == '"ip";q=100;w=60'
    assert _remaining(anonymous) == ("ip", 99, 60)
    refused = await client.get("/api/v1/projects")  # a 401 problem is counted and announced too
    assert refused.status == 401
    assert _remaining(refused) == ("ip", 98, 60)

    pair = await signup(client, mailbox)
    resp = await client.get("/api/v1/projects", headers=auth(pair))
    assert resp.status == 200
    assert resp.headers["RateLimit-Policy"] == '"ip";q=100;w=60, "user";q=50;w=60'
    assert _remaining(resp) == ("user", 49, 60)


# /projects is a cached read: its limits are counted through the read gate, with its lookup (storage/read_gate.py).
@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/projects"])
async def test_a_user_past_the_limit_is_refused_and_others_are_not(
    limited: Limited, mailbox: Mailbox, path: str
) -> None:
    client = await limited(rate_api=RateLimit(4, 60), rate_api_ip=GENEROUS)
    a, b = await signup(client, mailbox), await signup(client, mailbox)
    for _ in range(4):
        assert (await client.get(path, headers=auth(a))).status == 200
    over = await client.get(path, headers=auth(a))
    assert over.status == 429
    assert (await over.json())["code"] == "rate_limited"
    policy, remaining, reset = _remaining(over)
    assert (policy, remaining) == ("user", 0)
    assert 0 < reset <= 60
    assert over.headers["Retry-After"] == str(reset)
    assert (await client.get(path, headers=auth(b))).status == 200


async def test_an_address_past_the_limit_is_refused(limited: Limited) -> None:
    client = await limited(rate_api_ip=RateLimit(2, 60))
    assert [(await client.get("/api/v1/openapi.json")).status for _ in range(3)] == [200, 200, 429]


async def test_a_routes_own_limit_stays_the_binding_one(limited: Limited) -> None:
    client = await limited(rate_login=RateLimit(1, 60))
    body = {"email": "nobody@example.com", "password": "wrong password"}
    assert (await client.post("/api/v1/auth/login", json=body)).status == 401
    over = await client.post("/api/v1/auth/login", json=body)
    assert over.status == 429
    assert over.headers["RateLimit"].startswith('"default";r=0;')
    assert over.headers["RateLimit-Policy"].startswith('"default";q=1;w=60, "ip";')


async def test_the_event_stream_is_announced_too(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    assert '"user";q=' in resp.headers["RateLimit-Policy"]
    assert _remaining(resp)[1] > 0
    resp.close()
