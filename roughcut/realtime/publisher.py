"""Turns committed domain events into Socket.IO emits (after commit only; see SqlUnitOfWork.commit)."""

from __future__ import annotations

from collections.abc import Sequence

import socketio

from roughcut.domain.events import SESSION_REVOKED, USER_DELETED, StoredEvent
from roughcut.realtime.base import session_room

PROJECTS_NAMESPACE = "/projects"
ROOT_NAMESPACE = "/"


def project_room(project_id: int) -> str:
    """Subscribers of one project's live feed."""
    return f"project:{project_id}"


class SocketPublisher:
    """The EventPublisher port: project events to their room, session ends to the sockets of that session."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Emit each event; the Redis manager carries it to the other nodes."""
        for e in events:
            if e.project_id is not None:
                await self._sio.emit(
                    "event", e.as_dict(), room=project_room(e.project_id), namespace=PROJECTS_NAMESPACE
                )
            elif e.type == SESSION_REVOKED:
                await self._session_ended(int(e.data["session_id"]), str(e.data.get("reason", "revoked")))
            elif e.type == USER_DELETED:
                for session_id in e.data.get("session_ids", []):
                    await self._session_ended(int(session_id), "account_deleted")

    async def _session_ended(self, session_id: int, reason: str) -> None:
        payload = {"session_id": session_id, "reason": reason}
        await self._sio.emit("session_revoked", payload, room=session_room(session_id), namespace=ROOT_NAMESPACE)
