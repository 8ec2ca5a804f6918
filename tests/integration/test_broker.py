"""The event broker on real Redis: notices cross nodes, and a dropped subscriber reconnects and catches up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from roughcut.storage.broker import LocalBroker, Notifier, RedisBroker, Subscription
from tests.conftest import REDIS_URL

WAIT = 5.0
Node = tuple[Notifier, RedisBroker]


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Node, Node]]:
    """Two started brokers (two "nodes") on a channel of their own."""
    prefix = f"rctest-broker-{uuid.uuid4().hex[:10]}"
    a, b = Notifier(), Notifier()
    node_a, node_b = RedisBroker(REDIS_URL, prefix, a), RedisBroker(REDIS_URL, prefix, b)
    await node_a.start()
    await node_b.start()
    yield (a, node_a), (b, node_b)
    await node_a.stop()
    await node_b.stop()


async def _woken(sub: Subscription) -> None:
    await asyncio.wait_for(sub.wait(), WAIT)


async def _not_woken(sub: Subscription) -> bool:
    # A woken waiter returns without suspending, so a zero timeout only fires on one that was not woken.
    try:
        async with asyncio.timeout(0):
            await sub.wait()
    except TimeoutError:
        return True
    return False


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll state held by Redis until it holds, within WAIT."""
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 - the state lives in Redis, not in an awaitable here
            await asyncio.sleep(0.05)


async def test_a_notice_reaches_every_node_and_only_that_projects_waiters(nodes: tuple[Node, Node]) -> None:
    (a, node_a), (b, _) = nodes
    with b.listen(7) as wanted, b.listen(8) as other, a.listen(7) as own:
        await node_a.publish({"project_id": 7, "event_id": 41, "type": "stage.changed"})
        await _woken(wanted)
        await _woken(own)
        assert await _not_woken(other)
        assert await _not_woken(wanted)  # consumed: the next wait needs new news
    assert b.listeners(7) == b.listeners(8) == 0


async def test_a_dropped_subscriber_wakes_its_waiters_and_resubscribes(nodes: tuple[Node, Node]) -> None:
    (a, node_a), (b, node_b) = nodes
    admin = Redis.from_url(REDIS_URL)
    try:
        with a.listen(1) as on_a, b.listen(1) as on_b:
            for info in await admin.client_list():
                if info.get("name") == node_b.channel:
                    await admin.client_kill_filter(_id=info["id"])
            # Notices sent during the gap are lost, so every waiter is told to re-read the log.
            await _woken(on_a)
            await _woken(on_b)

            async def both_subscribed() -> bool:
                counts = dict(await admin.pubsub_numsub(node_b.channel))
                return int(counts.get(node_b.channel.encode(), 0)) == 2

            await _until(both_subscribed)
            await node_a.publish({"project_id": 1, "event_id": 2, "type": "memo.changed"})
            await _woken(on_b)
            await _woken(on_a)
    finally:
        await admin.aclose()


async def test_close_wakes_every_waiter_for_good() -> None:
    notifier = Notifier()
    broker = LocalBroker(notifier)
    with notifier.listen(3) as sub:
        await broker.publish({"project_id": 3, "event_id": 1, "type": "project.updated"})
        await _woken(sub)
        notifier.close()
        await _woken(sub)
        await _woken(sub)
        assert sub.closed
    with notifier.listen(4) as late:
        await _woken(late)
    assert notifier.listeners(3) == notifier.listeners(4) == 0
