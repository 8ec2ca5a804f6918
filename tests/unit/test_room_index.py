"""IndexedRooms (realtime/room_index.py) against python-socketio's own manager: the same tables after the same
steps, and a disconnect that never walks the namespace's room table."""

from __future__ import annotations

import random
from typing import Any

import socketio

from roughcut.realtime.room_index import IndexedRooms

NS = "/chat"


def _server(manager: socketio.AsyncManager) -> socketio.AsyncServer:
    return socketio.AsyncServer(async_mode="aiohttp", client_manager=manager)


def _state(manager: socketio.AsyncManager, sids: list[str]) -> dict[str, Any]:
    rooms = {ns: {room: dict(members) for room, members in table.items()} for ns, table in manager.rooms.items()}
    return {
        "rooms": rooms,
        "get_rooms": {sid: sorted(map(str, manager.get_rooms(sid, NS))) for sid in sids},
        "connected": {sid: manager.is_connected(sid, NS) for sid in sids},
        "pending_connect": {ns: sorted(s) for ns, s in manager.pending_connect.items()},
        "pending_disconnect": {ns: sorted(s) for ns, s in manager.pending_disconnect.items()},
    }


async def test_the_index_keeps_the_same_tables_as_the_library_step_by_step() -> None:
    """A few thousand random steps (connect, enter, leave, close a room, begin and end a disconnect) run on both
    managers with the same sids; after each, every table and answer agrees."""
    rng = random.Random(12)
    library, indexed = socketio.AsyncManager(), IndexedRooms()
    servers = [_server(library), _server(indexed)]
    for server in servers:  # both draw the same sids
        numbers = iter(range(1_000_000))
        server.eio.generate_id = lambda numbers=numbers: f"s{next(numbers)}"
    live: list[str] = []
    for step in range(3000):
        kind = rng.random()
        if kind < 0.15 or not live:
            eio_sid = f"e{step}"
            sids = {await m.pre_connect(eio_sid, NS) for m in (library, indexed)}
            (sid,) = sids
            if rng.random() < 0.8:
                for m in (library, indexed):
                    await m.connect(sid, NS)
            live.append(sid)
        elif kind < 0.55:
            sid, room = rng.choice(live), f"room{rng.randrange(12)}"
            for m in (library, indexed):
                await m.enter_room(sid, NS, room)
        elif kind < 0.75:
            sid, room = rng.choice(live), f"room{rng.randrange(12)}"
            for m in (library, indexed):
                await m.leave_room(sid, NS, room)
        elif kind < 0.8:
            room = f"room{rng.randrange(12)}"
            for m in (library, indexed):
                await m.close_room(room, NS)
        else:
            sid = live.pop(rng.randrange(len(live)))
            if rng.random() < 0.5:
                for m in (library, indexed):
                    m.pre_disconnect(sid, NS)
            for m in (library, indexed):
                await m.disconnect(sid, NS)
        assert _state(indexed, live) == _state(library, live), step


class _NoWalk(dict[Any, Any]):
    def copy(self) -> dict[Any, Any]:
        raise AssertionError("the namespace's room table was copied")

    def items(self) -> Any:
        raise AssertionError("the namespace's room table was walked")


async def test_a_disconnect_reads_only_the_sockets_own_rooms() -> None:
    manager = IndexedRooms()
    _server(manager)
    sids = [await manager.connect(f"e{n}", NS) for n in range(50)]
    for n, sid in enumerate(sids):
        await manager.enter_room(sid, NS, f"user{n}")
        await manager.enter_room(sid, NS, "chat")
    manager.rooms[NS] = _NoWalk(manager.rooms[NS])
    manager.pre_disconnect(sids[0], NS)
    await manager.disconnect(sids[0], NS)
    assert manager.get_rooms(sids[1], NS) == [sids[1], "user1", "chat"]
    assert sids[0] not in manager.rooms[NS]["chat"] and "user0" not in manager.rooms[NS]
    assert not manager.is_connected(sids[0], NS) and manager.is_connected(sids[1], NS)
    assert NS not in manager.pending_disconnect
