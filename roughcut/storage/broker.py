"""Node-to-node transport of committed batches: Redis pub/sub, or nothing on the embedded single node.

A message is opaque bytes (the publisher encodes one per committed batch). Pub/sub keeps no backlog:
after the subscription was lost, `resubscribed` tells the node to catch up from the durable logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from roughcut.storage import redis_client

log = logging.getLogger(__name__)

CHANNEL_SUFFIX = "events"
HEALTH_CHECK_SECONDS = 15  # PING an idle subscriber connection this often
POLL_SECONDS = 5.0  # longest single read on the subscriber connection (health checks run between reads)
START_WAIT_SECONDS = 5.0  # how long start() waits for the first subscription before going on in background
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0

Deliver = Callable[[bytes], Awaitable[None]]
Resubscribed = Callable[[], None]


class LocalBroker:
    """The embedded default: a single node, so there is no one else to tell."""

    async def publish(self, message: bytes) -> None:
        """Nothing to carry."""

    async def start(self, deliver: Deliver, resubscribed: Resubscribed) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class RedisBroker:
    """Redis pub/sub on `{prefix}:events`: one subscriber connection per node."""

    def __init__(self, url: str, prefix: str) -> None:
        self.channel = f"{prefix}:{CHANNEL_SUFFIX}"
        self._url = url
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._deliver: Deliver | None = None
        self._resubscribed: Resubscribed = lambda: None

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

    async def publish(self, message: bytes) -> None:
        """Send one message to every node's subscriber (this one's included)."""
        if self._client is None:
            raise RuntimeError("RedisBroker.publish before start()")
        await self._client.publish(self.channel, message)

    async def _listen(self, client: Redis) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await pubsub.get_message(timeout=None)  # Redis confirms: from here on no message is missed
                if pubsub.connection is not None:  # redis-py reconnects by itself too: catch up then as well
                    pubsub.connection.register_connect_callback(self._reconnected)
                if self._subscribed.is_set():
                    self._resubscribed()  # messages sent while we were away are lost; the logs are not
                self._subscribed.set()
                delay = RECONNECT_MIN_SECONDS
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                    if message is not None:
                        await self._receive(message["data"])
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

    async def _reconnected(self, _connection: AbstractConnection) -> None:
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
