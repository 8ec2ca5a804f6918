"""Socket.IO: token checked at connect, refusal codes, reauth, disconnect at expiry, session notices."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.security.tokens import JwtTokens
from tests.helpers import Mailbox, auth, signup

WAIT = 5.0


def _url(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/")).rstrip("/")


async def _refused(client: TestClient[Any, Any], auth_payload: Any) -> dict[str, Any]:
    sio = socketio.AsyncClient(reconnection=False)
    refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @sio.event
    async def connect_error(data: Any) -> None:
        if not refused.done():
            refused.set_result(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(_url(client), auth=auth_payload, transports=["websocket"], wait_timeout=WAIT)
    data = await asyncio.wait_for(refused, WAIT)
    await sio.disconnect()
    assert isinstance(data, dict)
    return data


async def _connected(client: TestClient[Any, Any], token: str) -> socketio.AsyncClient:
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(_url(client), auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)
    return sio


async def test_refusals_carry_the_right_code(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    assert (await _refused(client, None))["data"]["code"] == "token_missing"
    assert (await _refused(client, {"token": ""}))["data"]["code"] == "token_missing"
    assert (await _refused(client, {"token": "garbage"}))["data"]["code"] == "token_invalid"
    pair = await signup(client, mailbox)
    tokens = client.app[keys.TOKENS]
    expired, _ = JwtTokens(tokens.ring, "roughcut", "roughcut", ttl=-120).issue_access(pair["user"]["id"], 1, 0)
    assert (await _refused(client, {"token": expired}))["data"]["code"] == "token_expired"
    wrong_aud, _ = JwtTokens(tokens.ring, "roughcut", "someone-else", ttl=600).issue_access(pair["user"]["id"], 1, 0)
    assert (await _refused(client, {"token": wrong_aud}))["data"]["code"] == "token_invalid"


async def test_valid_token_connects_and_reauth_renews(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    sio = await _connected(client, pair["access_token"])
    try:
        assert sio.connected
        refreshed = await (
            await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        ).json()
        ack = await sio.call("reauth", {"token": refreshed["access_token"]}, timeout=WAIT)
        assert ack["ok"] is True
        assert ack["data"]["expires_at"] > 0

        bad = await sio.call("reauth", {"token": "nope"}, timeout=WAIT)
        assert bad == {"ok": False, "error": {"code": "token_invalid", "message": bad["error"]["message"]}}
        invalid = await sio.call("reauth", {"tok": 1}, timeout=WAIT)
        assert invalid["ok"] is False
        assert invalid["error"]["code"] == "validation_failed"
        assert "token" in invalid["error"]["details"]["fields"]

        other = await signup(client, mailbox)
        foreign = await sio.call("reauth", {"token": other["access_token"]}, timeout=WAIT)
        assert foreign["error"]["code"] == "permission_denied"
    finally:
        await sio.disconnect()


async def test_socket_is_dropped_when_its_token_runs_out(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client()
    pair = await signup(client, mailbox)
    short, _ = JwtTokens(client.app[keys.TOKENS].ring, "roughcut", "roughcut", ttl=1).issue_access(
        pair["user"]["id"], 1, 0
    )
    sio = socketio.AsyncClient(reconnection=False)
    expired: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()

    @sio.event
    async def auth_expired(data: Any) -> None:
        expired.set_result(data)

    @sio.event
    async def disconnect(*_args: Any) -> None:
        gone.set()

    await sio.connect(_url(client), auth={"token": short}, transports=["websocket"], wait_timeout=WAIT)
    assert await asyncio.wait_for(expired, WAIT) == {"code": "token_expired"}
    await asyncio.wait_for(gone.wait(), WAIT)
    assert not sio.connected


async def test_logout_tells_the_sessions_sockets(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    sio = socketio.AsyncClient(reconnection=False)
    notice: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    @sio.event
    async def session_revoked(data: Any) -> None:
        notice.set_result(data)

    await sio.connect(_url(client), auth={"token": pair["access_token"]}, transports=["websocket"], wait_timeout=WAIT)
    try:
        assert (await client.post("/api/v1/auth/logout", headers=auth(pair))).status == 204
        data = await asyncio.wait_for(notice, WAIT)
        assert data["reason"] == "logout"
        assert isinstance(data["session_id"], int)
    finally:
        await sio.disconnect()


async def test_logout_ends_the_session_at_once_on_every_node(make_client: Any, mailbox: Mailbox) -> None:
    node_a, node_b = await make_client(), await make_client()
    pair = await signup(node_a, mailbox)
    other = await (
        await node_a.post(
            "/api/v1/auth/login", json={"email": pair["user"]["email"], "password": "correct horse battery"}
        )
    ).json()
    sio = socketio.AsyncClient(reconnection=False)
    gone = asyncio.Event()

    @sio.event
    async def disconnect(*_args: Any) -> None:
        gone.set()

    await sio.connect(_url(node_b), auth={"token": pair["access_token"]}, transports=["websocket"], wait_timeout=WAIT)
    assert (await node_b.get("/api/v1/me", headers=auth(pair))).status == 200
    assert (await node_a.post("/api/v1/auth/logout", headers=auth(pair))).status == 204
    # Node b hears of it through Redis: the socket is dropped and the still-signed token refused.
    await asyncio.wait_for(gone.wait(), WAIT)
    resp = await node_b.get("/api/v1/me", headers=auth(pair))
    assert resp.status == 401
    assert (await resp.json())["code"] == "session_revoked"
    assert (await _refused(node_b, {"token": pair["access_token"]}))["data"]["code"] == "session_revoked"
    # The user's other session is untouched.
    assert (await node_b.get("/api/v1/me", headers=auth(other))).status == 200
    # A node started after the logout learns it from the database.
    node_c = await make_client()
    assert (await node_c.get("/api/v1/me", headers=auth(pair))).status == 401
