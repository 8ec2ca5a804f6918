"""The one event path across two nodes: one broker message per committed write, delivered on the other
node to sockets (in the order committed), and rooms of a member who left closed there too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import Settings
from roughcut.realtime.rooms import CHAT_NAMESPACE, chat_room
from tests.chat_client import ChatClient, first_thread
from tests.conftest import REDIS_URL
from tests.feed_client import WAIT, Feed
from tests.helpers import Mailbox, auth, create_project, join, signup


class Channels:
    """Counts what crosses the node-to-node broker channels (the common one and every topic's) and
    python-socketio's own Redis channel."""

    def __init__(self, prefix: str) -> None:
        self.broker, self.socketio = f"{prefix}:events", f"{prefix}:socketio"
        self.client = aioredis.Redis.from_url(REDIS_URL)
        self.pubsub = self.client.pubsub()
        self.seen: list[str] = []

    async def start(self) -> None:
        await self.pubsub.psubscribe(f"{self.broker}*")
        await self.pubsub.subscribe(self.socketio)
        for _ in range(2):
            await self.pubsub.get_message(timeout=WAIT)  # the two subscribe confirmations

    async def drain(self) -> list[str]:
        """Every message published so far (the publish happened before the caller's answer)."""
        while (m := await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
            self.seen.append(m["channel"].decode())
        seen, self.seen = self.seen, []
        return seen

    async def close(self) -> None:
        await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        await self.client.aclose()


@pytest.fixture
async def channels(pg_settings: Settings) -> AsyncIterator[Channels]:
    watched = Channels(pg_settings.redis_prefix)
    await watched.start()
    yield watched
    await watched.close()


async def _stage(client: TestClient[Any, Any], pair: dict[str, Any], pid: int, stage: str) -> None:
    body = {"start_at": "2026-03-01T00:00:00Z", "end_at": "2026-03-02T00:00:00Z", "status": "in_progress"}
    resp = await client.put(f"/api/v1/projects/{pid}/stages/{stage}", json=body, headers=auth(pair))
    assert resp.status == 200, await resp.text()


async def test_one_broker_message_per_write_reaches_the_other_node_in_order(
    make_client: Any, mailbox: Mailbox, channels: Channels
) -> None:
    node_a, node_b = await make_client(), await make_client()
    owner, viewer = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, owner))["id"]
    await join(node_a, pid, viewer["user"]["id"])
    feed = await Feed().connect(node_b, viewer["access_token"])
    try:
        await feed.subscribe(pid)
        await channels.drain()
        await _stage(node_a, owner, pid, "filming")
        # One committed write: one message on the project's broker channel, nothing through python-socketio's.
        topic = f"{channels.broker}:project:{pid}"
        assert await channels.drain() == [topic]
        stages = ["storyboard", "video_edit", "post_work", "confirmation"]
        for stage in stages:
            await _stage(node_a, owner, pid, stage)
        got = [await feed.next() for _ in range(1 + len(stages))]
        assert [e["data"]["stage"] for e in got] == ["filming", *stages]
        assert [e["id"] for e in got] == sorted(e["id"] for e in got)
        assert await channels.drain() == [topic] * len(stages)
    finally:
        await feed.close()


async def test_a_chat_batch_crosses_once_and_a_member_removed_on_one_node_loses_rooms_on_the_other(
    make_client: Any, mailbox: Mailbox, channels: Channels
) -> None:
    node_a, node_b = await make_client(), await make_client()
    owner, stays, goes = [await signup(node_a, mailbox) for _ in range(3)]
    pid = (await create_project(node_a, owner))["id"]
    for person in (stays, goes):
        await join(node_a, pid, person["user"]["id"])
    fid = await first_thread(node_a, auth(owner), pid)
    sender = await ChatClient().connect(node_a, owner["access_token"])
    staying, leaving = [await ChatClient().connect(node_b, p["access_token"]) for p in (stays, goes)]
    leaving_feed = await Feed().connect(node_b, goes["access_token"])
    try:
        for c in (sender, staying, leaving):
            assert (await c.join(fid))["ok"] is True
        await leaving_feed.subscribe(pid)
        await channels.drain()
        first = await sender.send(fid, "before")
        assert (await staying.next())["seq"] == (await leaving.next())["seq"] == first["data"]["message"]["seq"]
        assert await channels.drain() == [f"{channels.broker}:chat:{fid}"]

        resp = await node_a.delete(f"/api/v1/projects/{pid}/members/{goes['user']['id']}", headers=auth(owner))
        assert resp.status == 204
        notice = await leaving_feed.next()  # the one who left still hears why, on the other node
        assert (notice["type"], notice["data"]["user_id"]) == ("member.left", goes["user"]["id"])

        after = await sender.send(fid, "after")
        assert (await staying.next())["seq"] == after["data"]["message"]["seq"]
        # Frames on one socket arrive in order: an ack asked for now comes after anything queued before it.
        await leaving.call("leave", {"feedback_id": fid})
        assert leaving.inbox["message"].empty()
        await leaving_feed.sio.call("unsubscribe", {"project_id": pid}, namespace="/projects", timeout=WAIT)
        assert leaving_feed.events.empty()
    finally:
        for c in (sender, staying, leaving):
            await c.close()
        await leaving_feed.close()


