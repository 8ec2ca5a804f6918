"""The one publisher: committed batches (project events and chat messages) to this node and all others.

`publish` is what every unit of work and the chat group commit call after commit. It routes the batch
(a pure translation, see dispatch.py), applies it on this node at once, and sends it to the other
nodes as one broker message, which each of them applies the same way: emits to the rooms the storing
transaction chose, rooms closed after a member left, sockets of ended sessions dropped, SSE streams
woken. It queries nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import socketio

from roughcut.domain.events import Committed
from roughcut.domain.ports import Broker
from roughcut.realtime.dispatch import Close, Dispatch, Emit, decode, encode, route
from roughcut.realtime.fanout import DirectEmit
from roughcut.realtime.notifier import Notifier
from roughcut.realtime.rooms import session_room
from roughcut.realtime.server import NAMESPACE_PATHS
from roughcut.security.access import RevokedSessions

log = logging.getLogger(__name__)


class NodeDelivery:
    """Applies a dispatch to this node's sockets, revocation list and SSE streams (no cross-node I/O)."""

    def __init__(self, sio: socketio.AsyncServer, notifier: Notifier, revoked: RevokedSessions) -> None:
        self._sio = sio
        self._notifier = notifier
        self._revoked = revoked
        self._disconnects: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    async def apply(self, dispatch: Dispatch) -> None:
        """Emit and close rooms in order, then end sessions and wake the projects' streams."""
        manager = self._sio.manager
        for step in dispatch.steps:
            if isinstance(step, Emit):
                await DirectEmit.emit(manager, step.event, step.payload, step.namespace, to=step.rooms)
            elif isinstance(step, Close):
                for room in step.rooms:
                    manager.basic_close_room(room, step.namespace)  # this node only: every node applies it
        if dispatch.ended_sessions:
            self._revoked.add(dispatch.ended_sessions)
            self.drop_sessions(dispatch.ended_sessions)
        self._notifier.wake(dispatch.projects)

    def drop_sessions(self, session_ids: Sequence[int]) -> None:
        """Disconnect this node's sockets of ended sessions, in every namespace."""
        loop = asyncio.get_running_loop()
        for namespace in NAMESPACE_PATHS:
            for session_id in session_ids:
                for sid, _eio_sid in list(self._sio.manager.get_participants(namespace, session_room(session_id))):
                    task = loop.create_task(self._sio.disconnect(sid, namespace=namespace, ignore_queue=True))
                    self._disconnects.add(task)
                    task.add_done_callback(self._disconnects.discard)

    def caught_up(self) -> None:
        """After a gap in the broker: streams re-read their logs."""
        self._notifier.wake_all()


class Publisher:
    """The EventPublisher port: one broker message per committed batch, for every consumer on every node."""

    def __init__(self, node: NodeDelivery, broker: Broker) -> None:
        self.node_id = uuid.uuid4().hex
        self._node = node
        self._broker = broker

    async def start(self) -> None:
        """Listen to the other nodes."""
        await self._broker.start(self.receive, self._node.caught_up)

    async def stop(self) -> None:
        """Stop listening."""
        await self._broker.stop()

    async def publish(self, batch: Sequence[Committed]) -> None:
        """Deliver on this node, then hand the same dispatch to the other nodes in one message."""
        dispatch = route(batch)
        if not dispatch:
            return
        await self._node.apply(dispatch)
        await self._broker.publish(encode(self.node_id, dispatch))

    async def receive(self, raw: bytes) -> None:
        """A message from the broker: apply another node's dispatch here (our own was applied already)."""
        try:
            node_id, dispatch = decode(raw)
        except (ValueError, KeyError, TypeError, IndexError):
            log.warning("ignoring a malformed broker message", extra={"size": len(raw)})
            return
        if node_id != self.node_id:
            await self._node.apply(dispatch)
