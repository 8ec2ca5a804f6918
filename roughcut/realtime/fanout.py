"""Room emits without a task per recipient, and a bound on what a slow client may have queued.

python-socketio's `AsyncManager.emit` encodes a room emit once, then creates one asyncio task per
recipient that puts the packet on that socket's queue. With 20 recipients a message that is 20 task
creations and a wait; here the one encoded packet goes onto each socket's queue directly (the queues
are unbounded, so `put_nowait` is what `put` would do). A socket whose queue already holds
SLOW_CLIENT_BACKLOG packets is cut off instead: its client reconnects and replays (`join {after_seq}`,
`subscribe {after_event_id}`), so memory stays bounded (DESIGN.md, real-time guarantees).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from roughcut.realtime.direct_socket import packet_frame
from roughcut.realtime.room_index import IndexedRooms
from roughcut.realtime.routing import Routes, topic_of

log = logging.getLogger(__name__)
SLOW_CLIENT_BACKLOG = 2000


class DirectEmit(IndexedRooms):
    """The emit half of a manager; combine it with the in-process or the Redis manager.

    Entering a room also attends the room's topic (realtime/routing.py) before it returns, so the node
    receives the room's messages before the caller replays what the client missed.
    """

    routes: Routes | None = None
    _corked: list[Any] | None = None  # sockets holding frames until the end of `batch`

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the direct frames emitted inside the block: each socket gets one write for all of them."""
        if self._corked is not None:  # nested: the outer block sends
            yield
            return
        self._corked = []
        try:
            yield
        finally:
            corked, self._corked = self._corked, None
            for sock in corked:
                sock.uncork()

    async def enter_room(self, sid: str, namespace: str, room: str, eio_sid: str | None = None) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        topic = topic_of(room)
        if topic is not None and self.routes is not None:
            await self.routes.attend(topic)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:  # acks need a packet per recipient: the library's own path
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs)
            return
        room = to or room
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, *args]).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        # One WebSocket frame for every direct recipient (server frames are unmasked: identical bytes).
        frame = packet_frame(packets[0]) if len(packets) == 1 else None
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed or sock.closing:
                continue
            if sock.queue.qsize() >= SLOW_CLIENT_BACKLOG:
                log.warning("dropping a client that fell behind", extra={"sid": sid, "backlog": sock.queue.qsize()})
                asyncio.get_running_loop().create_task(sock.close(wait=False, abort=True))
                continue
            if frame is not None and getattr(sock, "direct", False):
                if self._corked is not None and sock.cork():
                    self._corked.append(sock)
                sock.push_frame(frame)
                continue
            push = getattr(sock, "push", sock.queue.put_nowait)  # a DirectSocket writes or queues it
            for pkt in packets:
                push(pkt)


class LocalManager(DirectEmit):
    """The in-process manager (one node) with direct emits."""


class RedisManager(socketio.AsyncRedisManager, DirectEmit):  # type: ignore[misc]
    """python-socketio's Redis manager (typing notices, acks, remote disconnects); each node delivers what
    it receives from Redis with direct emits. Committed changes do not pass here: the publisher sends
    them to the other nodes as one broker message per batch (realtime/publisher.py).

    create_sio gives its Redis client the node's retry policy (`redis_options`): after a Redis restart
    redis-py reconnects its subscription in place and resubscribes. Without it the library's listener
    logs an ERROR, waits a second and builds a new client (tests/e2e/test_redis_restart.py)."""
