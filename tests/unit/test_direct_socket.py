"""Pins of what realtime/direct_socket.py relies on: aiohttp's frame bytes, engine.io's socket lifecycle, and
the direct writes themselves (order, corking, the queue behind a full transport)."""

from __future__ import annotations

import asyncio

import engineio
import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.writer import WebSocketWriter
from engineio import packet
from engineio.async_socket import AsyncSocket

from roughcut.realtime.direct_socket import DirectEngine, DirectSocket
from roughcut.realtime.handoff import frame


class Transport:
    """A write transport that records writes; `full` makes its buffer look past the high-water mark."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.full = False
        self.closing = False
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.written.set()

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 1 << 20 if self.full else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (16384, 65536)


SIZES = [0, 1, 125, 126, 4000, 65535, 65536, 70000]
# A control frame (PONG) carries at most 125 bytes (RFC 6455, 5.5).
FRAMES = [(kind, n) for kind in (WSMsgType.TEXT, WSMsgType.BINARY) for n in SIZES]
FRAMES += [(WSMsgType.PONG, 0), (WSMsgType.PONG, 125)]


@pytest.mark.parametrize(("opcode", "size"), FRAMES)
async def test_frames_are_the_bytes_aiohttp_writes(opcode: WSMsgType, size: int) -> None:
    """A server's frame as aiohttp builds it: the fast path's prebuilt frames must be identical."""
    transport = Transport()
    writer = WebSocketWriter(protocol=None, transport=transport, use_mask=False)  # type: ignore[arg-type]
    payload = ("é" * size).encode()[:size]
    await writer.send_frame(payload, opcode)
    assert b"".join(transport.writes) == frame(opcode, payload)


async def test_engine_io_sockets_are_adopted_in_place() -> None:
    """engine.io makes its own AsyncSocket (async_server._handle_connect); adopting it keeps its state."""
    server = engineio.AsyncServer(async_mode="aiohttp")
    sock = AsyncSocket(server, "eio0")
    queue, session = sock.queue, sock.session
    DirectSocket.adopt(sock)
    assert type(sock) is DirectSocket
    assert sock.queue is queue and sock.session is session and sock.sid == "eio0"
    assert not sock.direct  # until its WebSocket runs, packets queue as the library's would


def _direct(transport: Transport) -> DirectSocket:
    sock = DirectSocket(DirectEngine(async_mode="aiohttp"), "eio0")
    sock._transport = transport  # what _websocket_handler sets once the WebSocket is open
    sock._high_water = transport.get_write_buffer_limits()[1]
    return sock


def _frame(text: str) -> bytes:
    return frame(WSMsgType.TEXT, text.encode())


async def test_packets_are_written_at_once_and_corked_frames_in_one_write() -> None:
    transport = Transport()
    sock = _direct(transport)
    sock.push(packet.Packet(packet.MESSAGE, "a"))
    assert transport.writes == [_frame("4a")] and sock.queue.empty()
    assert sock.cork() and not sock.cork()  # the second caller finds it corked already
    sock.push_frame(_frame("4b"))
    sock.push(packet.Packet(packet.MESSAGE, "c"))  # an ack while corked keeps its place
    assert len(transport.writes) == 1
    sock.uncork()
    assert transport.writes[1:] == [_frame("4b") + _frame("4c")]


async def test_a_full_transport_queues_frames_and_one_task_writes_them_in_order() -> None:
    transport = Transport()
    sock = _direct(transport)
    drained = asyncio.Event()

    async def drain() -> None:
        await drained.wait()

    sock._drain = drain
    transport.full = True
    for text in ("41", "42", "43"):
        sock.push_frame(_frame(text))
    assert transport.writes == [] and sock.queue.qsize() == 3  # what fanout's slow-client cut-off counts
    drainer = sock._drainer
    assert drainer is not None
    transport.full = False
    sock.push_frame(_frame("44"))  # queued behind the others although the transport has room again
    await asyncio.sleep(0)
    assert transport.writes == [_frame("41")]  # the drain task wrote one frame and waits for the peer
    drained.set()
    await asyncio.wait_for(drainer, 5)
    assert transport.writes == [_frame(t) for t in ("41", "42", "43", "44")]
    assert sock._drainer is None and sock.queue.empty()
    sock.push_frame(_frame("45"))
    assert transport.writes[-1] == _frame("45")  # direct again


async def test_pings_run_on_the_servers_deadlines_not_a_task_or_timer_per_socket() -> None:
    server = DirectEngine(async_mode="aiohttp", ping_interval=0.01, ping_timeout=0.01)
    socks = [DirectSocket(server, f"eio{n}") for n in range(3)]
    transports = [Transport() for _ in socks]
    for sock, transport in zip(socks, transports, strict=True):
        sock._transport = transport
        sock._high_water = 65536
    before = len(asyncio.all_tasks())
    for sock in socks:
        sock.schedule_ping()  # what engine.io calls at the handshake (last_ping is set at creation)
    assert len(asyncio.all_tasks()) == before
    # Due in the same second they share one loop timer (two if a second boundary falls between the calls).
    assert len(server.pings) == 3 and server.pings.timers < 3
    await asyncio.wait_for(asyncio.gather(*(t.written.wait() for t in transports)), 5)
    assert all(t.writes == [_frame("2")] for t in transports) and all(s.last_ping for s in socks)
    assert len(server.pings) == 3  # now waiting for the pongs


async def test_a_pong_reschedules_and_a_missing_pong_closes_and_cuts_the_connection() -> None:
    server = DirectEngine(async_mode="aiohttp", ping_interval=0.01, ping_timeout=0.01)
    gone: list[tuple[str, object]] = []

    async def disconnect(sid: str, reason: object) -> None:
        gone.append((sid, reason))

    server.on("disconnect", disconnect)
    answering, silent = DirectSocket(server, "eio0"), DirectSocket(server, "eio1")
    aborted, pongs = asyncio.Event(), []
    loop = asyncio.get_running_loop()

    class Answering(Transport):
        def write(self, data: bytes) -> None:  # the client answers each ping at once, as a live peer does
            super().write(data)
            if data == _frame("2"):
                pongs.append(loop.create_task(answering.receive(packet.Packet(packet.PONG))))

    class Connection:  # what the socket cuts: its handed-off connection (realtime/handoff.py)
        def __init__(self, transport: Transport) -> None:
            self.transport = transport

        def abort(self) -> None:
            if self.transport is silent._transport:
                aborted.set()

    for sock in (answering, silent):
        transport = Answering() if sock is answering else Transport()
        sock._conn = Connection(transport)  # type: ignore[assignment]
        sock._transport = transport
        sock._high_water = 65536
        sock.connected = True
        sock.schedule_ping()
    await asyncio.wait_for(aborted.wait(), 5)
    assert gone == [("eio1", server.reason.PING_TIMEOUT)] and silent.closed
    assert silent not in server.pings and not answering.closed
    assert pongs and answering in server.pings  # its pong scheduled the next ping


def test_the_library_socket_still_has_what_direct_socket_overrides() -> None:
    """An engine.io upgrade that renames these would silently bypass the fast path: fail here first."""
    for name in ("send", "close", "schedule_ping", "_websocket_handler", "_send_ping", "check_ping_timeout", "receive"):
        assert callable(getattr(AsyncSocket, name)), name
    server = engineio.AsyncServer(async_mode="aiohttp")
    assert {"queue", "last_ping", "connected", "upgraded", "upgrading", "closing", "closed"} <= set(
        vars(AsyncSocket(server, "eio0"))
    )
