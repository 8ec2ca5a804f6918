"""Malformed Socket.IO / engine.io input and unknown events, over real sockets.

A malformed packet closes the connection that sent it, with at most one WARNING and no ERROR anywhere,
while another client's chat goes on; an unknown event is answered `unknown_event`. The last tests pin
the library behaviour realtime/protocol.py relies on, so an upgrade that changes it fails here first.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp.test_utils import TestClient
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from roughcut import keys
from roughcut.realtime.protocol import UNEXPECTED_BINARY, CheckedPacket, MalformedPacket
from tests.chat_client import ChatClient, first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup
from tests.raw_socket import RawSocket

WAIT = 5.0
PROTOCOL_LOGGER = "roughcut.realtime.protocol"
PLACEHOLDER = '{"_placeholder":true,"num":%d}'

# Each is what a hand-made client sends on a connection that joined /chat (engine.io MESSAGE "4" + Socket.IO).
MALFORMED: dict[str, list[str | bytes]] = {
    "placeholder past the attachments": ['451-/chat,["send",' + PLACEHOLDER % 3 + "]", b"\x01"],
    "negative placeholder": ['451-/chat,["send",' + PLACEHOLDER % -1 + "]", b"\x01"],
    "placeholder as the event name": ["451-/chat,[" + PLACEHOLDER % 0 + "]", b"\x01"],
    "binary event with no attachments": ['45/chat,["send",{}]'],
    "too many attachments": ['4599-/chat,["send",{}]'],
    "binary event on a namespace not joined": ['451-/projects,["subscribe",' + PLACEHOLDER % 0 + "]", b"\x01"],
    "integer event name": ['42/chat,[1,{"feedback_id":1}]'],
    "event that is not a list": ['42/chat,{"event":"send"}'],
    "event without a name": ["42/chat,[]"],
    "event with no data at all": ["42/chat,"],
    "reserved event name": ['42/chat,["disconnect"]'],
    "not JSON": ['42/chat,["send",{]'],
    "id too long": ["42/chat," + "1" * 120 + '["send",{}]'],
    "ack that is not a list": ['43/chat,1{"a":1}'],
    "connect_error from a client": ["44/chat,{}"],
    "unknown Socket.IO packet type": ["49/chat,[]"],
    "Socket.IO packet that is JSON to engine.io": ['4{"a":1}'],
    "binary frame outside a binary event": [b"\x00\x01\x02"],
    "empty Socket.IO packet": ["4"],
    "Socket.IO packet that is JSON null to engine.io": ["4null"],
    "Socket.IO packet that is an empty JSON list to engine.io": ["4[]"],
    "empty binary frame": [b""],
    "engine.io garbage": ["x"],
    "engine.io type out of range": ["9"],
    "empty engine.io packet": [""],
    "engine.io binary that is not base64": ["babc"],
}


async def _room(client: TestClient[Any, Any], mailbox: Mailbox) -> tuple[int, list[dict[str, Any]]]:
    people = [await signup(client, mailbox) for _ in range(2)]
    pid = (await create_project(client, people[0]))["id"]
    await join(client, pid, people[1]["user"]["id"])
    return await first_thread(client, auth(people[0]), pid), people


async def _closed(raw: RawSocket) -> list[str]:
    """Read until the server closes the WebSocket (failing after WAIT); returns the text packets it sent."""
    texts: list[str] = []
    async with asyncio.timeout(WAIT):
        while True:
            message = await raw.ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return texts
            if message.type == aiohttp.WSMsgType.TEXT:
                texts.append(message.data)


async def _send_frames(raw: RawSocket, frames: list[str | bytes]) -> None:
    for frame in frames:
        if isinstance(frame, bytes):
            await raw.ws.send_bytes(frame)
        else:
            await raw.ws.send_str(frame)


@pytest.mark.parametrize("frames", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_a_malformed_packet_closes_its_connection_only(
    client: TestClient[Any, Any], mailbox: Mailbox, caplog: pytest.LogCaptureFixture, frames: list[str | bytes]
) -> None:
    caplog.set_level(logging.WARNING)
    fid, (a, b) = await _room(client, mailbox)
    other = await ChatClient().connect(client, b["access_token"])
    async with aiohttp.ClientSession() as session:
        raw = await RawSocket.open(session, str(client.make_url("/")))
        try:
            await raw.connect(["/chat"], a["access_token"])
            await other.join(fid)
            # The other client's sends in the same moment as the malformed packet.
            sends = [other.send(fid, f"meanwhile {n}") for n in range(5)]
            acks = await asyncio.gather(*sends, _send_frames(raw, frames))
            await _closed(raw)
        finally:
            await raw.close()
        assert all(ack is not None and ack["ok"] for ack in acks[:-1]), acks
        assert (await other.send(fid, "after"))["ok"] is True
        assert [(await other.next())["text"] for _ in range(6)] == [*(f"meanwhile {n}" for n in range(5)), "after"]
        await other.close()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [(r.name, r.getMessage()) for r in errors]
    warnings = [r for r in caplog.records if r.name == PROTOCOL_LOGGER]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


async def test_warnings_are_rate_limited_across_the_node(
    client: TestClient[Any, Any], mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    _fid, (a, _b) = await _room(client, mailbox)
    budget = client.app[keys.SIO].bad_input
    attempts = 25
    async with aiohttp.ClientSession() as session:
        for n in range(attempts):
            raw = await RawSocket.open(session, str(client.make_url("/")))
            await raw.connect(["/chat"], a["access_token"])
            await raw.ws.send_str("42/chat,[7]" if n % 2 else "x")
            await _closed(raw)
            await raw.close()
    warnings = [r for r in caplog.records if r.name == PROTOCOL_LOGGER]
    assert 1 <= len(warnings) < attempts
    # Each logged warning counts the ones left out before it; the bucket holds the count since the last.
    assert len(warnings) + sum(r.__dict__["suppressed"] for r in warnings) + budget.suppressed == attempts
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_malformed_polling_payload_closes_the_session(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    sockets = client.app[keys.SIO].eio.sockets
    for body in (b"x", b"9", "4\x1e\xff".encode("latin-1"), b"babc"):
        opened = await (await client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})).text()
        sid = eio_packet.Packet(encoded_packet=opened).data["sid"]
        resp = await client.post("/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, data=body)
        assert resp.status == 200, await resp.text()
        assert sid not in sockets or sockets[sid].closed
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert len([r for r in caplog.records if r.name == PROTOCOL_LOGGER]) == 4


async def test_unknown_events_are_answered_unknown_event(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        str(client.make_url("/")).rstrip("/"),
        auth={"token": pair["access_token"]},
        namespaces=["/", "/chat", "/projects"],
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    try:
        for namespace, event in [("/", "nope"), ("/chat", "subscribe"), ("/projects", "send"), ("/chat", "connect_")]:
            ack = await sio.call(event, {"x": 1}, namespace=namespace, timeout=WAIT)
            assert ack["ok"] is False and ack["error"]["code"] == "unknown_event", (namespace, event, ack)
            assert ack["error"]["message"]
        # A payload split over several arguments is refused in the envelope (python-socketio would send no ack).
        ack = await sio.call("join", ({"feedback_id": 1}, {"x": 1}), namespace="/chat", timeout=WAIT)
        assert ack["ok"] is False and ack["error"]["code"] == "validation_failed", ack
        # A known event still works on the same connection.
        ack = await sio.call("join", {"feedback_id": 1}, namespace="/chat", timeout=WAIT)
        assert ack["ok"] is False and ack["error"]["code"] == "not_found", ack
    finally:
        await sio.disconnect()


# ---- pins: the library behaviour realtime/protocol.py relies on ----


def test_pin_socketio_packet_decoding_trusts_its_input() -> None:
    """What CheckedPacket guards against: python-socketio's own packet raises, or accepts, these."""
    pkt = sio_packet.Packet(encoded_packet='51-/chat,["send",' + PLACEHOLDER % 3 + "]")
    with pytest.raises(IndexError):  # a placeholder past the attachments breaks at reconstruction
        pkt.add_attachment(b"x")
    pkt = sio_packet.Packet(encoded_packet='2/chat,[1,{"a":1}]')  # an integer event name is accepted
    assert pkt.data[0] == 1
    with pytest.raises(ValueError, match="Unexpected binary attachment"):
        sio_packet.Packet(encoded_packet='5/chat,["send",{}]').add_attachment(b"x")
    # The checked packet refuses each of them, as MalformedPacket (a ValueError), and still decodes good ones.
    for bad in ['51-/chat,["send",' + PLACEHOLDER % 3 + "]", '2/chat,[1,{"a":1}]', '5/chat,["send",{}]']:
        with pytest.raises(MalformedPacket):
            CheckedPacket(encoded_packet=bad)
    good = CheckedPacket(encoded_packet='2/chat,7["send",{"text":"hi"}]')
    assert (good.packet_type, good.namespace, good.id, good.data) == (2, "/chat", 7, ["send", {"text": "hi"}])


