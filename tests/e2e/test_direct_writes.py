"""Direct WebSocket writes (realtime/direct_socket.py) on a running server, with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.realtime import server as realtime_server
from roughcut.realtime.direct_socket import DirectSocket
from tests.helpers import Mailbox, signup
from tests.raw_socket import RawSocket

SOCKETS = 10
FRAMES = 1500
PAD = "x" * 8000  # 1,500 frames of ~8 KB: far past what the kernel's socket buffers take for a client not reading
WAIT = 20.0


def _library_tasks() -> list[str]:
    """Tasks python-engineio runs per WebSocket (its writer, a reader per frame, the ping sleeper)."""
    names = [getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks()]
    return [n for n in names if n.startswith("AsyncSocket.")]


async def _open(client: TestClient[Any, Any], count: int) -> tuple[aiohttp.ClientSession, list[RawSocket]]:
    session = aiohttp.ClientSession()
    sockets = [await RawSocket.open(session, str(client.make_url("/"))) for _ in range(count)]
    return session, sockets


async def test_websockets_run_without_the_librarys_tasks_per_socket(make_client: Any) -> None:
    client = await make_client()
    session, _sockets = await _open(client, SOCKETS)
    try:
        eio = client.app[keys.SIO].eio
        assert len(eio.sockets) == SOCKETS
        assert all(type(s) is DirectSocket and s.direct for s in eio.sockets.values())
        assert _library_tasks() == []
    finally:
        await session.close()


async def test_with_deflate_the_librarys_writer_runs(make_client: Any) -> None:
    """Compressed frames cannot be prebuilt: those sockets keep engine.io's writer (and its tasks)."""
    client = await make_client(ws_compression=True)
    session = aiohttp.ClientSession()
    url = str(client.make_url("/socket.io/?EIO=4&transport=websocket"))
    opened = []  # kept referenced: a collected client WebSocket closes
    try:
        for _ in range(SOCKETS):
            ws = await session.ws_connect(url, compress=15)
            opened.append(ws)
            assert (await ws.receive_str(timeout=WAIT)).startswith("0{")
            assert ws.compress == 15  # permessage-deflate was negotiated
        eio = client.app[keys.SIO].eio
        assert len(eio.sockets) == SOCKETS and not any(s.direct for s in eio.sockets.values())
        writers = [n for n in _library_tasks() if "writer" in n]
        assert len(writers) == SOCKETS
    finally:
        await session.close()


async def test_a_client_that_stops_reading_gets_every_frame_in_order(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    me = await signup(client, mailbox)
    sio = client.app[keys.SIO]
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, str(client.make_url("/")))
        await raw.connect(["/"], me["access_token"])
        ((eio_sid, sock),) = sio.eio.sockets.items()
        sid = sio.manager.sid_from_eio_sid(eio_sid, "/")
        queued = 0
        for n in range(FRAMES):  # the client reads nothing meanwhile
            await sio.emit("big", {"n": n, "pad": PAD}, to=sid, namespace="/")
            queued = max(queued, sock.queue.qsize())
        assert queued > 0  # the transport filled up and frames queued behind the drain task

        seen: list[int] = []
        async with asyncio.timeout(WAIT):
            while len(seen) < FRAMES:
                message = await raw.ws.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                if message.data.startswith('42["big"'):
                    seen.append(json.loads(message.data[2:])[1]["n"])
        assert seen == list(range(FRAMES))
        drainer = sock._drainer
        if drainer is not None:  # it may still be returning after its last write
            await asyncio.wait_for(drainer, WAIT)
        assert sock.queue.empty() and sock.direct


async def test_a_client_that_stops_answering_pings_is_cut_off_and_one_that_answers_stays(make_client: Any) -> None:
    """The ping deadlines (realtime/deadlines.py) are all that ends a silent peer's connection: the read
    has no timeout of its own."""
    client = await make_client()
    eio = client.app[keys.SIO].eio
    eio.ping_interval, eio.ping_timeout = 0.2, 1.5  # the answering client has 1.5 s even on a loaded box
    session, (answering, silent) = await _open(client, 2)
    try:
        async with asyncio.timeout(WAIT):
            pings = 0
            while True:
                message = await answering.ws.receive()
                if message.type == aiohttp.WSMsgType.TEXT and message.data == "2":
                    await answering.ws.send_str("3")
                    pings += 1
                    if silent.ws.closed or len(eio.sockets) < 2:
                        break
        # The silent peer's connection was cut after the ping it never answered.
        async with asyncio.timeout(WAIT):
            texts = []
            while (message := await silent.ws.receive()).type == aiohttp.WSMsgType.TEXT:
                texts.append(message.data)
        assert texts == ["2"] and message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        assert pings >= 1 and len(eio.sockets) == 1 and not answering.ws.closed
    finally:
        await session.close()


