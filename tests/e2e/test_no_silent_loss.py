"""No silent loss across nodes: a batch the broker refused, or a subscription that dropped, ends in a `resync`
to every affected client, which re-joins from its last seq and so ends with every message (recovery.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from roughcut.app import SERVICES
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth, create_project, join, signup
from tests.private_redis import PrivateRedis

# The broker's subscriber retries with back-off (0.5 s, doubling): a short outage is over within a few.
RECOVER_WAIT = 20.0
DURING = 3  # messages sent while Redis is down


async def _room(node: TestClient[Any, Any], mailbox: Mailbox) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    sender, reader = await signup(node, mailbox), await signup(node, mailbox)
    pid = (await create_project(node, sender))["id"]
    await join(node, pid, reader["user"]["id"])
    return sender, reader, pid, await first_thread(node, auth(sender), pid)


async def _follow(chat: ChatClient, fid: int, seen: set[int], until: int) -> None:
    """Take live messages, and re-join from the last seq after a `resync`, until `until` was seen."""
    async with asyncio.timeout(RECOVER_WAIT):
        while until not in seen:
            message = asyncio.ensure_future(chat.inbox["message"].get())
            resync = asyncio.ensure_future(chat.inbox["resync"].get())
            done, pending = await asyncio.wait({message, resync}, return_when=asyncio.FIRST_COMPLETED)
            for waiting in pending:
                waiting.cancel()  # a getter that has not completed took nothing from its queue
            if message in done:
                seen.add(int(message.result()["seq"]))
            if resync in done:
                rejoined = await chat.join(fid, after_seq=max(seen))
                seen.update(int(m["seq"]) for m in rejoined["data"]["missed"])


async def test_a_client_connected_through_a_redis_restart_ends_with_every_message(
    make_client: AppFactory, mailbox: Mailbox, private_redis: PrivateRedis
) -> None:
    node_a = await make_client(redis_url=private_redis.url)
    node_b = await make_client(redis_url=private_redis.url)
    sender, reader, pid, fid = await _room(node_a, mailbox)
    on_a = await ChatClient().connect(node_a, sender["access_token"])
    on_b = await ChatClient().connect(node_b, reader["access_token"])
    feed_b = await Feed().connect(node_b, reader["access_token"])
    try:
        await on_a.join(fid)
        await on_b.join(fid)
        assert (await feed_b.subscribe(pid))["ok"] is True
        await on_a.send(fid, "before")
        last_seen = int((await on_b.next())["seq"])

        await private_redis.stop()
        sent = [await on_a.send(fid, f"during-{i}") for i in range(DURING)]
        assert all(s["ok"] for s in sent)  # stored: the senders hear ok
        await private_redis.start()

        async with asyncio.timeout(RECOVER_WAIT):
            assert await on_b.inbox["resync"].get() == {"feedback_id": fid}
            assert await feed_b.resyncs.get() == {"project_id": pid}
        rejoined = await on_b.join(fid, after_seq=last_seen)
        missed = [m["seq"] for m in rejoined["data"]["missed"]]
        assert missed == [s["data"]["message"]["seq"] for s in sent]

        # From here the client follows the contract: messages, and a re-join on each further resync.
        after = int((await on_a.send(fid, "after"))["data"]["message"]["seq"])
        seen = {last_seen, *missed}
        await _follow(on_b, fid, seen, after)
        assert seen >= set(range(last_seen, after + 1))
    finally:
        await on_a.close()
        await on_b.close()
        await feed_b.close()


async def test_a_batch_the_broker_refused_makes_the_other_nodes_resync_its_rooms(
    make_client: AppFactory, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only this node's publish fails (the other node's subscription stays): the notice alone recovers it."""
    node_a, node_b = await make_client(), await make_client()
    sender, reader, _pid, fid = await _room(node_a, mailbox)
    on_a = await ChatClient().connect(node_a, sender["access_token"])
    on_b = await ChatClient().connect(node_b, reader["access_token"])
    broker = node_a.app[SERVICES].publisher._broker
    publish = broker.publish
    refused: list[bytes] = []

    async def refuse_once(messages: Sequence[tuple[str | None, bytes]]) -> None:
        if not refused:
            refused.extend(body for _, body in messages)
            raise RedisConnectionError("Redis went away")
        await publish(messages)

    try:
        await on_a.join(fid)
        last_seen = int((await on_b.join(fid))["data"]["last_seq"])
        monkeypatch.setattr(broker, "publish", refuse_once)
        lost = await on_a.send(fid, "lost on the way")
        assert lost["ok"] is True and refused
        assert await on_b.next("resync") == {"feedback_id": fid}
        assert on_b.inbox["message"].empty()  # the batch itself never crossed
        missed = (await on_b.join(fid, after_seq=last_seen))["data"]["missed"]
        assert [m["seq"] for m in missed] == [lost["data"]["message"]["seq"]]
        later = await on_a.send(fid, "next")
        assert (await on_b.next())["seq"] == later["data"]["message"]["seq"]
    finally:
        await on_a.close()
        await on_b.close()