async def test_pin_socketio_server_hooks() -> None:
    """The server's packet class comes from `serializer`; it keeps half-received binary events in
    `_binary_packet` by engine.io sid; a binary event on a namespace not joined raises UNEXPECTED_BINARY;
    reserved names are what it triggers itself; an unknown event reaches no handler (acked `[]`)."""
    sio = socketio.AsyncServer(async_mode="aiohttp", serializer=CheckedPacket)
    assert sio.packet_class is CheckedPacket and sio._binary_packet == {}
    with pytest.raises(ValueError) as info:
        await sio._handle_eio_message("eio0", '51-/chat,["send",' + PLACEHOLDER % 0 + "]")
    assert info.value.args == (UNEXPECTED_BINARY,)
    assert set(sio.reserved_events) <= {"connect", "disconnect"}
    assert await socketio.AsyncNamespace("/chat").trigger_event("nope", "sid", {}) is None


def test_pin_engineio_frames_that_raise() -> None:
    """engine.io decodes a WebSocket frame outside any try and indexes its name table with the type."""
    for frame in ("x", ""):
        with pytest.raises(ValueError):
            eio_packet.Packet(encoded_packet=frame)
    assert len(eio_packet.packet_names) == 7
    assert eio_packet.Packet(encoded_packet="9").packet_type == 9  # then `packet_names[9]` raises in receive()
