"""`/presence`: who is online or away in a project, and who is watching a thread; changes arrive
coalesced, through the one publisher."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Self

from marshmallow import Schema, validate

from roughcut.domain import presence
from roughcut.domain.ports import TokenIssuer
from roughcut.domain.presence_model import Status
from roughcut.metrics import PRESENCE_CHANGES
from roughcut.realtime.base import AUTH_EXPIRED, AuthNamespace, Payload, RealtimeDeps
from roughcut.realtime.envelope import event
from roughcut.realtime.protocol import CheckedServer
from roughcut.realtime.rooms import PRESENCE_NAMESPACE, presence_room, watching_room
from roughcut.wire.fields import Id, Text

log = logging.getLogger(__name__)

FLUSH_POLLS_PER_WINDOW = 2  # a change leaves between one and one and a half windows after it happened
IDLE_POLLS_PER_AWAY = 4  # an idle socket turns away within 1.25 x PRESENCE_AWAY_AFTER (or a heartbeat)
CHOSEN = (str(Status.ONLINE), str(Status.AWAY))
Step = Callable[[presence.Presence], Awaitable[object]]


class SubscribeSchema(Schema):
    project_id = Id(required=True)


class UnsubscribeSchema(Schema):
    project_id = Id(required=True)


class WatchSchema(Schema):
    feedback_id = Id(required=True)


class StatusSchema(Schema):
    status = Text(required=True, validate=validate.OneOf(CHOSEN))


PRESENCE: dict[str, Any] = {
    "type": "object",
    "required": ["project_id", "user_id", "status", "at"],
    "properties": {
        "project_id": {"type": "integer"},
        "feedback_id": {"type": "integer", "description": "Set when the change is about watching this thread."},
        "user_id": {"type": "integer"},
        "status": {"enum": [str(s) for s in Status]},
        "at": {"type": "string", "format": "date-time"},
    },
}


class PresenceNamespace(AuthNamespace):
    """Members subscribe to a project's presence, or watch a thread; `presence {project_id, [feedback_id,]
    user_id, status, at}` follows."""

    path = PRESENCE_NAMESPACE
    emits: ClassVar[Mapping[str, Payload]] = {"presence": PRESENCE, "auth_expired": AUTH_EXPIRED}

    @classmethod
    def build(cls, deps: RealtimeDeps) -> Self:
        """The namespace of this node."""
        assert deps.presence is not None, "presence is wired by services.build_services"
        return cls(deps.tokens, deps.presence, deps.watching)

    def __init__(self, tokens: TokenIssuer, deps: presence.Presence, watching: presence.Presence | None = None) -> None:
        super().__init__(tokens)
        self.deps = deps
        self.scopes = (deps,) if watching is None else (deps, watching)
        self.watching = watching

    @event(SubscribeSchema)
    async def on_subscribe(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Count this socket in the project (members only) and answer who is there now."""
        user_id, _ = await self.caller(sid)
        project_id = data["project_id"]
        online = await self._count_in(sid, self.deps, presence_room(project_id, user_id), user_id, project_id)
        return {"project_id": project_id, "online": online}

    @event(UnsubscribeSchema)
    async def on_unsubscribe(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stop counting in (and hearing about) a project."""
        user_id, _ = await self.caller(sid)
        await self.leave_room(sid, presence_room(data["project_id"], user_id))
        await presence.unsubscribe(self.deps, sid, data["project_id"])
        return {}

    @event(WatchSchema)
    async def on_watch(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Count this socket as watching a feedback thread (members of its project) and answer who watches it."""
        assert self.watching is not None, "watching is wired by services.build_services"
        user_id, _ = await self.caller(sid)
        feedback_id = data["feedback_id"]
        watching = await self._count_in(sid, self.watching, watching_room(feedback_id, user_id), user_id, feedback_id)
        return {"feedback_id": feedback_id, "watching": watching}

    async def _count_in(
        self, sid: str, deps: presence.Presence, room: str, user_id: int, key: int
    ) -> list[dict[str, object]]:
        """Hear the key's changes, count this socket in it (members only), and list who is there now."""
        await self.enter_room(sid, room)  # first, so no change announced meanwhile is missed
        try:
            present = await presence.subscribe(deps, user_id, sid, key)
        except Exception:
            await self.leave_room(sid, room)
            raise
        if not self.alive(sid):  # gone while this ran: its disconnect may have missed the new entry
            await presence.disconnect(deps, sid)
        return [u.wire() for u in present]

    @event(WatchSchema)
    async def on_unwatch(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """Stop watching (and hearing about) a thread."""
        assert self.watching is not None, "watching is wired by services.build_services"
        user_id, _ = await self.caller(sid)
        await self.leave_room(sid, watching_room(data["feedback_id"], user_id))
        await presence.unsubscribe(self.watching, sid, data["feedback_id"])
        return {}

    @event(StatusSchema)
    async def on_status(self, sid: str, data: dict[str, Any]) -> dict[str, Any]:
        """This socket's status (online or away) in every project and thread it counts in."""
        user_id, _ = await self.caller(sid)
        for deps in self.scopes:
            await presence.set_status(deps, user_id, sid, Status(data["status"]))
        if not self.alive(sid):  # gone while this ran: forget what it recorded
            for deps in self.scopes:
                await presence.disconnect(deps, sid)
        return {}

    async def disconnected(self, sid: str) -> None:
        """The socket leaves every project and thread it counted in."""
        for deps in self.scopes:
            try:
                await presence.disconnect(deps, sid)
            except Exception:
                # Its entries expire by themselves: this node's heartbeat no longer refreshes them.
                log.exception("presence disconnect failed", extra={"sid": sid, "threads": deps.threads})


class PresenceRunner:
    """This node's presence timers (for projects and for threads): the coalescing flush and the heartbeat
    with its sweep."""

    def __init__(self, deps: Sequence[presence.Presence], window: float, interval: float, sio: CheckedServer) -> None:
        self.deps = tuple(deps)
        self.window = window
        self.interval = interval
        self._sio = sio
        self._tasks: list[asyncio.Task[None]] = []
        self._resumes: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def start(self) -> None:
        """Register this node (first heartbeat) and start the timers."""
        await self._guard("presence heartbeat failed", presence.tick)
        loop = asyncio.get_running_loop()
        poll = self.window / FLUSH_POLLS_PER_WINDOW
        self._tasks = [
            loop.create_task(self._every(poll, "presence flush failed", self._flush)),
            loop.create_task(self._every(self.interval, "presence heartbeat failed", presence.tick)),
        ]
        away_after = max(d.away_after for d in self.deps)
        if away_after > 0:
            idle_poll = min(self.interval, away_after / IDLE_POLLS_PER_AWAY)
            self._tasks.append(loop.create_task(self._every(idle_poll, "presence idle check failed", self._idle)))

    def _eio_sid(self, sid: str) -> str | None:
        eio_sid: str | None = self._sio.manager.eio_sid_from_sid(sid, PRESENCE_NAMESPACE)
        return eio_sid

    def _last_active(self, sid: str) -> float | None:
        eio_sid = self._eio_sid(sid)
        return None if eio_sid is None else self._sio.activity.last.get(eio_sid)

    async def _idle(self, deps: presence.Presence) -> None:
        """Sockets quiet for PRESENCE_AWAY_AFTER count as away until their connection sends anything."""
        for sid in await presence.mark_idle(deps, self._last_active):
            eio_sid = self._eio_sid(sid)
            if eio_sid is not None:
                self._sio.activity.when_heard(eio_sid, functools.partial(self._resume, sid))

    def _resume(self, sid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._guard("presence resume failed", self._resume_step(sid)))
        self._resumes.add(task)
        task.add_done_callback(self._resumes.discard)

    def _resume_step(self, sid: str) -> Step:
        async def step(deps: presence.Presence) -> None:
            await presence.resume(deps, sid)

        return step

    @staticmethod
    async def _flush(deps: presence.Presence) -> None:
        PRESENCE_CHANGES.inc(await presence.flush(deps))

    async def _guard(self, message: str, step: Step) -> None:
        for deps in self.deps:
            try:
                await step(deps)
            except Exception:
                log.exception(message, extra={"threads": deps.threads})

    async def _every(self, seconds: float, message: str, step: Step) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self._guard(message, step)

    async def release(self) -> None:
        """Node shutdown begins: sockets about to be closed keep their entries for a short grace."""
        await self._guard("presence release failed", presence.release)

    async def stop(self) -> None:
        """Stop the timers."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
