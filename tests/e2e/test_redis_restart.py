"""A Redis restart costs no request: the app's Redis clients run a command again on a fresh connection."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import pytest
from redis.asyncio import Redis

from roughcut import keys
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.helpers import PASSWORD, Mailbox, auth, create_project, join, signup
from tests.private_redis import PrivateRedis

WAIT = 5.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["restart", "crash"])
async def test_first_requests_after_a_redis_restart_succeed(
    make_client: AppFactory,
    mailbox: Mailbox,
    private_redis: PrivateRedis,
    sig: signal.Signals,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = await make_client(redis_url=private_redis.url)
    pair = await signup(client, mailbox)
    login = {"email": pair["user"]["email"], "password": PASSWORD}
    # Both the rate limiter (login) and the readiness check hold pooled connections to Redis now.
    assert (await client.post("/api/v1/auth/login", json=login)).status == 200
    assert (await client.get("/readyz")).status == 200

    await private_redis.restart(sig)

    with caplog.at_level(logging.WARNING):
        resp = await client.post("/api/v1/auth/login", json=login)
        assert resp.status == 200, await resp.text()
        ready = await client.get("/readyz")
        assert ready.status == 200, await ready.text()
    errors: list[Any] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def _subscribers(redis_url: str, channel: str) -> int:
    admin = Redis.from_url(redis_url)
    try:
        counts = dict(await admin.pubsub_numsub(channel))
        return int(counts.get(channel.encode(), 0))
    finally:
        await admin.aclose()


async def test_socket_io_nodes_hear_each_other_after_a_redis_restart(
    make_client: AppFactory, mailbox: Mailbox, private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """python-socketio's Redis manager (typing notices between nodes) reconnects and resubscribes in place."""
    node_a = await make_client(redis_url=private_redis.url)
    node_b = await make_client(redis_url=private_redis.url)
    typist, reader = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, typist))["id"]
    await join(node_a, pid, reader["user"]["id"])
    fid = await first_thread(node_a, auth(typist), pid)
    on_a = await ChatClient().connect(node_a, typist["access_token"])
    on_b = await ChatClient().connect(node_b, reader["access_token"])
    channel = f"{node_a.app[keys.SETTINGS].redis_prefix}:socketio"
    try:
        await on_a.join(fid)
        await on_b.join(fid)
        assert (await on_a.call("typing", {"feedback_id": fid, "typing": True}))["ok"] is True
        assert (await on_b.next("typing"))["typing"] is True

        with caplog.at_level(logging.WARNING):
            await private_redis.restart()
            # Each node's manager listens again once Redis counts both subscriptions (observable only there).
            async with asyncio.timeout(WAIT):
                while await _subscribers(private_redis.url, channel) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            assert (await on_a.call("typing", {"feedback_id": fid, "typing": False}))["ok"] is True
            assert (await on_b.next("typing"))["typing"] is False
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        await on_a.close()
        await on_b.close()
