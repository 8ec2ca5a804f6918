"""engine.io WebSocket sockets without a writer task: frames go straight to the connection's transport.

python-engineio runs, per WebSocket, a writer task blocked on a queue, a task per incoming frame (a
`wait_for` on the read), and a ping task sleeping between pings: four tasks and a wake-up per packet
sent. A `DirectSocket` instead
- writes each packet's frame to the transport at once while nothing is queued for it and the
  transport's buffer is under its high-water mark; past that, frames queue and one drain task writes
  them as the peer reads (a slow client's queue still cuts it off, realtime/fanout.py);
- reads in the WebSocket handler's own task instead of a task per frame, with no timeout: a peer that
  stops answering pings is cut off by the ping deadline instead;
- keeps its next ping (or the deadline for the pong) in the server's `Deadlines` (realtime/deadlines.py):
  one loop timer per second for all sockets, instead of a sleeping task (or a timer) per socket;
- closes the WebSocket right after writing the engine.io CLOSE packet (the JavaScript client waits for
  the server to close it).
A server frame is unmasked, so a room emit builds the frame once and every recipient gets the same
bytes (`text_frame`); frames pushed while the socket is corked (one dispatch being applied) are
joined into one write. Polling sockets, and WebSockets with permessage-deflate, keep the library's
queue and writer. Every socket of a `DirectEngine` gets a LightQueue (realtime/light_queue.py). The
engine.io behaviour relied on is pinned in tests/unit/test_direct_socket.py and test_light_queue.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import engineio
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket

from roughcut.realtime.deadlines import Deadlines
from roughcut.realtime.light_queue import LightQueue

log = logging.getLogger(__name__)

_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack
_FIN_TEXT = 0x81  # FIN + text opcode (RFC 6455, 5.2); no mask bit: server frames are unmasked


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame carrying `payload` (UTF-8)."""
    size = len(payload)
    if size < 126:
        return _LEN1(_FIN_TEXT, size) + payload
    if size < 65536:
        return _LEN2(_FIN_TEXT, 126, size) + payload
    return _LEN3(_FIN_TEXT, 127, size) + payload


def packet_frame(pkt: packet.Packet) -> bytes | None:
    """The WebSocket frame of an engine.io packet, or None for a binary one (the library path sends it)."""
    encoded = pkt.encode()
    return text_frame(encoded.encode()) if isinstance(encoded, str) else None


class DirectEngine(engineio.AsyncServer):  # type: ignore[misc]
    """engine.io's server for DirectSockets: a LightQueue per socket, and every socket's ping deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pings: Deadlines[DirectSocket] = Deadlines(DirectSocket.ping_due)

    def create_queue(self, *args: Any, **kwargs: Any) -> LightQueue:
        """Called by engine.io for each socket it makes (engineio/base_socket.py)."""
        return LightQueue()


class DirectSocket(AsyncSocket):  # type: ignore[misc]
    """An engine.io socket whose WebSocket writes go straight to the transport (see the module docstring).

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
    _ws: Any = None
    _corked: list[bytes] | None = None
    _closer: asyncio.Task[None] | None = None

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
        frame = packet_frame(pkt)
        if frame is None:
            self._enqueue(pkt)
        else:
            self.push_frame(frame)
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

    def _enqueue(self, item: bytes | packet.Packet) -> None:
        self.queue.put_nowait(item)
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
                if isinstance(item, bytes):
                    self._write(item)
                else:
                    await self._ws.send(item.encode())  # a binary packet: the library's framing
                if self._drain is not None:
                    await self._drain()  # returns at once unless the transport paused writing
        except (OSError, ConnectionError):
            return  # the peer is gone; the reader ends the socket
        finally:
            self._drainer = None

    def _end(self) -> None:
        """After the CLOSE packet: close the WebSocket once what is queued is written."""
        ws = self._ws
        if ws is None:
            return

        async def close() -> None:
            drainer = self._drainer
            if drainer is not None:
                await asyncio.gather(drainer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await ws.close()

        self._closer = asyncio.get_running_loop().create_task(close(), name="engine.io close")

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close; a long-poll the client left pending is answered now (the library held it for up to 45 s,
        which kept a Node client that had disconnected from exiting). A WebSocket closed for a ping timeout
        (here, or by engine.io's service task through check_ping_timeout) is cut at once: a peer that does
        not answer pings would not read a close either, and nothing else ends the read."""
        self.server.pings.cancel(self)
        await super().close(wait=wait, abort=abort, reason=reason)
        if reason == self.server.reason.PING_TIMEOUT and self._transport is not None:
            self._transport.abort()
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
        if getattr(ws, "compressed", True):
            await super()._websocket_handler(ws)  # permessage-deflate: frames cannot be prebuilt
            return
        if self.connected and not await self._upgrade(ws):
            return
        self.connected = self.upgraded = True
        self._ws = ws
        self._transport = ws.transport
        self._high_water = ws.transport.get_write_buffer_limits()[1] or 1
        self._drain = ws.drain
        for pending in self._take_queued():  # what was queued before the WebSocket ran (the OPEN packet) first
            self.push(pending)
        await self._read(ws)
        self._transport = None
        self.server.pings.cancel(self)
        drainer = self._drainer
        if drainer is not None:
            drainer.cancel()
        with contextlib.suppress(Exception):
            await ws.close()
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)

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

    async def _read(self, ws: Any) -> None:
        limit = self.server.max_http_buffer_size
        while True:
            try:
                data = await ws.wait()
            except (OSError, asyncio.CancelledError):
                return
            if len(data) > limit:
                return
            try:
                await self.receive(packet.Packet(encoded_packet=data))
            except exceptions.UnknownPacketError:
                continue
            except exceptions.SocketIsClosedError:
                return
            except Exception:
                log.exception("engine.io receive failed", extra={"sid": self.sid})

    async def _upgrade(self, ws: Any) -> bool:
        """The polling → WebSocket probe (as python-engineio does it); False when the client gave up."""
        self.upgrading = True
        try:
            probe = packet.Packet(encoded_packet=await ws.wait())
            if probe.packet_type != packet.PING or probe.data != "probe":
                return False
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            self.queue.put_nowait(packet.Packet(packet.NOOP))  # ends the pending long-poll
            upgrade = packet.Packet(encoded_packet=await ws.wait())
            return bool(upgrade.packet_type == packet.UPGRADE)
        except (OSError, ValueError):
            return False
        finally:
            self.upgrading = False