async def test_read_markers_reach_the_room_after_commit(make_client: Any, mailbox: Mailbox) -> None:
    node_a, node_b = await make_client(), await make_client()
    reader, watcher = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, reader))["id"]
    await join(node_a, pid, watcher["user"]["id"])
    fid = await first_thread(node_a, auth(reader), pid)
    a, b = (
        await ChatClient().connect(node_a, reader["access_token"]),
        await ChatClient().connect(node_b, watcher["access_token"]),
    )
    try:
        await a.join(fid)
        await b.join(fid)
        seq = (await a.send(fid, "hello"))["data"]["message"]["seq"]
        assert (await a.call("read", {"feedback_id": fid, "seq": seq}))["data"] == {"read_seq": seq}
        assert await b.next("read") == {"feedback_id": fid, "user_id": reader["user"]["id"], "seq": seq}
        refused = await a.call("read", {"feedback_id": fid, "seq": seq + 5})
        assert refused["error"]["code"] == "validation_failed"
        await b.call("leave", {"feedback_id": fid})  # an ack after anything queued before it
        assert b.inbox["read"].empty()  # a refused marker is neither stored nor announced
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("deleted", ["thread", "project"])
async def test_deleting_closes_the_chat_rooms_on_every_node(make_client: Any, mailbox: Mailbox, deleted: str) -> None:
    node_a, node_b = await make_client(), await make_client()
    owner, member = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, owner))["id"]
    await join(node_a, pid, member["user"]["id"])
    fid = await first_thread(node_a, auth(owner), pid)
    chat = await ChatClient().connect(node_b, member["access_token"])
    feed = await Feed().connect(node_b, member["access_token"])
    room = chat_room(fid, member["user"]["id"])
    try:
        await chat.join(fid)
        await feed.subscribe(pid)
        assert len(list(node_b.app[keys.SIO].manager.get_participants(CHAT_NAMESPACE, room))) == 1
        path = f"/api/v1/feedback/{fid}" if deleted == "thread" else f"/api/v1/projects/{pid}"
        assert (await node_a.delete(path, headers=auth(owner))).status == 204
        assert (await feed.next())["type"] == f"{'feedback' if deleted == 'thread' else 'project'}.deleted"
        # The rooms closed on node b in the same broker message that carried the event.
        assert list(node_b.app[keys.SIO].manager.get_participants(CHAT_NAMESPACE, room)) == []
    finally:
        await chat.close()
        await feed.close()


async def test_typing_crosses_on_the_threads_topic_and_the_typist_does_not_hear_itself(
    make_client: Any, mailbox: Mailbox, channels: Channels
) -> None:
    node_a, node_b = await make_client(), await make_client()
    typist, peer = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, typist))["id"]
    await join(node_a, pid, peer["user"]["id"])
    fid = await first_thread(node_a, auth(typist), pid)
    on_a, on_b = (
        await ChatClient().connect(node_a, typist["access_token"]),
        await ChatClient().connect(node_b, peer["access_token"]),
    )
    try:
        await on_a.join(fid)
        await on_b.join(fid)
        await channels.drain()
        assert (await on_a.call("typing", {"feedback_id": fid, "typing": True}))["ok"] is True
        assert await on_b.next("typing") == {"feedback_id": fid, "user_id": typist["user"]["id"], "typing": True}
        # Through the one publisher, on the thread's own channel: not python-socketio's, which every node hears.
        assert await channels.drain() == [f"{channels.broker}:chat:{fid}"]
        await on_a.call("leave", {"feedback_id": fid})  # acked after anything queued before it
        assert on_a.inbox["typing"].empty()
    finally:
        await on_a.close()
        await on_b.close()
