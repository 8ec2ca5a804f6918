"""Redis down under the rate limiter: the API-wide budget fails open, the auth routes' security limits fail closed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from tests.conftest import AppFactory
from tests.helpers import PASSWORD, Mailbox, auth, signup, unique_email
from tests.private_redis import PrivateRedis

LIMITER_ERRORS = "roughcut_rate_limiter_errors_total"
RECOVERY_TIMEOUT = 15.0  # the limiter asks Redis again OUTAGE_RETRY_SECONDS (5 s) after its last failure
RECOVERY_POLL_SECONDS = 0.2


def _errors(mode: str) -> float:
    return REGISTRY.get_sample_value(LIMITER_ERRORS, {"mode": mode}) or 0.0


async def test_api_serves_and_auth_refuses_while_the_limiter_is_down(
    make_client: AppFactory, mailbox: Mailbox, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(redis_url=private_redis.url)
    pair = await signup(client, mailbox)
    login = {"email": pair["user"]["email"], "password": PASSWORD}
    resp = await client.get("/api/v1/me", headers=auth(pair))
    assert resp.status == 200 and "RateLimit" in resp.headers
    opened, closed = _errors("fail_open"), _errors("fail_closed")

    await private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="roughcut"):
        for _ in range(3):  # served uncounted; after the first, without asking Redis again
            resp = await client.get("/api/v1/me", headers=auth(pair))
            assert resp.status == 200, await resp.text()
            assert "RateLimit" not in resp.headers
        for url, body in (
            ("/api/v1/auth/login", login),
            ("/api/v1/auth/email-codes", {"email": unique_email(), "purpose": "signup"}),
        ):
            resp = await client.post(url, json=body)
            problem = await resp.json()
            assert (resp.status, problem["code"]) == (503, "service_unavailable"), url
            assert resp.content_type == "application/problem+json"
            assert resp.headers["Retry-After"] == "5"
    outage_logs = [r for r in caplog.records if r.getMessage().startswith("rate limiter unavailable")]
    assert len(outage_logs) == 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert _errors("fail_open") > opened
    assert _errors("fail_closed") == closed + 2  # login (stopped at its first limit) and the code

    await private_redis.start()
    resp = await client.post("/api/v1/auth/login", json=login)  # security limits count again at once
    assert resp.status == 200, await resp.text()
    with caplog.at_level(logging.WARNING, logger="roughcut"):
        async with asyncio.timeout(RECOVERY_TIMEOUT):
            # The API-wide budget comes back at the limiter's next try, observable only in responses.
            while "RateLimit" not in (await client.get("/api/v1/me", headers=auth(pair))).headers:  # noqa: ASYNC110
                await asyncio.sleep(RECOVERY_POLL_SECONDS)
    assert [r for r in caplog.records if r.getMessage().startswith("rate limiter available again")] != []
