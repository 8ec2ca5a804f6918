"""The old chat socket `ws/chat/<project_id>/` on the first thread's chat, with Socket.IO `/chat` beside it."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.chat_client import WAIT, ChatClient, first_thread
from tests.conftest import AppFactory
from tests.e2e.test_legacy_api import ORIGIN, cookie_header, old_login
from tests.helpers import Mailbox, auth, create_project, join, signup, unique_email

Client = TestClient[Any, Any]
BAD_REQUEST = "잘못된 요청입니다."


async def _team(node: Client, mailbox: Mailbox) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    owner = await signup(node, mailbox, unique_email("owner"))
    member = await signup(node, mailbox, unique_email("member"))
    pid = (await create_project(node, owner))["id"]
    await join(node, pid, member["user"]["id"])
    return owner, member, pid, await first_thread(node, auth(owner), pid)


async def _old_socket(node: Client, pid: int, cookies: dict[str, str]) -> aiohttp.ClientWebSocketResponse:
    ws: aiohttp.ClientWebSocketResponse = await node.ws_connect(f"/ws/chat/{pid}/", headers=cookie_header(cookies))
    return ws


async def _frame(ws: aiohttp.ClientWebSocketResponse) -> Any:
    return await ws.receive_json(timeout=WAIT)


async def _history(node: Client, pair: dict[str, Any], fid: int) -> list[tuple[int, str]]:
    body = await (await node.get(f"/api/v1/feedback/{fid}/messages?after_seq=0", headers=auth(pair))).json()
    return [(m["author"]["id"], m["text"]) for m in body["items"]]


async def test_old_frames_and_socketio_messages_meet_in_one_stored_thread(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node = await make_client(cors_origins=(ORIGIN,))
    owner, member, pid, fid = await _team(node, mailbox)
    ws = await _old_socket(node, pid, await old_login(node, owner["user"]["email"]))
    sio = await ChatClient().connect(node, member["access_token"])
    try:
        assert (await sio.join(fid))["ok"]
        # Identity is the session's: the frame's e-mail, nickname and rating are ignored.
        await ws.send_json(
            {"email": "boss@evil.test", "nickname": "사장", "rating": "manager", "message": "안녕하세요"}
        )
        live = await sio.next()
        assert (live["author"]["id"], live["text"], live["feedback_id"]) == (owner["user"]["id"], "안녕하세요", fid)
        echoed = {"email": owner["user"]["email"], "nickname": "Tester", "rating": "manager", "message": "안녕하세요"}
        assert await _frame(ws) == {"result": echoed}  # the old socket echoed to its sender too

        assert (await sio.send(fid, "from the new app"))["ok"]
        heard = {
            "email": member["user"]["email"],
            "nickname": "Tester",
            "rating": "normal",
            "message": "from the new app",
        }
        assert await _frame(ws) == {"result": heard}

        for bad in ("not json", '["message"]', '{"msg": "x"}', '{"message": 5}', '{"message": "   "}'):
            await ws.send_str(bad)
            assert await _frame(ws) == {"message": BAD_REQUEST}
        await ws.send_bytes(b'{"message": "binary"}')
        assert await _frame(ws) == {"message": BAD_REQUEST}
        assert await _history(node, member, fid) == [
            (owner["user"]["id"], "안녕하세요"),
            (member["user"]["id"], "from the new app"),
        ]
    finally:
        await ws.close()
        await sio.close()


async def test_the_handshake_needs_a_member_session_from_an_allowed_origin(
    make_client: AppFactory, mailbox: Mailbox
) -> None:
    node = await make_client(cors_origins=(ORIGIN,))
    owner, _member, pid, _fid = await _team(node, mailbox)
    stranger = await signup(node, mailbox, unique_email("stranger"))
    resp = await node.get(f"/ws/chat/{pid}/", headers={"Origin": ORIGIN})
    assert (resp.status, await resp.json()) == (401, {"message": "NEED_ACCESS_TOKEN"})
    assert resp.headers["Deprecation"].startswith("@")
    outsider = await old_login(node, stranger["user"]["email"])
    resp = await node.get(f"/ws/chat/{pid}/", headers=cookie_header(outsider))
    assert (resp.status, await resp.json()) == (403, {"message": "권한이 없습니다."})
    cookies = await old_login(node, owner["user"]["email"])
    foreign = {**cookie_header(cookies), "Origin": "https://evil.test"}
    resp = await node.get(f"/ws/chat/{pid}/", headers=foreign)
    assert resp.status == 403  # a cross-site handshake carries the cookie: refused, as the old OriginValidator did


async def test_a_member_removed_from_the_project_is_cut_off(make_client: AppFactory, mailbox: Mailbox) -> None:
    node = await make_client(cors_origins=(ORIGIN,))
    owner, member, pid, fid = await _team(node, mailbox)
    ws = await _old_socket(node, pid, await old_login(node, member["user"]["email"]))
    sio = await ChatClient().connect(node, owner["access_token"])
    try:
        assert (await sio.join(fid))["ok"]
        resp = await node.delete(f"/api/v1/projects/{pid}/members/{member['user']['id']}", headers=auth(owner))
        assert resp.status == 204, await resp.text()
        assert (await sio.send(fid, "after you left"))["ok"]
        closed = await ws.receive(timeout=WAIT)
        assert closed.type is aiohttp.WSMsgType.CLOSE
        assert await _history(node, owner, fid) == [(owner["user"]["id"], "after you left")]
    finally:
        await ws.close()
        await sio.close()


async def test_the_old_socket_works_across_nodes(make_client: AppFactory, mailbox: Mailbox) -> None:
    node_a = await make_client(cors_origins=(ORIGIN,))
    node_b = await make_client(cors_origins=(ORIGIN,))
    owner, member, pid, fid = await _team(node_a, mailbox)
    ws = await _old_socket(node_b, pid, await old_login(node_b, owner["user"]["email"]))
    sio = await ChatClient().connect(node_a, member["access_token"])
    try:
        assert (await sio.join(fid))["ok"]
        assert (await sio.send(fid, "from node A"))["ok"]
        assert (await sio.next())["text"] == "from node A"  # its own, as every member hears it
        frame = await _frame(ws)
        assert frame["result"]["message"] == "from node A"
        assert frame["result"]["email"] == member["user"]["email"]
        await ws.send_json({"message": "from node B"})
        live = await sio.next()
        assert (live["author"]["id"], live["text"]) == (owner["user"]["id"], "from node B")
        assert (await _frame(ws))["result"]["message"] == "from node B"
    finally:
        await ws.close()
        await sio.close()
