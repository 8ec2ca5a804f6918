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
        await node_a.publish([(None, f"batch {n}".encode())])
    assert [await b.next() for _ in range(3)] == [b"batch 0", b"batch 1", b"batch 2"]
    assert await a.next() == b"batch 0"  # the sender hears itself too; the publisher skips its own


async def test_a_failing_delivery_does_not_end_the_subscription(nodes: tuple[Node, Node]) -> None:
    (_, node_a), (b, _) = nodes
    b.fail_next = True
    await node_a.publish([(None, b"poison")])
    await node_a.publish([(None, b"next")])
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
        await node_a.publish([(None, b"after")])
        assert await b.next() == b"after"
    finally:
        await admin.aclose()


async def test_a_topic_reaches_only_the_nodes_that_attend_it(nodes: tuple[Node, Node]) -> None:
    (a, node_a), (b, node_b) = nodes
    await node_b.attend(["chat:1"])  # returns once Redis confirmed: nothing published after it is missed
    await node_a.publish([("chat:1", b"for b"), ("chat:2", b"for nobody"), (None, b"for all")])
    # One connection keeps Redis's order, so the next message after "for b" shows "for nobody" never came.
    assert [await b.next(), await b.next()] == [b"for b", b"for all"]
    assert await a.next() == b"for all"  # the sender attends neither topic
    await node_b.forget(["chat:1"])
    await node_a.publish([("chat:1", b"after forget")])
    await node_a.publish([(None, b"sentinel")])
    assert await b.next() == b"sentinel"


async def test_a_topic_attended_while_the_subscription_is_down_is_subscribed_when_it_returns(
    nodes: tuple[Node, Node],
) -> None:
    (_, node_a), (b, node_b) = nodes
    admin = Redis.from_url(REDIS_URL)
    channel = node_b.topic_channel("chat:9")
    try:
        for info in await admin.client_list():
            if info.get("name") == node_b.channel:
                await admin.client_kill_filter(_id=info["id"])
        await node_b.attend(["chat:9"])
        await asyncio.wait_for(b.gaps.wait(), WAIT)  # the node resyncs its clients: the gap is covered

        async def subscribed() -> bool:
            counts = dict(await admin.pubsub_numsub(channel))
            return int(counts.get(channel.encode(), 0)) == 1

        await _until(subscribed)
        await node_a.publish([("chat:9", b"after the gap")])
        assert await b.next() == b"after the gap"
    finally:
        await admin.aclose()
