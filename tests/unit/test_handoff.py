"""Pins of what realtime/handoff.py relies on of aiohttp, on a real server and real connections: the
handshake answered by aiohttp, the bytes that came with it kept, aiohttp letting go of the connection, and
the frames (pings, the close handshake, refused frames) handled by the Connection."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import os
import struct
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from roughcut.realtime import handoff
from roughcut.realtime.handoff import Connection, HandOffResponse, take_over

WAIT = 10.0
MAX_SIZE = 1024
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3


class Recorder:
    """A listener that records what the connection hands it."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.gone = asyncio.Event()

    def received(self, data: str | bytes) -> None:
        self.messages.put_nowait(data)

    def lost(self) -> None:
        self.gone.set()


class Served:
    """A server whose one route hands each WebSocket off to a Recorder."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[tuple[Connection, Recorder]] = asyncio.Queue()
        self.requests: list[weakref.ref[web.Request]] = []
        self.server: TestServer | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(weakref.ref(request))
        response = HandOffResponse(max_msg_size=MAX_SIZE, compress=False)
        connection = await take_over(request, response, MAX_SIZE)
        assert connection is not None
        recorder = Recorder()
        connection.listen(recorder)
        self.connections.put_nowait((connection, recorder))
        return response

    async def next(self) -> tuple[Connection, Recorder]:
        return await asyncio.wait_for(self.connections.get(), WAIT)

    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/ws"))


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = web.Application()
    found = Served()
    app.router.add_get("/ws", found.handler)
    async with TestServer(app) as server:
        found.server = server
        yield found


def _masked(opcode: int, payload: bytes) -> bytes:
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    size = len(payload)
    header = (
        struct.pack("!BB", 0x80 | opcode, 0x80 | size) if size < 126 else struct.pack("!BBH", 0x80 | opcode, 0xFE, size)
    )
    return header + key + body


async def test_frames_sent_with_the_handshake_reach_the_listener_whole_and_in_order(served: Served) -> None:
    """A client may write its first frames in the same packet as the upgrade request, one cut in two: aiohttp
    keeps them raw in its protocol's message tail (`_post_start` set no parser), the Connection reads them first."""
    assert served.server is not None
    reader, writer = await asyncio.open_connection(served.server.host, served.server.port)
    key = base64.b64encode(os.urandom(16))
    request = (
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    second = _masked(WSMsgType.TEXT, "é second".encode())
    writer.write(request + _masked(WSMsgType.TEXT, b"first") + second[:5])
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert head.startswith(b"HTTP/1.1 101") and b"Sec-WebSocket-Accept: " + accept in head
    _connection, recorder = await served.next()
    writer.write(second[5:])
    got = [await asyncio.wait_for(recorder.messages.get(), WAIT) for _ in range(2)]
    assert got == ["first", "é second"]
    writer.close()
    await asyncio.wait_for(recorder.gone.wait(), WAIT)


async def test_aiohttp_lets_go_of_the_connection_and_its_request(served: Served) -> None:
    assert served.server is not None
    async with aiohttp.ClientSession() as session, session.ws_connect(served.url(), autoping=False) as ws:
        connection, recorder = await served.next()
        runner_server = served.server.runner.server
        assert runner_server is not None
        async with asyncio.timeout(WAIT):
            while runner_server.connections:  # noqa: ASYNC110 - aiohttp offers no event for it
                await asyncio.sleep(0.01)
        gc.collect()
        assert [r() for r in served.requests] == [None]  # nothing holds the upgrade request
        await ws.send_str("still here")
        assert await asyncio.wait_for(recorder.messages.get(), WAIT) == "still here"
        connection.write(handoff.frame(WSMsgType.TEXT, b"and back"))
        assert (await ws.receive(timeout=WAIT)).data == "and back"


async def test_pings_are_answered_and_a_peers_close_is_returned(served: Served) -> None:
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url(), autoping=False)
        _connection, recorder = await served.next()
        await ws.ping(b"are you there")
        pong = await ws.receive(timeout=WAIT)
        assert (pong.type, pong.data) == (WSMsgType.PONG, b"are you there")
        await asyncio.wait_for(ws.close(code=4000), WAIT)  # returns once the server answered the close
        assert ws.close_code == 4000
        await asyncio.wait_for(recorder.gone.wait(), WAIT)


async def test_a_frame_over_the_limit_closes_with_message_too_big(served: Served, monkeypatch: Any) -> None:
    monkeypatch.setattr(handoff, "CLOSE_TIMEOUT_SECONDS", 60.0)  # the cut below cannot be the close timeout's
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(served.url(), autoping=False, autoclose=False)
        _connection, recorder = await served.next()
        await ws.send_str("x" * (MAX_SIZE + 1))
        closing = await ws.receive(timeout=WAIT)
        assert (closing.type, closing.data) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.MESSAGE_TOO_BIG)
        assert recorder.messages.empty()
        await asyncio.wait_for(recorder.gone.wait(), WAIT)  # cut at once: the parser reads nothing more


async def test_our_close_waits_for_the_peer_then_cuts_one_that_does_not_answer(
    served: Served, monkeypatch: Any
) -> None:
    monkeypatch.setattr(handoff, "CLOSE_TIMEOUT_SECONDS", 0.2)
    async with aiohttp.ClientSession() as session:
        polite = await session.ws_connect(served.url(), autoping=False)
        polite_conn, polite_rec = await served.next()
        polite_conn.close()
        assert (await polite.receive(timeout=WAIT)).type == WSMsgType.CLOSE
        assert not polite_rec.gone.is_set()  # waits for the answer
        await polite.close()
        await asyncio.wait_for(polite_rec.gone.wait(), WAIT)

        silent = await session.ws_connect(served.url(), autoping=False, autoclose=False)
        silent_conn, silent_rec = await served.next()
        silent_conn.close()
        assert (await silent.receive(timeout=WAIT)).type == WSMsgType.CLOSE  # and never answers it
        await asyncio.wait_for(silent_rec.gone.wait(), WAIT)  # cut after the close timeout
        await silent.close()
