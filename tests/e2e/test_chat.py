"""The chat over real Socket.IO clients on PostgreSQL and Redis: order, idempotency, recovery, access."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.chat_client import ChatClient, first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup


async def _room(
    client: TestClient[Any, Any], mailbox: Mailbox, members: int = 2
) -> tuple[int, int, list[dict[str, Any]]]:
    people = [await signup(client, mailbox) for _ in range(members)]
    pid = (await create_project(client, people[0]))["id"]
    for person in people[1:]:
        await join(client, pid, person["user"]["id"])
    return pid, await first_thread(client, auth(people[0]), pid), people


async def test_send_is_stored_then_delivered(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _pid, fid, (a, b) = await _room(client, mailbox)
    ca, cb = (
        await ChatClient().connect(client, a["access_token"]),
        await ChatClient().connect(client, b["access_token"]),
    )
    try:
        joined = await cb.join(fid)
        assert joined == {
            "ok": True,
            "data": {"feedback_id": fid, "last_seq": 0, "read_seq": 0, "missed": [], "truncated": False},
        }
        await ca.join(fid)
        ack = await ca.send(fid, "First cut looks great")
        assert ack["ok"] is True
        message = ack["data"]["message"]
        assert message["seq"] == 1
        assert message["author"] == {"id": a["user"]["id"], "nickname": "Tester"}
        assert message["created_at"].endswith("Z")
        assert await cb.next() == message
        assert await ca.next() == message  # the sender's other tabs see it too
        history = await (await client.get(f"/api/v1/feedback/{fid}/messages", headers=auth(b))).json()
        assert [m["id"] for m in history["items"]] == [message["id"]]
    finally:
        await ca.close()
        await cb.close()


async def test_concurrent_senders_get_gap_free_ordered_seqs(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _pid, fid, people = await _room(client, mailbox, members=4)
    senders = [await ChatClient().connect(client, p["access_token"]) for p in people[:3]]
    listener = await ChatClient().connect(client, people[3]["access_token"])
    try:
        await listener.join(fid)
        for s in senders:
            await s.join(fid)
        per_sender = 15
        acks = await asyncio.gather(
            *(s.send(fid, f"{i}-{n}") for i, s in enumerate(senders) for n in range(per_sender))
        )
        seqs = sorted(a["data"]["message"]["seq"] for a in acks)
        total = per_sender * len(senders)
        assert seqs == list(range(1, total + 1))
        received = [(await listener.next())["seq"] for _ in range(total)]
        assert received == list(range(1, total + 1))
        # Each sender's own messages keep the order it sent them in.
        for i in range(len(senders)):
            mine = [a["data"]["message"] for a in acks if a["data"]["message"]["text"].startswith(f"{i}-")]
            assert [m["text"] for m in sorted(mine, key=lambda m: m["seq"])] == [f"{i}-{n}" for n in range(per_sender)]
    finally:
        for c in [*senders, listener]:
            await c.close()


async def test_retried_send_is_stored_once(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _pid, fid, (a, b) = await _room(client, mailbox)
    ca = await ChatClient().connect(client, a["access_token"])
    try:
        await ca.join(fid)
        cid = str(uuid.uuid4())
        first, again, concurrent = await ca.send(fid, "hello", cid), await ca.send(fid, "hello", cid), None
        concurrent = await asyncio.gather(*(ca.send(fid, "hello", cid) for _ in range(3)))
        assert again["data"]["message"] == first["data"]["message"]
        assert again["data"]["duplicate"] is True
        assert {c["data"]["message"]["id"] for c in concurrent} == {first["data"]["message"]["id"]}
        # Another author may use the same client_id: it is per author.
        cb = await ChatClient().connect(client, b["access_token"])
        other = await cb.send(fid, "hi", cid)
        await cb.close()
        assert other["data"]["message"]["seq"] == 2
        history = (await (await client.get(f"/api/v1/feedback/{fid}/messages", headers=auth(a))).json())["items"]
        assert [m["seq"] for m in history] == [1, 2]
    finally:
        await ca.close()


async def test_rejoin_after_seq_recovers_exactly_what_was_missed(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    _pid, fid, (a, b) = await _room(client, mailbox)
    ca, cb = (
        await ChatClient().connect(client, a["access_token"]),
        await ChatClient().connect(client, b["access_token"]),
    )
    await cb.join(fid)
    await ca.join(fid)
    seen = [(await ca.send(fid, f"m{i}"))["data"]["message"]["seq"] for i in range(3)]
    got = [(await cb.next())["seq"] for _ in range(3)]
    assert got == seen == [1, 2, 3]
    await cb.close()  # b goes offline and misses 4..8
    for i in range(3, 8):
        await ca.send(fid, f"m{i}")
    cb = await ChatClient().connect(client, b["access_token"])
    try:
        rejoined = (await cb.join(fid, after_seq=got[-1]))["data"]
        missed = rejoined["missed"]
        assert [m["seq"] for m in missed] == [4, 5, 6, 7, 8]
        assert [m["text"] for m in missed] == ["m3", "m4", "m5", "m6", "m7"]
        assert rejoined["last_seq"] == 8
        live = await ca.send(fid, "m8")
        assert (await cb.next())["seq"] == live["data"]["message"]["seq"] == 9
        assert got + [m["seq"] for m in missed] + [9] == list(range(1, 10))
        assert cb.inbox["message"].empty()
    finally:
        await ca.close()
        await cb.close()


async def test_non_member_cannot_join_or_send(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _pid, fid, _people = await _room(client, mailbox)
    stranger = await signup(client, mailbox)
    cs = await ChatClient().connect(client, stranger["access_token"])
    try:
        assert (await cs.join(fid))["error"]["code"] == "not_found"
        assert (await cs.send(fid, "let me in"))["error"]["code"] == "not_found"
        assert (await cs.join(999_999_999))["error"]["code"] == "not_found"
        resp = await client.get(f"/api/v1/feedback/{fid}/messages", headers=auth(stranger))
        assert resp.status == 404
    finally:
        await cs.close()


async def test_bad_payloads_change_nothing(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _pid, fid, (a, _b) = await _room(client, mailbox)
    ca = await ChatClient().connect(client, a["access_token"])
    try:
        for payload in (
            {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": ""},
            {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": "   "},
            {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": "x" * 4001},
            {"feedback_id": fid, "client_id": "not-a-uuid", "text": "hi"},
            {"feedback_id": "1", "client_id": str(uuid.uuid4()), "text": "hi"},
            {"client_id": str(uuid.uuid4()), "text": "hi"},
        ):
            ack = await ca.call("send", payload)
            assert ack["ok"] is False, payload
            assert ack["error"]["code"] == "validation_failed", payload
        assert (await ca.call("send", "a string"))["error"]["code"] == "validation_failed"
        assert (await ca.join(fid))["data"]["last_seq"] == 0
    finally:
        await ca.close()


async def test_send_budget_per_socket(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client(chat_send_burst=3, chat_send_rate=1)
    _pid, fid, (a, _b) = await _room(client, mailbox)
    ca = await ChatClient().connect(client, a["access_token"])
    try:
        acks = [await ca.send(fid, f"m{i}") for i in range(4)]
        assert [x["ok"] for x in acks] == [True, True, True, False]
        assert acks[3]["error"]["code"] == "rate_limited"
        assert acks[3]["error"]["details"]["retry_after"] >= 1
    finally:
        await ca.close()


async def test_typing_expires_and_read_markers(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client(chat_typing_ttl=1.0)
    _pid, fid, (a, b) = await _room(client, mailbox)
    ca, cb = (
        await ChatClient().connect(client, a["access_token"]),
        await ChatClient().connect(client, b["access_token"]),
    )
    try:
        await ca.join(fid)
        await cb.join(fid)
        assert (await ca.call("typing", {"feedback_id": fid, "typing": True}))["ok"] is True
        assert await cb.next("typing") == {"feedback_id": fid, "user_id": a["user"]["id"], "typing": True}
        # No stop is sent: the server ends it by itself.
        assert await cb.next("typing") == {"feedback_id": fid, "user_id": a["user"]["id"], "typing": False}
        assert ca.inbox["typing"].empty()  # the typist is not told about themself

        for i in range(3):
            await ca.send(fid, f"m{i}")
        assert (await cb.call("read", {"feedback_id": fid, "seq": 2}))["data"] == {"read_seq": 2}
        assert await ca.next("read") == {"feedback_id": fid, "user_id": b["user"]["id"], "seq": 2}
        assert (await cb.call("read", {"feedback_id": fid, "seq": 1}))["data"] == {"read_seq": 2}  # never back
        assert (await cb.call("read", {"feedback_id": fid, "seq": 99}))["error"]["code"] == "validation_failed"
        assert (await cb.join(fid))["data"]["read_seq"] == 2
    finally:
        await ca.close()
        await cb.close()


async def test_removed_member_loses_the_room(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pid, fid, (owner, gone, staying) = await _room(client, mailbox, members=3)
    co, cg, cs = [await ChatClient().connect(client, p["access_token"]) for p in (owner, gone, staying)]
    try:
        for c in (co, cg, cs):
            await c.join(fid)
        resp = await client.delete(f"/api/v1/projects/{pid}/members/{gone['user']['id']}", headers=auth(owner))
        assert resp.status == 204
        sent = await co.send(fid, "after the removal")
        assert (await cs.next())["seq"] == sent["data"]["message"]["seq"]
        assert cg.inbox["message"].empty()
        assert (await cg.send(fid, "still here?"))["error"]["code"] == "not_found"
        assert (await cg.join(fid))["error"]["code"] == "not_found"
    finally:
        for c in (co, cg, cs):
            await c.close()


@pytest.mark.parametrize("query", ["after_seq=2&limit=2", "before_seq=4&limit=2", "limit=2"])
async def test_history_pages(client: TestClient[Any, Any], mailbox: Mailbox, query: str) -> None:
    _pid, fid, (a, _b) = await _room(client, mailbox)
    ca = await ChatClient().connect(client, a["access_token"])
    try:
        for i in range(5):
            await ca.send(fid, f"m{i}")
    finally:
        await ca.close()
    page = await (await client.get(f"/api/v1/feedback/{fid}/messages?{query}", headers=auth(a))).json()
    expected = {"after_seq=2&limit=2": [3, 4], "before_seq=4&limit=2": [2, 3], "limit=2": [4, 5]}[query]
    assert [m["seq"] for m in page["items"]] == expected
    assert (page["first_seq"], page["last_seq"]) == (expected[0], expected[-1])


async def test_chat_on_the_embedded_default(make_client: Any, sqlite_settings: Any, mailbox: Mailbox) -> None:
    client = await make_client(sqlite_settings)
    _pid, fid, people = await _room(client, mailbox, members=3)
    clients = [await ChatClient().connect(client, p["access_token"]) for p in people]
    try:
        for c in clients:
            await c.join(fid)
        acks = await asyncio.gather(*(c.send(fid, f"from {i}") for i, c in enumerate(clients) for _ in range(5)))
        assert sorted(a["data"]["message"]["seq"] for a in acks) == list(range(1, 16))
        assert [(await clients[0].next())["seq"] for _ in range(15)] == list(range(1, 16))
    finally:
        for c in clients:
            await c.close()


async def test_two_nodes_share_rooms_through_redis(make_client: Any, mailbox: Mailbox) -> None:
    node_a, node_b = await make_client(), await make_client()  # same PostgreSQL, same Redis, two servers
    _pid, fid, (a, b) = await _room(node_a, mailbox)
    ca = await ChatClient().connect(node_a, a["access_token"])
    cb = await ChatClient().connect(node_b, b["access_token"])
    try:
        await ca.join(fid)
        await cb.join(fid)
        acks = await asyncio.gather(*(ca.send(fid, f"m{i}") for i in range(10)))
        sent = sorted(x["data"]["message"]["seq"] for x in acks)
        assert [(await cb.next())["seq"] for _ in range(10)] == sent == list(range(1, 11))
        reply = await cb.send(fid, "from the other node")
        assert reply["data"]["message"]["seq"] == 11
        # a hears its own ten (delivered on node a) and then b's reply (carried over from node b).
        assert [(await ca.next())["seq"] for _ in range(11)] == list(range(1, 12))
    finally:
        await ca.close()
        await cb.close()