def _frames(task: asyncio.Task[Any]) -> list[str]:
    """The files of the coroutine frames a suspended task is waiting in, outermost first."""
    files = []
    coro: Any = task.get_coro()
    while coro is not None and hasattr(coro, "cr_frame"):
        if coro.cr_frame is not None:
            files.append(coro.cr_frame.f_code.co_filename)
        coro = coro.cr_await
    return files


async def test_an_idle_websocket_runs_no_task_and_aiohttp_lets_go_of_it(make_client: Any) -> None:
    """Once answered, the connection is handed off (realtime/handoff.py): aiohttp's handler tasks end, its
    server no longer lists the connection, and the socket still talks both ways."""
    client = await make_client()
    session, (sock,) = await _open(client, 1)
    try:
        server = client.server.runner.server
        assert server is not None
        async with asyncio.timeout(WAIT):
            while server.connections:  # noqa: ASYNC110 - aiohttp offers no event for it
                await asyncio.sleep(0.01)
        held = [t for t in asyncio.all_tasks() if any("aiohttp/web_protocol.py" in f for f in _frames(t))]
        assert held == [] and _library_tasks() == []
        (eio_sock,) = client.app[keys.SIO].eio.sockets.values()
        assert type(eio_sock) is DirectSocket and eio_sock.direct and eio_sock._reading is None
        await sock.ws.send_str("40/chat,")  # a CONNECT without a token: answered over the handed-off socket
        async with asyncio.timeout(WAIT):
            answer = await sock.ws.receive_str()
        assert answer.startswith("44/chat,")
    finally:
        await session.close()


async def test_no_session_keeps_the_request_that_opened_it(make_client: Any) -> None:
    """python-socketio keeps each session's environ for its life: neither a WebSocket's upgrade request nor a
    long-poll's first request stays in it (with its headers, protocol and transport), and both still work."""
    client = await make_client()
    session, (ws_sock,) = await _open(client, 1)
    try:
        opened = await client.get("/socket.io/?EIO=4&transport=polling")
        assert opened.status == 200
        sid = json.loads((await opened.text())[1:])["sid"]
        sio = client.app[keys.SIO]
        assert len(sio.environ) == 2
        assert all("aiohttp.request" not in environ and environ["PATH_INFO"] for environ in sio.environ.values())
        asked = await client.post(f"/socket.io/?EIO=4&transport=polling&sid={sid}", data="40/chat,")
        assert asked.status == 200
        answer = await client.get(f"/socket.io/?EIO=4&transport=polling&sid={sid}")
        assert (await answer.text()).startswith("44/chat,")  # refused for want of a token: the session answers
        await ws_sock.ws.send_str("40/chat,")
        async with asyncio.timeout(WAIT):
            assert (await ws_sock.ws.receive_str()).startswith("44/chat,")
    finally:
        await session.close()


async def test_a_drain_cuts_a_peer_that_never_answers_its_close(make_client: Any, monkeypatch: Any) -> None:
    """A drain is bounded: a WebSocket whose peer ignores the close is cut when the drain's wait ends (aiohttp
    no longer holds the handed-off connection, so nothing else would cut it before the close timeout)."""
    client = await make_client()
    sio = client.app[keys.SIO]
    monkeypatch.setattr(realtime_server, "DRAIN_SECONDS", 0.5)
    async with aiohttp.ClientSession() as session:
        polite = await RawSocket.open(session, str(client.make_url("/")))
        url = str(client.make_url("/socket.io/?EIO=4&transport=websocket"))
        silent = await session.ws_connect(url, autoclose=False, autoping=False)
        assert (await silent.receive_str(timeout=WAIT)).startswith("0{")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(realtime_server.drain_sockets(sio), WAIT)
        assert await polite.closed() == ["1"]  # the engine.io CLOSE packet, then the close handshake
        kinds = []
        async with asyncio.timeout(WAIT):
            while (message := await silent.receive()).type not in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                kinds.append(message.type)
        assert kinds == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.CLOSE]  # told, never answered, then cut
        assert loop.time() - started < 2.0 and sio.eio.sockets == {}
