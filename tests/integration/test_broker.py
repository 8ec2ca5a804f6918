"""The node-to-node broker on real Redis: messages cross nodes, a dropped subscriber resubscribes and says so."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from roughcut.storage.broker import RedisBroker
from tests.conftest import REDIS_URL

WAIT = 5.0


class Inbox:
    """What one node's broker delivered, and how often it had to resubscribe."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()
        self.gaps = asyncio.Event()
        self.fail_next = False

    async def deliver(self, raw: bytes) -> None:
        if self.fail_next:
            self.fail_next = False
            raise ValueError("cannot apply")
        await self.messages.put(raw)

    def resubscribed(self) -> None:
        self.gaps.set()

    async def next(self) -> bytes:
        return await asyncio.wait_for(self.messages.get(), WAIT)


Node = tuple[Inbox, RedisBroker]


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    """Two started brokers (two "nodes") on a channel of their own."""
    prefix = f"rctest-broker-{uuid.uuid4().hex[:10]}"
    a, b = Inbox(), Inbox()
    node_a, node_b = RedisBroker(REDIS_URL, prefix), RedisBroker(REDIS_URL, prefix)
    await node_a.start(a.deliver, a.resubscribed)
    await node_b.start(b.deliver, b.resubscribed)
    yield (a, node_a), (b, node_b)
    await node_a.stop()
    await node_b.stop()


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll state held by Redis until it holds, within WAIT."""
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 - the state lives in Redis, not in an awaitable here
            await asyncio.sleep(0.05)


async def test_a_message_reaches_every_node_in_order(nodes: tuple[Node, Node]) -> None:
    (a, node_a), (b, _) = nodes
    for n in range(3):
        await node_a.publish(f"batch {n}".encode())
    assert [await b.next() for _ in range(3)] == [b"batch 0", b"batch 1", b"batch 2"]
    assert await a.next() == b"batch 0"  # the sender hears itself too; the publisher skips its own


async def test_a_failing_delivery_does_not_end_the_subscription(nodes: tuple[Node, Node]) -> None:
    (_, node_a), (b, _) = nodes
    b.fail_next = True
    await node_a.publish(b"poison")
    await node_a.publish(b"next")
    assert await b.next() == b"next"


async def test_a_dropped_subscriber_resubscribes_and_reports_the_gap(nodes: tuple[Node, Node]) -> None:
    (a, node_a), (b, node_b) = nodes
    admin = Redis.from_url(REDIS_URL)
    try:
        for info in await admin.client_list():
            if info.get("name") == node_b.channel:
                await admin.client_kill_filter(_id=info["id"])
        # Messages sent during the gap are lost, so both nodes are told to catch up from the logs.
        await asyncio.wait_for(a.gaps.wait(), WAIT)
        await asyncio.wait_for(b.gaps.wait(), WAIT)

        async def both_subscribed() -> bool:
            counts = dict(await admin.pubsub_numsub(node_b.channel))
            return int(counts.get(node_b.channel.encode(), 0)) == 2

        await _until(both_subscribed)
        await node_a.publish(b"after")
        assert await b.next() == b"after"
    finally:
        await admin.aclose()
