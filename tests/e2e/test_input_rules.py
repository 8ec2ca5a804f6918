"""Control characters and ids past 64 bits are validation_failed on every input, REST and socket, on both databases."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from tests.chat_client import ChatClient, first_thread
from tests.conftest import AppFactory
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth, create_project, signup

TOO_BIG = 2**63  # one past PostgreSQL's BIGINT (and SQLite's INTEGER)
NUL = "\x00"


@pytest.fixture(params=["postgres", "sqlite"])
async def any_client(
    request: pytest.FixtureRequest, make_client: AppFactory, sqlite_settings: Settings
) -> TestClient[Any, Any]:
    return await (make_client() if request.param == "postgres" else make_client(sqlite_settings))


async def _refused(resp: Any, field: str) -> None:
    assert resp.status == 422, (resp.method, resp.url, await resp.text())
    body = await resp.json()
    assert body["code"] == "validation_failed"
    assert field in body["errors"], body


async def test_text_fields_refuse_nul_with_422(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    pair = await signup(client, mailbox)
    h = auth(pair)
    pid = (await create_project(client, pair))["id"]
    fid = await first_thread(client, h, pid)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/projects", {"name": f"a{NUL}b"}, "name"),
        ("POST", "/projects", {"name": "ok", "description": f"two\nlines{NUL}"}, "description"),
        ("POST", "/projects", {"name": "ok", "manager": "tab\there"}, "manager"),
        ("PATCH", f"/projects/{pid}", {"consumer": NUL}, "consumer"),
        ("PATCH", "/me", {"nickname": f"n{NUL}"}, "nickname"),
        ("POST", "/me/memos", {"date": "2026-04-02", "memo": f"m{NUL}"}, "memo"),
        ("POST", f"/projects/{pid}/memos", {"date": "2026-04-02", "memo": f"m{NUL}"}, "memo"),
        ("POST", f"/projects/{pid}/feedback", {"title": f"t{NUL}"}, "title"),
        ("PATCH", f"/feedback/{fid}", {"description": f"d{NUL}"}, "description"),
        ("POST", f"/feedback/{fid}/comments", {"text": f"c{NUL}"}, "text"),
        ("POST", f"/projects/{pid}/invitations", {"email": "x@example.com", "message": f"hi{NUL}"}, "message"),
    ]
    for method, path, body, field in cases:
        await _refused(await client.request(method, f"/api/v1{path}", json=body, headers=h), field)
    await _refused(await client.get("/api/v1/projects", params={"q": f"a{NUL}"}, headers=h), "q")
    signup_body = {"email": "n@example.com", "password": "long enough password", "verification_token": "x"}
    await _refused(await client.post("/api/v1/auth/signup", json={**signup_body, "nickname": NUL}), "nickname")
    # Line breaks stay welcome where text has lines, and nothing refused above was stored.
    resp = await client.post(f"/api/v1/feedback/{fid}/comments", json={"text": "one\r\ntwo\tcols"}, headers=h)
    assert resp.status == 201, await resp.text()
    projects = (await (await client.get("/api/v1/projects", headers=h)).json())["items"]
    assert [p["id"] for p in projects] == [pid]


async def test_ids_past_64_bits_are_422_in_bodies_and_queries(
    any_client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    client = any_client
    pair = await signup(client, mailbox)
    h = auth(pair)
    pid = (await create_project(client, pair))["id"]
    fid = await first_thread(client, h, pid)
    big = str(TOO_BIG)
    await _refused(
        await client.post(f"/api/v1/projects/{pid}/transfer", json={"user_id": TOO_BIG}, headers=h), "user_id"
    )
    for key in ("parent_id", "version_id"):
        body = {"text": "hello", key: TOO_BIG}
        await _refused(await client.post(f"/api/v1/feedback/{fid}/comments", json=body, headers=h), key)
    for path, key in [
        (f"/projects/{pid}/events", "after"),
        (f"/projects/{pid}/events/stream", "after"),
        (f"/feedback/{fid}/messages", "after_seq"),
        (f"/feedback/{fid}/messages", "before_seq"),
        (f"/feedback/{fid}/comments", "version"),
    ]:
        await _refused(await client.get(f"/api/v1{path}", params={key: big}, headers=h), key)
    # The largest id is merely not there.
    resp = await client.get(f"/api/v1/projects/{pid}/events", params={"after": str(TOO_BIG - 1)}, headers=h)
    assert resp.status == 200, await resp.text()


async def test_socket_payloads_refuse_big_ids_and_nul(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    fid = await first_thread(client, auth(pair), pid)
    chat, feed = (
        await ChatClient().connect(client, pair["access_token"]),
        await Feed().connect(client, pair["access_token"]),
    )
    try:
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("join", {"feedback_id": TOO_BIG}, "feedback_id"),
            ("join", {"feedback_id": fid, "after_seq": TOO_BIG}, "after_seq"),
            ("leave", {"feedback_id": TOO_BIG}, "feedback_id"),
            ("typing", {"feedback_id": TOO_BIG, "typing": True}, "feedback_id"),
            ("read", {"feedback_id": TOO_BIG, "seq": 0}, "feedback_id"),
            ("read", {"feedback_id": fid, "seq": TOO_BIG}, "seq"),
            ("send", {"feedback_id": TOO_BIG, "client_id": str(uuid.uuid4()), "text": "hi"}, "feedback_id"),
            ("send", {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": f"a{NUL}"}, "text"),
        ]
        for event, payload, field in cases:
            ack = await chat.call(event, payload)
            assert ack["ok"] is False and ack["error"]["code"] == "validation_failed", (event, ack)
            assert field in ack["error"]["details"]["fields"], (event, ack)
        for payload, field in [
            ({"project_id": TOO_BIG}, "project_id"),
            ({"project_id": pid, "after_event_id": TOO_BIG}, "after_event_id"),
        ]:
            ack = await feed.sio.call("subscribe", payload, namespace="/projects", timeout=5)
            assert ack["ok"] is False and ack["error"]["code"] == "validation_failed", ack
            assert field in ack["error"]["details"]["fields"], ack
        # The connections are fine afterwards.
        assert (await chat.join(fid))["ok"] is True
        assert (await feed.subscribe(pid, after=0))["ok"] is True
    finally:
        await chat.close()
        await feed.close()
