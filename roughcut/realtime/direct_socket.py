"""engine.io WebSocket sockets without a task of their own: frames go straight to the connection's transport.

python-engineio runs, per WebSocket, a writer task blocked on a queue, a task per incoming frame (a
`wait_for` on the read), and a ping task sleeping between pings: four tasks and a wake-up per packet
sent, on top of aiohttp's two tasks per connection. A `DirectSocket` instead
- takes its connection from aiohttp once the handshake is answered (realtime/handoff.py) and is handed
  each message by callback; a task runs only while messages wait to be handled, in order;
- writes each packet's frame to the transport at once while nothing is queued for it and the
  transport's buffer is under its high-water mark; past that, frames queue and one drain task writes
  them as the peer reads (a slow client's queue still cuts it off, realtime/fanout.py);
- keeps its next ping (or the deadline for the pong) in the server's `Deadlines` (realtime/deadlines.py):
  one loop timer per second for all sockets, instead of a sleeping task (or a timer) per socket;
- closes the WebSocket right after writing the engine.io CLOSE packet (the JavaScript client waits for
  the server to close it).
A server frame is unmasked, so a room emit builds the frame once and every recipient gets the same
bytes (`packet_frame`); frames pushed while the socket is corked (one dispatch being applied) are
joined into one write. Polling sockets, and WebSockets with permessage-deflate, keep the library's
queue and writer. Every socket of a `DirectEngine` gets a LightQueue (realtime/light_queue.py). The
engine.io behaviour relied on is pinned in tests/unit/test_direct_socket.py and test_light_queue.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
from aiohttp import WSMsgType
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

from roughcut.realtime.deadlines import Deadlines
from roughcut.realtime.handoff import Connection, frame
from roughcut.realtime.light_queue import LightQueue

log = logging.getLogger(__name__)

INBOX_PAUSE = 64  # messages waiting to be handled before the socket stops reading from its peer
_PROBE, _UPGRADE = 1, 2  # the polling -> WebSocket upgrade: waiting for the probe, then for UPGRADE


def packet_frame(pkt: packet.Packet) -> bytes:
    """The WebSocket frame of an engine.io packet (a binary packet's bytes go in a binary frame)."""
    encoded = pkt.encode()
    return frame(WSMsgType.TEXT, encoded.encode()) if isinstance(encoded, str) else frame(WSMsgType.BINARY, encoded)


class DirectEngine(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server for DirectSockets: a LightQueue per socket, and every socket's ping deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pings: Deadlines[DirectSocket] = Deadlines(DirectSocket.ping_due)

    def create_queue(self, *args: Any, **kwargs: Any) -> LightQueue:
        """Called by engine.io for each socket it makes (engineio/base_socket.py)."""
        return LightQueue()


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    """An engine.io socket whose WebSocket is a handed-off Connection (see the module docstring).

    Swapped in for the library's class when the connection opens (`adopt`), before its first ping or
    transport; until its WebSocket runs (and on the polling transport) it behaves as the library's socket.
    """

    server: DirectEngine
    last_ping: float | None  # the library's state, declared for the type checker
    connected: bool
    upgraded: bool
    upgrading: bool
    # Class-level defaults: instances are created by engine.io as AsyncSocket and re-classed in `adopt`.
    _transport: asyncio.WriteTransport | None = None
    _high_water = 0
    _drain: Callable[[], Awaitable[None]] | None = None
    _drainer: asyncio.Task[None] | None = None
    _conn: Connection | None = None
    _corked: list[bytes] | None = None
    _closer: asyncio.Task[None] | None = None
    _inbox: deque[str | bytes] | None = None
    _reading: asyncio.Task[None] | None = None
    _stage = 0  # _PROBE or _UPGRADE while a polling socket upgrades

    @classmethod
    def adopt(cls, sock: AsyncSocket) -> None:
        """Make a freshly opened library socket a DirectSocket (same state, same instance)."""
        if type(sock) is AsyncSocket:
            sock.__class__ = cls

    @property
    def direct(self) -> bool:
        """Whether frames are written straight to a WebSocket transport."""
        return self._transport is not None

    # ---- sending ----

    async def send(self, pkt: packet.Packet) -> None:
        """Send a packet to the client (the library's entry point: acks, connect answers, emits with callbacks)."""
        if await self.check_ping_timeout():
            self.push(pkt)

    def push(self, pkt: packet.Packet) -> None:
        """Send a packet now, without waiting: written, corked or queued behind what is queued."""
        if self._transport is None:
            self.queue.put_nowait(pkt)
            return
        self.push_frame(packet_frame(pkt))
        if pkt.packet_type == packet.CLOSE:
            self._end()

    def push_frame(self, frame: bytes) -> None:
        """Send a prebuilt frame (the same bytes for every recipient of a room emit); direct sockets only."""
        if self._corked is not None:
            self._corked.append(frame)
        elif self._drainer is None and self._writable():
            self._write(frame)
        else:
            self._enqueue(frame)

    def cork(self) -> bool:
        """Hold this socket's frames until `uncork` (True when this call corked it)."""
        if self._corked is not None or self._transport is None:
            return False
        self._corked = []
        return True

    def uncork(self) -> None:
        """Send what was held, as one write when the transport takes it."""
        frames, self._corked = self._corked, None
        if frames:
            self.push_frame(frames[0] if len(frames) == 1 else b"".join(frames))

    def _writable(self) -> bool:
        transport = self._transport
        return transport is not None and transport.get_write_buffer_size() < self._high_water

    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _enqueue(self, frame: bytes) -> None:
        self.queue.put_nowait(frame)
        if self._drainer is None:
            self._drainer = asyncio.get_running_loop().create_task(self._drain_queue(), name="engine.io drain")

    async def _drain_queue(self) -> None:
        """Write what queued up while the transport was full, as the peer reads it; then back to direct writes."""
        try:
            while True:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                self.queue.task_done()
                if item is None:
                    return
                self._write(item)
                if self._drain is not None:
                    await self._drain()  # returns at once unless the transport paused writing
        except (OSError, ConnectionError):
            return  # the peer is gone; the connection reports it
        finally:
            self._drainer = None

    def _end(self) -> None:
        """After the CLOSE packet: close the WebSocket once what is queued is written."""
        conn, drainer = self._conn, self._drainer
        if conn is None:
            return
        if drainer is None:
            conn.close()
            return

        async def close() -> None:
            await asyncio.gather(drainer, return_exceptions=True)
            conn.close()

        self._closer = asyncio.get_running_loop().create_task(close(), name="engine.io close")

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close; a long-poll the client left pending is answered now (the library held it for up to 45 s,
        which kept a Node client that had disconnected from exiting). A WebSocket closed for a ping timeout
        (here, or by engine.io's service task through check_ping_timeout) is cut at once: a peer that does
        not answer pings would not read a close either."""
        self.server.pings.cancel(self)
        await super().close(wait=wait, abort=abort, reason=reason)
        if reason == self.server.reason.PING_TIMEOUT and self._conn is not None:
            self._conn.abort()
        if not self.upgraded and self.queue.empty():
            self.queue.put_nowait(None)

    # ---- pings ----

    def schedule_ping(self) -> None:
        """The next ping after ping_interval (called at the handshake and on each pong)."""
        if self.last_ping:
            self.last_ping = None
            self.server.pings.set(self, self.server.ping_interval)

    def ping_due(self) -> None:
        """The socket's deadline passed: time for a ping, or the pong to the last one did not come in time."""
        if self.closing or self.closed:
            return
        if self.last_ping is None:
            self.last_ping = time.time()
            self.push(packet.Packet(packet.PING))
            self.server.pings.set(self, self.server.ping_timeout)
        else:
            timed_out = self.close(wait=False, abort=True, reason=self.server.reason.PING_TIMEOUT)
            self._closer = asyncio.get_running_loop().create_task(timed_out, name="engine.io ping timeout")

    # ---- the WebSocket ----

    async def _websocket_handler(self, ws: Any) -> None:
        conn: Connection | None = getattr(ws, "connection", None)
        if conn is None:
            await super()._websocket_handler(ws)  # permessage-deflate: the library's reader and writer
            return
        if self.closing or self.closed or self._conn is not None:
            return  # the caller closes the connection nobody listens to
        self._conn = conn
        if self.connected:
            self.upgrading, self._stage = True, _PROBE  # polling -> WebSocket: the probe first
        else:
            self._open()
        conn.listen(self)

    def _open(self) -> None:
        """The WebSocket carries the session from now on: what was queued for it goes first."""
        conn = self._conn
        assert conn is not None
        assert conn.transport is not None
        self.connected = self.upgraded = True
        self._transport = conn.transport
        self._high_water = conn.transport.get_write_buffer_limits()[1] or 1
        self._drain = conn.drain
        for pending in self._take_queued():
            self.push(pending)

    def _take_queued(self) -> list[packet.Packet]:
        taken: list[packet.Packet] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return taken
            self.queue.task_done()
            if item is not None:
                taken.append(item)

    def received(self, data: str | bytes) -> None:
        """A message from the peer (the Connection's callback): handled in order, in one task while any wait."""
        inbox = self._inbox
        if inbox is None:
            inbox = self._inbox = deque()
        inbox.append(data)
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._handle_inbox(), name="engine.io read")
        elif len(inbox) == INBOX_PAUSE and self._conn is not None and self._conn.transport is not None:
            self._conn.transport.pause_reading()  # resumed once the inbox is handled

    async def _handle_inbox(self) -> None:
        inbox = self._inbox
        assert inbox is not None
        try:
            while inbox:
                data = inbox.popleft()
                if self._stage:
                    self._upgrade_step(data)
                elif not await self._receive(data):
                    inbox.clear()
                    if self._conn is not None:
                        self._conn.close()
        finally:
            self._reading = self._inbox = None
            conn = self._conn
            if conn is not None and conn.transport is not None and not conn.transport.is_closing():
                conn.transport.resume_reading()

    async def _receive(self, data: str | bytes) -> bool:
        """Handle one message; False once the socket is closed."""
        try:
            await self.receive(packet.Packet(encoded_packet=data))
        except exceptions.UnknownPacketError:
            pass
        except exceptions.SocketIsClosedError:
            return False
        except Exception:
            log.exception("engine.io receive failed", extra={"sid": self.sid})
        return True

    def _upgrade_step(self, data: str | bytes) -> None:
        """The polling -> WebSocket probe, as python-engineio does it; a client that gives up stays on polling."""
        conn = self._conn
        assert conn is not None
        try:
            pkt = packet.Packet(encoded_packet=data)
        except ValueError:
            pkt = packet.Packet(packet.NOOP)
        if self._stage == _PROBE and pkt.packet_type == packet.PING and pkt.data == "probe":
            conn.write(packet_frame(packet.Packet(packet.PONG, data="probe")))
            self.queue.put_nowait(packet.Packet(packet.NOOP))  # ends the pending long-poll
            self._stage = _UPGRADE
            return
        self._stage, self.upgrading = 0, False
        if pkt.packet_type == packet.UPGRADE and not self.closing and not self.closed:
            self._open()
        else:
            self._conn = None
            conn.close()

    def lost(self) -> None:
        """The connection ended (the Connection's callback): the socket closes once its messages are handled."""
        if self._conn is None:
            return  # an upgrade that failed: the socket goes on polling
        if self._stage:
            self._stage, self.upgrading, self._conn = 0, False, None  # gone before the upgrade: still polling
            return
        self._transport = None
        self.server.pings.cancel(self)
        drainer = self._drainer
        if drainer is not None:
            drainer.cancel()
        self._closer = asyncio.get_running_loop().create_task(self._closed_by_peer(), name="engine.io closed")

    async def _closed_by_peer(self) -> None:
        reading = self._reading
        if reading is not None:
            await asyncio.gather(reading, return_exceptions=True)
        self._conn = None
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        if self.server.sockets.get(self.sid) is self:
            del self.server.sockets[self.sid]
