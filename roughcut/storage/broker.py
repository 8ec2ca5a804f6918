"""Node-to-node transport of committed batches: Redis pub/sub, or nothing on the embedded single node.

A message is opaque bytes with a topic (the publisher encodes one per committed batch and topic).
Messages without a topic reach every node on `{prefix}:events`; a topic's messages (one chat thread, one
project) reach only the nodes that attend it, on `{prefix}:events:{topic}`, so a node receives and
decodes only what its own clients need (room-routed fan-out). `attend` returns once Redis confirmed
the subscription: a caller that then reads the durable log misses nothing committed after that read.
Pub/sub keeps no backlog: after the subscription was lost, `resubscribed` tells the node to catch up
from the durable logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from roughcut.storage import redis_client

log = logging.getLogger(__name__)

CHANNEL_SUFFIX = "events"
HEALTH_CHECK_SECONDS = 15  # PING an idle subscriber connection this often
# Longest single read on the subscriber connection: subscription changes (a room entered on this node) are
# sent between reads, by the listener alone, so a new topic waits at most this long plus a round trip.
LISTEN_TICK_SECONDS = 0.05
START_WAIT_SECONDS = 5.0  # how long start() waits for the first subscription before going on in background
ATTEND_WAIT_SECONDS = 2.0  # how long attend() waits for Redis to confirm; past it the node resyncs on return
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0

# One round trip for a batch that touched several topics; a retried call may publish twice, which
# receivers tolerate (delivery is at-least-once, see RedisBroker.start).
_PUBLISH_ALL = """
for i = 1, #KEYS do
  redis.call('PUBLISH', KEYS[i], ARGV[i])
