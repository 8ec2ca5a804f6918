"""Turns committed domain events into Socket.IO emits (after commit only; see SqlUnitOfWork.commit)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import socketio

from roughcut.domain.events import MEMBER_LEFT, PROJECT_DELETED, SESSION_REVOKED, USER_DELETED, StoredEvent
from roughcut.realtime.rooms import (
    CHAT_NAMESPACE,
    PROJECTS_NAMESPACE,
    ROOT_NAMESPACE,
    chat_room,
    member_room,
    session_room,
)
from roughcut.storage.broker import Broker, notice_of

MembersOf = Callable[[list[int]], Awaitable[dict[int, list[int]]]]
ThreadsOf = Callable[[int], Awaitable[list[int]]]


class SocketPublisher:
    """The EventPublisher port: project events to their members' rooms and the broker, session ends too."""

    def __init__(
        self, sio: socketio.AsyncServer, members_of: MembersOf, threads_of: ThreadsOf, broker: Broker | None = None
    ) -> None:
        self._sio = sio
        self._members_of = members_of
        self._threads_of = threads_of
        self._broker = broker

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Emit each event in order (the Redis manager carries it to the other nodes), then notify SSE streams."""
        lookup = sorted({e.project_id for e in events if e.project_id is not None and e.audience is None})
        members = await self._members_of(lookup) if lookup else {}
        for e in events:
            if e.project_id is not None:
                await self._project_event(e, e.audience if e.audience is not None else members.get(e.project_id, []))
            elif e.type == SESSION_REVOKED:
                await self._session_ended(int(e.data["session_id"]), str(e.data.get("reason", "revoked")))
            elif e.type == USER_DELETED:
                for session_id in e.data.get("session_ids", []):
                    await self._session_ended(int(session_id), "account_deleted")
        if self._broker is not None:
            for e in events:
                notice = notice_of(e)
                if notice is not None:
                    await self._broker.publish(notice)

    async def _project_event(self, e: StoredEvent, recipients: Sequence[int]) -> None:
        assert e.project_id is not None
        rooms = [member_room(e.project_id, uid) for uid in recipients]
        if rooms:
            await self._sio.emit("event", e.as_dict(), to=rooms, namespace=PROJECTS_NAMESPACE)
        # Closing goes through the same Redis channel after the emit, so every node drops the room in order.
        if e.type == MEMBER_LEFT:
            gone = int(e.data["user_id"])
            await self._sio.close_room(member_room(e.project_id, gone), PROJECTS_NAMESPACE)
            # Chat messages already skip them (recipients come from the storing transaction); this
            # also drops their sockets from the chat rooms on every node.
            for fid in await self._threads_of(e.project_id):
                await self._sio.close_room(chat_room(fid, gone), CHAT_NAMESPACE)
        elif e.type == PROJECT_DELETED:
            for room in rooms:
                await self._sio.close_room(room, PROJECTS_NAMESPACE)

    async def _session_ended(self, session_id: int, reason: str) -> None:
        payload = {"session_id": session_id, "reason": reason}
        await self._sio.emit("session_revoked", payload, room=session_room(session_id), namespace=ROOT_NAMESPACE)


NAMESPACES = (ROOT_NAMESPACE, PROJECTS_NAMESPACE, CHAT_NAMESPACE)
_pending: set[asyncio.Task[None]] = set()  # disconnects in flight (the loop keeps only weak references)


def drop_sessions(sio: socketio.AsyncServer, session_ids: list[int]) -> None:
    """Disconnect this node's sockets of ended sessions (every node runs this for every session end)."""
    loop = asyncio.get_running_loop()
    for namespace in NAMESPACES:
        for session_id in session_ids:
            for sid, _eio_sid in list(sio.manager.get_participants(namespace, session_room(session_id))):
                task = loop.create_task(sio.disconnect(sid, namespace=namespace, ignore_queue=True))
                _pending.add(task)
                task.add_done_callback(_pending.discard)


DRAIN_SECONDS = 5.0


async def drain_sockets(sio: socketio.AsyncServer) -> None:
    """Node shutdown: send every socket a close (without waiting for its queue) so clients move elsewhere.

    engine.io's own disconnect-all waits for each socket's queue to drain, which never ends for a socket
    whose peer is already gone; here the whole drain is bounded.
    """
    sockets = list(sio.eio.sockets.values())
    if sockets:
        closing = [asyncio.ensure_future(sock.close(wait=False)) for sock in sockets]
        await asyncio.wait(closing, timeout=DRAIN_SECONDS)
