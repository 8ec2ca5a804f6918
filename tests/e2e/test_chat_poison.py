"""A chat send one client got wrong is refused alone: the other senders of the same moment are stored and delivered."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp.test_utils import TestClient

from tests.chat_client import ChatClient, first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup

PER_SENDER = 8


async def test_bad_sends_fail_alone_among_concurrent_good_ones(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    people = [await signup(client, mailbox) for _ in range(4)]
    pid = (await create_project(client, people[0]))["id"]
    for person in people[1:]:
        await join(client, pid, person["user"]["id"])
    fid = await first_thread(client, auth(people[0]), pid)
    other_pid = (await create_project(client, people[1]))["id"]  # a second room, in the same batches
    other_fid = await first_thread(client, auth(people[1]), other_pid)
    senders = [await ChatClient().connect(client, p["access_token"]) for p in people[:3]]
    listener = await ChatClient().connect(client, people[3]["access_token"])
    try:
        await listener.join(fid)
        good = [s.send(fid, f"{i}-{n}") for i, s in enumerate(senders) for n in range(PER_SENDER)]
        good += [senders[1].send(other_fid, f"other-{n}") for n in range(PER_SENDER)]
        nul = senders[0].call("send", {"feedback_id": fid, "client_id": str(uuid.uuid4()), "text": "bad\u0000"})
        big = senders[2].call("send", {"feedback_id": 2**63, "client_id": str(uuid.uuid4()), "text": "big"})
        acks = await asyncio.gather(nul, big, *good)

        for ack, field in zip(acks[:2], ("text", "feedback_id"), strict=True):
            assert ack["ok"] is False and ack["error"]["code"] == "validation_failed", ack
            assert field in ack["error"]["details"]["fields"]
        assert all(a["ok"] for a in acks[2:]), [a for a in acks[2:] if not a["ok"]]
        in_room = sorted(a["data"]["message"]["seq"] for a in acks[2:] if a["data"]["message"]["feedback_id"] == fid)
        assert in_room == list(range(1, 3 * PER_SENDER + 1))
        received = [(await listener.next())["seq"] for _ in in_room]
        assert received == in_room
        history = await (await client.get(f"/api/v1/feedback/{other_fid}/messages", headers=auth(people[1]))).json()
        assert [m["text"] for m in history["items"]] == [f"other-{n}" for n in range(PER_SENDER)]
    finally:
        for c in [*senders, listener]:
            await c.close()