end
return #KEYS
"""

Deliver = Callable[[bytes], Awaitable[None]]
Resubscribed = Callable[[], None]


Message = tuple[str | None, bytes]  # (topic, or None for every node; body)


class LocalBroker:
    """The embedded default: a single node, so there is no one else to tell."""

    async def publish(self, messages: Sequence[Message]) -> None:
        """Nothing to carry."""

    async def attend(self, topics: Collection[str]) -> None:
        """Nothing to subscribe to."""

    async def forget(self, topics: Collection[str]) -> None:
        """Nothing to unsubscribe from."""

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class RedisBroker:
    """Redis pub/sub: `{prefix}:events` for every node plus one channel per attended topic, on one
    subscriber connection per node."""

    def __init__(self, url: str, prefix: str) -> None:
        self.channel = f"{prefix}:{CHANNEL_SUFFIX}"
        self._url = url
        self._client: Redis | None = None
        self._publish_all: Any = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._deliver: Deliver | None = None
        self._resubscribed: Resubscribed = lambda: None
        self._topics: set[str] = set()  # attended: subscribed, or to be subscribed once Redis is back
        self._confirm: dict[str, asyncio.Future[None]] = {}  # channel -> waiting for Redis's confirmation
        self._release: dict[str, asyncio.Future[None]] = {}  # channel -> waiting for the unsubscribe
        self._changes = asyncio.Event()  # attended topics changed: the listener (re)subscribes

    def topic_channel(self, topic: str) -> str:
        """The channel of one topic's messages."""
        return f"{self.channel}:{topic}"

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        """Start the subscriber task; wait (briefly) until it listens, so no early message is missed."""
        self._deliver, self._resubscribed = deliver, resubscribed
        # Retries after a dropped connection (a Redis restart). A retried PUBLISH may reach the other nodes
        # twice; applying a dispatch twice is harmless (closing rooms and ending sessions are idempotent,
        # and clients drop the message seq and event ids they have seen: delivery is at-least-once).
        # The subscriber connection is retried too: redis-py reconnects it in place, resubscribes and calls
        # `_reconnected`; a longer outage ends in the loop of `_listen`.
        self._client = redis_client.connect(
            self._url, health_check_interval=HEALTH_CHECK_SECONDS, client_name=self.channel
        )
        self._publish_all = self._client.register_script(_PUBLISH_ALL)
        self._task = asyncio.create_task(self._listen(self._client), name=f"broker {self.channel}")
        # When Redis is down the task has logged it and keeps retrying; the node catches up once it is back.
        with suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), START_WAIT_SECONDS)

    async def stop(self) -> None:
        """Stop the subscriber task and close the connections."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def publish(self, messages: Sequence[Message]) -> None:
        """Send each message to the nodes attending its topic (every node, this one included, for None)."""
        if self._client is None:
            raise RuntimeError("RedisBroker.publish before start()")
        channels = [self.channel if topic is None else self.topic_channel(topic) for topic, _ in messages]
        if len(messages) == 1:
            await self._client.publish(channels[0], messages[0][1])
        elif messages:
            await self._publish_all(keys=channels, args=[body for _, body in messages])

    async def attend(self, topics: Collection[str]) -> None:
        """Subscribe to these topics; return once Redis confirmed (or, while Redis is away, after a short wait:
        the subscription is made when it returns, and the node resyncs then)."""
        new = [t for t in topics if t not in self._topics]
        if not new:
            return
        self._topics.update(new)
        loop = asyncio.get_running_loop()
        waits = [self._confirm.setdefault(self.topic_channel(t), loop.create_future()) for t in new]
        self._changes.set()  # only the listener talks on the subscriber connection
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*waits)), ATTEND_WAIT_SECONDS)

    async def forget(self, topics: Collection[str]) -> None:
        """Unsubscribe from topics no client of this node needs any longer; returns once Redis confirmed."""
        gone = [t for t in topics if t in self._topics]
        if not gone:
            return
        self._topics.difference_update(gone)
        loop = asyncio.get_running_loop()
        waits = [self._release.setdefault(self.topic_channel(t), loop.create_future()) for t in gone]
        self._changes.set()
        with suppress(TimeoutError):  # Redis away: nothing arrives meanwhile anyway
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*waits)), ATTEND_WAIT_SECONDS)

    async def _listen(self, client: Redis) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = client.pubsub()
            try:
                await self._subscribe_all(pubsub)
                if pubsub.connection is not None:  # redis-py reconnects by itself too: catch up then as well
                    pubsub.connection.register_connect_callback(self._reconnected)
                if self._subscribed.is_set() or self._topics:
                    self._resubscribed()  # messages sent while we were away are lost; the logs are not
                self._subscribed.set()
                delay = RECONNECT_MIN_SECONDS
                while True:
                    if self._changes.is_set():
                        await self._apply_changes(pubsub)
                    message = await pubsub.get_message(timeout=LISTEN_TICK_SECONDS)
                    if message is not None:
                        await self._on_message(message)
            except (RedisError, OSError) as exc:
                log.warning(
                    "event broker lost its Redis subscription; retrying",
                    extra={"channel": self.channel, "retry_in": delay, "error": f"{type(exc).__name__}: {exc}"},
                )
            finally:
                if pubsub.connection is not None:  # the pool may hand this connection to publish() next
                    pubsub.connection.deregister_connect_callback(self._reconnected)
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _subscribe_all(self, pubsub: PubSub) -> None:
        """Subscribe to the common channel and every attended topic; from the confirmations on, none of their
        messages is missed."""
        self._changes.clear()
        channels = [self.channel, *map(self.topic_channel, self._topics)]
        await pubsub.subscribe(*channels)
        pending = set(channels)
        while pending:
            message = await pubsub.get_message(timeout=None)
            if message is not None and message["type"] == "subscribe":
                pending.discard(_text(message["channel"]))
                self._confirmed(_text(message["channel"]))

    async def _apply_changes(self, pubsub: PubSub) -> None:
        """Bring the subscriptions in line with the attended topics (confirmations arrive as messages)."""
        self._changes.clear()
        wanted = {self.topic_channel(t) for t in self._topics}
        held = {_text(c) for c in pubsub.channels} - {self.channel}
        if missing := sorted(wanted - held):
            await pubsub.subscribe(*missing)
        if extra := sorted(held - wanted):
            await pubsub.unsubscribe(*extra)

    async def _on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "message":
            await self._receive(message["data"])
        elif kind == "subscribe":
            self._confirmed(_text(message["channel"]))
        elif kind == "unsubscribe":
            self._confirmed(_text(message["channel"]), self._release)

    def _confirmed(self, channel: str, waits: dict[str, asyncio.Future[None]] | None = None) -> None:
        waiting = (self._confirm if waits is None else waits).pop(channel, None)
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def _reconnected(self, _connection: AbstractConnection) -> None:
        # redis-py resubscribed what it had confirmed; the listener adds what was attended meanwhile.
        self._changes.set()
        log.info("event broker resubscribed", extra={"channel": self.channel})
        self._resubscribed()

    async def _receive(self, raw: Any) -> None:
        if self._deliver is None:
            return
        try:
            await self._deliver(raw)
        except Exception:
            # One bad message must not end the subscription: log it (without its content) and go on.
            log.exception("could not deliver a broker message", extra={"channel": self.channel, "size": len(raw)})


def _text(channel: bytes | str) -> str:
    return channel.decode() if isinstance(channel, bytes) else channel
