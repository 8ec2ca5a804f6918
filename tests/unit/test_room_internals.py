"""Pins of the python-socketio internals realtime/publisher.py reads: when one changes, this fails first."""

from __future__ import annotations

import asyncio

import socketio

from roughcut.realtime import recovery
from roughcut.realtime.fanout import LocalManager
from roughcut.realtime.recovery import Lost, decode_notice, encode_notice, is_notice, rooms_by_id
from roughcut.realtime.routing import Routes
from tests.unit.test_routing import RecordingBroker


async def test_manager_rooms_hold_only_rooms_with_sockets() -> None:
    """`NodeDelivery._has_local` and `resync` read `manager.rooms[namespace]`: room name → this node's sockets."""
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=LocalManager())
    manager = sio.manager
    sid = await manager.connect("eio0", "/chat")
    await manager.enter_room(sid, "/chat", "chat:5:user:1")
    assert "chat:5:user:1" in manager.rooms["/chat"]
    assert None in manager.rooms["/chat"]  # every socket is in the room None: names are not all strings
    assert list(manager.get_participants("/chat", [sid])) == [(sid, "eio0")]  # and in the room of its sid
    await manager.leave_room(sid, "/chat", "chat:5:user:1")
    assert "chat:5:user:1" not in manager.rooms["/chat"]  # an emptied room is gone, not kept empty
    await manager.enter_room(sid, "/chat", "chat:6:user:1")
    manager.basic_close_room("chat:6:user:1", "/chat")
    assert "chat:6:user:1" not in manager.rooms["/chat"]


async def test_entering_a_room_through_the_server_waits_for_its_topic() -> None:
    """Room routing hooks `AsyncManager.enter_room`: the server's (and so a namespace's) `enter_room` must
    await it, or a client's replay could run before its node hears the room (realtime/routing.py)."""
    broker = RecordingBroker()
    broker.hold.clear()
    manager = LocalManager()
    manager.routes = Routes(broker, lambda: [])
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)
    sid = await manager.connect("eio0", "/chat")
    entering = asyncio.create_task(sio.enter_room(sid, "chat:5:user:1", namespace="/chat"))
    await asyncio.sleep(0)
    assert not entering.done()
    assert "chat:5:user:1" in manager.rooms["/chat"]  # entered first, so a prune meanwhile keeps the topic
    broker.hold.set()
    await asyncio.wait_for(entering, 1)
    assert broker.topics == {"chat:5"}


def test_rooms_are_grouped_by_their_thread_or_project() -> None:
    rooms: list[str | None] = [
        None,
        "chat:5:user:1",
        "chat:5:user:2",
        "chat:6:user:1",
        "user:1",
        "session:3",
        "chat:x:user:1",
    ]
    assert rooms_by_id(rooms, "chat", None) == {5: ["chat:5:user:1", "chat:5:user:2"], 6: ["chat:6:user:1"]}
    assert rooms_by_id(rooms, "chat", {6}) == {6: ["chat:6:user:1"]}
    assert rooms_by_id(["project:4:user:1"], "project", [4]) == {4: ["project:4:user:1"]}


def test_a_notice_round_trips_and_is_told_from_a_batch() -> None:
    lost = Lost({1, 2}, {3}, {9})
    raw = encode_notice("node-a", lost)
    assert is_notice(raw)
    assert not is_notice(b'{"node":"a","steps":[]}')
    assert decode_notice(raw) == ("node-a", lost)


def test_lost_rooms_are_bounded() -> None:
    lost = Lost()
    lost.chat.update(range(recovery.LOST_IDS_MAX))
    lost.merge(Lost(projects={1}, sessions={4}))
    assert lost.everything and not lost.chat and not lost.projects
    assert lost.sessions == {4}  # ended sessions are kept: their sockets must close everywhere
    taken = lost.take()
    assert taken.everything and not lost
