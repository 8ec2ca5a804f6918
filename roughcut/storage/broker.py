"""Node-to-node notices that a project has new events, and the local waiters (SSE streams) they wake.

The notice only says "look at the log": streams read the events themselves from the durable log, so a
lost notice delays a stream (until its next keepalive re-read) but never loses or reorders an event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType
from typing import Any, NotRequired, Protocol, TypedDict

import orjson
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from roughcut.domain.events import SESSION_REVOKED, USER_DELETED, StoredEvent

log = logging.getLogger(__name__)

CHANNEL_SUFFIX = "events"
HEALTH_CHECK_SECONDS = 15  # PING an idle subscriber connection this often
POLL_SECONDS = 5.0  # longest single read on the subscriber connection (health checks run between reads)
START_WAIT_SECONDS = 5.0  # how long start() waits for the first subscription before going on in background
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


class Notice(TypedDict):
    """The small message one node sends every node when an event is committed.

    Project events carry their project; session ends (`project_id` 0) carry the sessions that ended.
    """

    project_id: int
    event_id: int
    type: str
    user_id: NotRequired[int]
    session_ids: NotRequired[list[int]]


def notice_of(event: StoredEvent) -> Notice | None:
    """The notice for a committed event, or None when other nodes need not hear of it."""
    if event.type in (SESSION_REVOKED, USER_DELETED):
        ids = event.data.get("session_ids") or [event.data.get("session_id")]
        return Notice(
            project_id=0, event_id=event.id, type=event.type, session_ids=[int(i) for i in ids if isinstance(i, int)]
        )
    if event.project_id is None:
        return None
    notice = Notice(project_id=event.project_id, event_id=event.id, type=event.type)
    user_id = event.data.get("user_id")
    if isinstance(user_id, int):
        notice["user_id"] = user_id
    return notice


class Subscription:
    """One stream's waiter for news about one project; `with notifier.listen(id) as sub:` removes it after."""

    def __init__(self, notifier: Notifier, project_id: int) -> None:
        self.project_id = project_id
        self._notifier = notifier
        self._event = asyncio.Event()

    def __enter__(self) -> Subscription:
        self._notifier._add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._notifier._remove(self)

    @property
    def closed(self) -> bool:
        """True once the node is shutting down: the stream should end."""
        return self._notifier.closed

    def wake(self) -> None:
        """Mark news (or shutdown) for the waiting stream."""
        self._event.set()

    async def wait(self) -> None:
        """Wait for news (or shutdown) since the last call; callers bound it with `asyncio.timeout`."""
        await self._event.wait()
        if not self.closed:
            self._event.clear()  # cleared before the caller reads the log, so later news wakes it again


class Notifier:
    """Per-project sets of local waiters; entries go away with their streams, so memory stays bounded."""

    def __init__(self) -> None:
        self._waiters: dict[int, set[Subscription]] = {}
        self._closed = False
        self._session_listeners: list[Callable[[list[int]], None]] = []

    def on_sessions_ended(self, listener: Callable[[list[int]], None]) -> None:
        """Call `listener(session_ids)` on this node whenever sessions end on any node."""
        self._session_listeners.append(listener)

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def listen(self, project_id: int) -> Subscription:
        """A waiter for one project, registered for the duration of its `with` block."""
        return Subscription(self, project_id)

    def listeners(self, project_id: int) -> int:
        """How many streams wait on a project on this node."""
        return len(self._waiters.get(project_id, ()))

    def notify(self, notice: Notice) -> None:
        """Wake every local waiter of the notice's project, or tell the session listeners."""
        if "session_ids" in notice:
            for listener in self._session_listeners:
                listener(notice["session_ids"])
            return
        for sub in self._waiters.get(notice["project_id"], ()):
            sub.wake()

    def wake_all(self) -> None:
        """Wake every local waiter (after a gap in which notices may have been lost)."""
        for subs in self._waiters.values():
            for sub in subs:
                sub.wake()

    def close(self) -> None:
        """Node shutdown: wake everyone for good; new waiters start woken."""
        self._closed = True
        self.wake_all()

    def _add(self, sub: Subscription) -> None:
        self._waiters.setdefault(sub.project_id, set()).add(sub)
        if self._closed:
            sub.wake()

    def _remove(self, sub: Subscription) -> None:
        subs = self._waiters.get(sub.project_id)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._waiters[sub.project_id]


class Broker(Protocol):
    """Carries notices to the Notifier of every node (this one included)."""

    async def publish(self, notice: Notice) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LocalBroker:
    """The embedded default: one node, so a notice goes straight to the local Notifier."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def publish(self, notice: Notice) -> None:
        """Wake this node's waiters."""
        self._notifier.notify(notice)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class RedisBroker:
    """Redis pub/sub on `{prefix}:events`: one subscriber connection per node, fed to the local Notifier."""

    def __init__(self, url: str, prefix: str, notifier: Notifier) -> None:
        self.channel = f"{prefix}:{CHANNEL_SUFFIX}"
        self._url = url
        self._notifier = notifier
        self._client: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Start the subscriber task; wait (briefly) until it listens, so no early notice is missed."""
        self._client = Redis.from_url(self._url, health_check_interval=HEALTH_CHECK_SECONDS, client_name=self.channel)
        self._task = asyncio.create_task(self._listen(self._client), name=f"broker {self.channel}")
        # When Redis is down the task has logged it and keeps retrying; streams still poll the log.
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

    async def publish(self, notice: Notice) -> None:
        """Send a notice to every node's subscriber."""
        if self._client is None:
            raise RuntimeError("RedisBroker.publish before start()")
        await self._client.publish(self.channel, orjson.dumps(notice))

    async def _listen(self, client: Redis) -> None:
        delay = RECONNECT_MIN_SECONDS
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                await pubsub.get_message(timeout=None)  # Redis confirms: from here on no notice is missed
                if pubsub.connection is not None:  # redis-py reconnects by itself too: catch up then as well
                    pubsub.connection.register_connect_callback(self._reconnected)
                if self._subscribed.is_set():
                    self._notifier.wake_all()  # notices sent while we were away are lost; the log is not
                self._subscribed.set()
                delay = RECONNECT_MIN_SECONDS
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_SECONDS)
                    if message is not None:
                        self._deliver(message["data"])
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
        self._notifier.wake_all()

    def _deliver(self, raw: Any) -> None:
        try:
            data = orjson.loads(raw)
            notice = Notice(project_id=int(data["project_id"]), event_id=int(data["event_id"]), type=str(data["type"]))
            if "user_id" in data:
                notice["user_id"] = int(data["user_id"])
            if "session_ids" in data:
                notice["session_ids"] = [int(i) for i in data["session_ids"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed broker notice", extra={"channel": self.channel, "raw": repr(raw)[:200]})
            return
        self._notifier.notify(notice)
