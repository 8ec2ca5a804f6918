"""Room-routed fan-out: which nodes receive a committed batch.

Every room that a batch reaches belongs to a topic: one chat thread (`chat:{feedback_id}`), one project
(`project:{project_id}`: its events and its SSE streams), one project's presence
(`presence:{project_id}`) or who watches one thread (`watching:{feedback_id}`). The publisher splits a
dispatch into one part per topic (`split`) and the broker carries each part only to the nodes that attend
its topic; ended sessions and anything without a topic go to every node. A node attends a topic while
it holds a socket in one of the topic's rooms or an SSE stream of the project (`Routes`), so adding
nodes no longer adds work to every node.

Attending is awaited before the client's replay reads the log (python-socketio's `enter_room` and the
stream's `listen` both wait for it), so a message committed after that read always reaches the node.
Topics no longer needed are forgotten by a periodic prune, under the same lock as attending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from roughcut.domain.ports import Broker
from roughcut.realtime.dispatch import Close, Dispatch, Emit, Step

log = logging.getLogger(__name__)

PRUNE_SECONDS = 10.0  # how often topics without local rooms or streams are unsubscribed
_TOPIC_PREFIXES = ("chat:", "project:", "presence:", "watching:")


def topic_of(room: object) -> str | None:
    """The topic of a room (`chat:12:user:3` -> `chat:12`), or None for rooms every node must hear."""
    if isinstance(room, str) and room.startswith(_TOPIC_PREFIXES):
        kind, key, *_ = room.split(":", 2)
        return f"{kind}:{key}"
    return None


def project_topic(project_id: int) -> str:
    """The topic of a project's events and SSE streams."""
    return f"project:{project_id}"


def chat_topic(feedback_id: int) -> str:
    """The topic of a chat thread's messages."""
    return f"chat:{feedback_id}"


def needed_topics(rooms: Mapping[str, Mapping[Any, Any]], stream_projects: Iterable[int]) -> set[str]:
    """The topics of a node's rooms (python-socketio's `manager.rooms`: namespace -> room -> sockets; it
    holds only rooms with sockets) and of the projects its SSE streams follow."""
    topics = {project_topic(p) for p in stream_projects}
    for namespace_rooms in list(rooms.values()):
        for room in list(namespace_rooms):
            topic = topic_of(room)
            if topic is not None:
                topics.add(topic)
    return topics


def split(dispatch: Dispatch) -> list[tuple[str | None, Dispatch]]:
    """One dispatch per topic (None: for every node), each keeping the order of its steps."""
    parts: dict[str | None, Dispatch] = {}

    def part(topic: str | None) -> Dispatch:
        found = parts.get(topic)
        if found is None:
            found = parts[topic] = Dispatch()
        return found

    for step in dispatch.steps:
        by_topic: dict[str | None, list[str]] = {}
        for room in step.rooms:
            by_topic.setdefault(topic_of(room), []).append(room)
        for topic, rooms in by_topic.items():
            part(topic).steps.append(_with_rooms(step, rooms))
    for project_id in dispatch.projects:
        part(project_topic(project_id)).projects.append(project_id)
    if dispatch.ended_sessions:
        part(None).ended_sessions.extend(dispatch.ended_sessions)
    return list(parts.items())


def _with_rooms(step: Step, rooms: list[str]) -> Step:
    if len(rooms) == len(step.rooms):
        return step
    if isinstance(step, Emit):
        return Emit(step.namespace, step.event, step.payload, rooms, step.skip)
    return Close(step.namespace, rooms)


class Routes:
    """The topics this node attends: those of its sockets' rooms and of its SSE streams.

    `needed()` reads what the node holds right now (the manager's rooms and the notifier's streams); a
    topic is attended before a socket's replay or a stream's first read, and forgotten by `prune` once
    nothing here needs it.
    """

    def __init__(self, broker: Broker, needed: Callable[[], Iterable[str]]) -> None:
        """`needed` answers the topics this node's rooms and streams need right now."""
        self._broker = broker
        self._needed = needed
        self._attended: set[str] = set()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def attend_project(self, project_id: int) -> None:
        """Attend a project's topic (an SSE stream of it starts here)."""
        await self.attend(project_topic(project_id))

    @property
    def attended(self) -> frozenset[str]:
        """The topics attended now."""
        return frozenset(self._attended)

    async def attend(self, topic: str) -> None:
        """Make sure this node receives the topic's messages (returns once the broker confirmed)."""
        if topic in self._attended:
            return
        async with self._lock:
            if topic not in self._attended:
                await self._broker.attend([topic])
                self._attended.add(topic)

    async def prune(self) -> None:
        """Forget the topics nothing on this node needs any more."""
        async with self._lock:
            # No await between reading what is needed and dropping the rest from `_attended`: a room entered
            # after the read attends again (and waits for this lock), one entered before keeps its topic.
            unneeded = self._attended - set(self._needed())
            self._attended -= unneeded
            if unneeded:
                await self._broker.forget(unneeded)

    def start(self) -> None:
        """Prune periodically."""
        self._task = asyncio.get_running_loop().create_task(self._prune_every(), name="route prune")

    async def stop(self) -> None:
        """Stop pruning."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _prune_every(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            try:
                await self.prune()
            except Exception as exc:  # Redis away: the next prune tries again, nothing is lost meanwhile
                log.warning("could not prune routed topics", extra={"error": f"{type(exc).__name__}: {exc}"})
