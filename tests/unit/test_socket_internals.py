"""Pins of the python-socketio internals realtime/base.py relies on: when one changes, this fails first."""

from __future__ import annotations

import socketio

from roughcut.realtime.fanout import LocalManager
from roughcut.realtime.root import RootNamespace


async def test_namespaces_of_one_connection_share_its_engine_io_sid() -> None:
    """`AuthNamespace._connection` finds a connection's other namespaces through its engine.io sid."""
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=LocalManager())
    manager = sio.manager
    root = await manager.connect("eio0", "/")
    chat = await manager.connect("eio0", "/chat")
    elsewhere = await manager.connect("eio1", "/chat")
    assert len({root, chat, elsewhere}) == 3  # one sid per namespace and connection
    assert manager.eio_sid_from_sid(chat, "/chat") == "eio0"
    assert manager.sid_from_eio_sid("eio0", "/") == root
    assert manager.sid_from_eio_sid("eio0", "/chat") == chat
    assert manager.sid_from_eio_sid("eio0", "/projects") is None  # a namespace it did not join
    assert manager.eio_sid_from_sid(chat, "/projects") is None


async def test_connecting_and_disconnecting_sockets_are_not_connected() -> None:
    """`AuthNamespace.alive`: a socket counts while its connect handler runs, not once its disconnect began."""
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=LocalManager())
    manager = sio.manager
    sid = await manager.pre_connect("eio0", "/chat")  # what the server does before calling on_connect
    assert manager.is_pre_connected(sid, "/chat") and not manager.is_connected(sid, "/chat")
    await manager.connect(sid, "/chat")
    assert manager.is_connected(sid, "/chat") and not manager.is_pre_connected(sid, "/chat")
    manager.pre_disconnect(sid, "/chat")  # what the server does before calling on_disconnect
    assert not manager.is_connected(sid, "/chat") and not manager.is_pre_connected(sid, "/chat")
    await manager.disconnect(sid, "/chat")
    assert manager.rooms == {} and manager.pending_disconnect == {}


def test_registered_namespaces_are_kept_by_path() -> None:
    """`AuthNamespace._connection` reads the registered namespace instances from `server.namespace_handlers`."""
    sio = socketio.AsyncServer(async_mode="aiohttp")
    namespace = RootNamespace(tokens=None)  # type: ignore[arg-type]
    sio.register_namespace(namespace)
    assert sio.namespace_handlers == {"/": namespace}
    assert namespace.server is sio
