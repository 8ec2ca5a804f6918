"""Direct room emits: one packet queued per recipient, and a client too far behind is cut off."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import socketio

from roughcut.realtime import fanout
from roughcut.realtime.fanout import DirectEmit, LocalManager, RedisManager


@dataclass
class FakeSocket:
    """What DirectEmit touches of an engine.io socket."""

    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    closed: bool = False
    closing: bool = False
    aborted: bool = False

    async def close(self, wait: bool = True, abort: bool = False) -> None:
        self.closed, self.aborted = True, abort


async def _server(n: int) -> tuple[socketio.AsyncServer, list[str], list[FakeSocket]]:
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=LocalManager())
    sockets = []
    sids = []
    for i in range(n):
        eio_sid = f"eio{i}"
        sid = await sio.manager.connect(eio_sid, "/chat")
        await sio.manager.enter_room(sid, "/chat", "room")
        sock = FakeSocket()
        sio.eio.sockets[eio_sid] = sock
        sockets.append(sock)
        sids.append(sid)
    return sio, sids, sockets


async def test_one_encoded_packet_per_recipient() -> None:
    sio, sids, sockets = await _server(3)
    await sio.emit("message", {"seq": 1}, to="room", namespace="/chat", skip_sid=sids[2])
    first, second = sockets[0].queue.get_nowait(), sockets[1].queue.get_nowait()
    assert first is second  # encoded once, shared
    assert first.encode() == '42/chat,["message",{"seq":1}]'
    assert sockets[2].queue.empty()


async def test_slow_client_is_cut_off(monkeypatch: Any) -> None:
    monkeypatch.setattr(fanout, "SLOW_CLIENT_BACKLOG", 5)
    sio, _sids, (fast, slow) = await _server(2)
    for i in range(5):
        await sio.emit("message", {"seq": i}, to="room", namespace="/chat")
        fast.queue.get_nowait()  # the fast client keeps up
    assert slow.queue.qsize() == 5
    await sio.emit("message", {"seq": 5}, to="room", namespace="/chat")
    await asyncio.sleep(0)  # let the scheduled close run
    assert slow.aborted
    assert slow.queue.qsize() == 5  # nothing more was queued for it
    assert fast.queue.qsize() == 1 and not fast.closed


async def test_redis_manager_delivers_what_other_nodes_send_with_direct_emits() -> None:
    """Pins python-socketio internals we rely on: AsyncPubSubManager._handle_emit delivers through the next
    emit in the MRO (DirectEmit), and constructing the manager opens no connection."""
    manager = RedisManager("redis://127.0.0.1:1/0", channel="pin-test")
    assert RedisManager.__mro__.index(DirectEmit) < RedisManager.__mro__.index(socketio.AsyncManager)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    eio_sid = "eio0"
    sid = await sio.manager.connect(eio_sid, "/chat")
    await sio.manager.enter_room(sid, "/chat", "room")
    sock = FakeSocket()
    sio.eio.sockets[eio_sid] = sock
    message = {"method": "emit", "event": "typing", "data": {"typing": True}, "namespace": "/chat"}
    message |= {"room": "room", "skip_sid": None, "callback": None, "host_id": "another-node"}
    await sio.manager._handle_emit(message)
    assert sock.queue.get_nowait().encode() == '42/chat,["typing",{"typing":true}]'


async def test_basic_close_room_is_local() -> None:
    """Pins BaseManager.basic_close_room: the publisher closes rooms on each node itself, without Redis."""
    sio, sids, _sockets = await _server(2)
    sio.manager.basic_close_room("room", "/chat")
    assert list(sio.manager.get_participants("/chat", "room")) == []
    assert sio.manager.is_connected(sids[0], "/chat")
