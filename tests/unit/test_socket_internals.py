"""Pins of the python-socketio internals realtime/base.py relies on: when one changes, this fails first."""

from __future__ import annotations

import re
from pathlib import Path

import engineio
import socketio
from engineio import packet
from engineio.async_socket import AsyncSocket

from roughcut.realtime import base
from roughcut.realtime.fanout import LocalManager
from roughcut.realtime.protocol import ENVIRON_KEYS
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


async def test_an_engine_io_websocket_ends_only_when_its_queue_yields_none() -> None:
    """`server._close` (the drain): the close packet alone leaves the writer waiting for more packets
    (the JavaScript client then waits too, for ping_interval + ping_timeout); a None ends it, and the
    writer then closes the WebSocket."""
    server = engineio.AsyncServer(async_mode="aiohttp")
    sock = AsyncSocket(server, "eio0")
    sock.upgraded = True
    await sock.close(wait=False)
    assert [p.packet_type for p in await sock.poll()] == [packet.CLOSE]
    assert sock.queue.empty()  # nothing tells the writer to stop
    sock.queue.put_nowait(None)
    assert await sock.poll() == []  # the writer's signal to close the WebSocket


_ENVIRON_READ = re.compile(r"""environ(?:\.get\(|\[)['"]([A-Za-z_.]+)['"]""")
# Keys only other servers' drivers read (ASGI, eventlet, gunicorn, sanic, tornado, WSGI websockets).
_OTHER_DRIVERS = ("asgi.", "eventlet.", "gunicorn.", "sanic.", "tornado.", "wsgi.websocket")


def test_every_environ_key_the_libraries_read_is_kept() -> None:
    """protocol.ENVIRON_KEYS trims each socket's environ: an upgrade of python-engineio or python-socketio that
    reads another key must fail here, not lose the key in production."""
    read: set[str] = set()
    for package in (engineio, socketio):
        root = Path(package.__file__).parent
        for source in [*root.glob("*.py"), *root.glob("async_drivers/aiohttp.py")]:
            read |= set(_ENVIRON_READ.findall(source.read_text()))
    ours = Path(base.__file__).read_text()
    read |= set(_ENVIRON_READ.findall(ours))
    assert {"HTTP_ORIGIN", "QUERY_STRING", "HTTP_COOKIE"} <= read  # the scan itself works
    assert {key for key in read if not key.startswith(_OTHER_DRIVERS)} <= ENVIRON_KEYS
