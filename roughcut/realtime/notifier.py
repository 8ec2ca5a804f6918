"""This node's SSE streams waiting for news about their projects (the ProjectNews port).

News only says "look at the log": streams read the events themselves from the durable log, so a lost
wake-up delays a stream (until its next keepalive re-read) but never loses or reorders an event.
Live-only changes (upload progress) are not in the log: they are handed to the waiters themselves
(`live`), a few at most per stream, and a stream that is too slow misses the oldest (the next one
supersedes them).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable
from types import TracebackType
from typing import Any

Attend = Callable[[int], Awaitable[None]]
LIVE_MAX = 16  # live-only items kept per stream between its wake-ups


async def _nothing_to_attend(_project_id: int) -> None:
    return None


class Subscription:
    """One stream's waiter for news about one project; `async with notifier.listen(id) as sub:` removes it
    after. Entering returns once this node receives the project's news (realtime/routing.py)."""

    def __init__(self, notifier: Notifier, project_id: int) -> None:
        self.project_id = project_id
        self._notifier = notifier
        self._event = asyncio.Event()
        self._live: deque[tuple[str, Any, Collection[int]]] = deque(maxlen=LIVE_MAX)

    async def __aenter__(self) -> Subscription:
        self._notifier._add(self)
        try:
            await self._notifier.attend(self.project_id)
        except BaseException:
            self._notifier._remove(self)
            raise
        return self

    async def __aexit__(
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

    def add_live(self, event: str, payload: Any, users: Collection[int]) -> None:
        """A live-only change for the members `users` (the audience its transaction fixed)."""
        self._live.append((event, payload, users))
        self._event.set()

    def take_live(self, user_id: int) -> list[tuple[str, Any]]:
        """The live-only changes since the last call that this stream's user may see, oldest first."""
        items, self._live = self._live, deque(maxlen=LIVE_MAX)
        return [(event, payload) for event, payload, users in items if user_id in users]

    async def wait(self) -> None:
        """Wait for news (or shutdown) since the last call; callers bound it with `asyncio.timeout`."""
        await self._event.wait()
        if not self.closed:
            self._event.clear()  # cleared before the caller reads the log, so later news wakes it again


class Notifier:
    """Per-project sets of local waiters; entries go away with their streams, so memory stays bounded."""

    def __init__(self, attend: Attend = _nothing_to_attend) -> None:
        """`attend` makes this node receive a project's news before a stream's first read."""
        self.attend = attend
        self._waiters: dict[int, set[Subscription]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def listen(self, project_id: int) -> Subscription:
        """A waiter for one project, registered for the duration of its `with` block."""
        return Subscription(self, project_id)

    def projects(self) -> list[int]:
        """The projects that have streams on this node."""
        return list(self._waiters)

    def listeners(self, project_id: int) -> int:
        """How many streams wait on a project on this node."""
        return len(self._waiters.get(project_id, ()))

    def wake(self, project_ids: Iterable[int]) -> None:
        """Wake every local waiter of these projects."""
        for project_id in project_ids:
            for sub in self._waiters.get(project_id, ()):
                sub.wake()

    def live(self, project_id: int, event: str, payload: Any, users: Collection[int]) -> None:
        """Hand a live-only change to every local waiter of the project (each keeps it for its user only)."""
        for sub in self._waiters.get(project_id, ()):
            sub.add_live(event, payload, users)

    def wake_all(self) -> None:
        """Wake every local waiter (after a gap in which news may have been lost)."""
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
