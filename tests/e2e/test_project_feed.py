"""The live project feed over Socket.IO: delivery to members, replay after reconnect, removal."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.feed_client import WAIT, Feed
from tests.helpers import Mailbox, auth, create_project, join, signup


async def _stage(client: TestClient[Any, Any], pair: dict[str, Any], pid: int, stage: str, status: str) -> None:
    body = {"start_at": "2026-03-01T00:00:00Z", "end_at": "2026-03-02T00:00:00Z", "status": status}
    resp = await client.put(f"/api/v1/projects/{pid}/stages/{stage}", json=body, headers=auth(pair))
    assert resp.status == 200, await resp.text()


async def test_stage_change_reaches_another_member(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, viewer = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    await join(client, pid, viewer["user"]["id"])
    feed = await Feed().connect(client, viewer["access_token"])
    try:
        ack = await feed.subscribe(pid)
        assert ack["ok"] is True
        assert ack["data"]["missed"] == []
        await _stage(client, owner, pid, "filming", "in_progress")
        got = await feed.next()
        assert got["type"] == "stage.changed"
        assert got["project_id"] == pid
        assert got["actor"] == owner["user"]["id"]
        assert got["id"] > ack["data"]["last_event_id"]
        assert got["data"]["stage"] == "filming"
        assert got["data"]["status"] == "in_progress"
        assert got["data"]["start_at"] == "2026-03-01T00:00:00Z"
        assert got["at"].endswith("Z")
    finally:
        await feed.close()


async def test_reconnect_replays_exactly_what_was_missed(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, viewer = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    await join(client, pid, viewer["user"]["id"])
    feed = await Feed().connect(client, viewer["access_token"])
    await feed.subscribe(pid)
    await _stage(client, owner, pid, "basic_plan", "in_progress")
    seen = (await feed.next())["id"]
    await feed.close()

    for stage in ("storyboard", "filming", "video_edit"):
        await _stage(client, owner, pid, stage, "in_progress")

    feed = await Feed().connect(client, viewer["access_token"])
    try:
        ack = (await feed.subscribe(pid, after=seen))["data"]
        missed = ack["missed"]
        assert [e["data"]["stage"] for e in missed] == ["storyboard", "filming", "video_edit"]
        ids = [e["id"] for e in missed]
        assert ids == sorted(set(ids))
        assert ids[0] > seen
        assert ack["last_event_id"] == ids[-1]
        assert ack["truncated"] is False
        await _stage(client, owner, pid, "post_work", "in_progress")
        live = await feed.next()
        assert live["id"] > ids[-1]
        assert live["data"]["stage"] == "post_work"
        assert feed.events.empty()
    finally:
        await feed.close()


async def test_non_member_cannot_subscribe(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, stranger = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    feed = await Feed().connect(client, stranger["access_token"])
    try:
        ack = await feed.subscribe(pid)
        assert ack["ok"] is False
        assert ack["error"]["code"] == "not_found"
        bad = await feed.sio.call("subscribe", {"project_id": "x"}, namespace="/projects", timeout=WAIT)
        assert bad["error"]["code"] == "validation_failed"
        await _stage(client, owner, pid, "filming", "in_progress")
        await _stage(client, owner, pid, "storyboard", "in_progress")
        owner_feed = await Feed().connect(client, owner["access_token"])
        try:
            assert (await owner_feed.subscribe(pid, after=0))["data"]["missed"][-1]["data"]["stage"] == "storyboard"
        finally:
            await owner_feed.close()
        assert feed.events.empty()
    finally:
        await feed.close()


async def test_removed_member_stops_receiving(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member, other = [await signup(client, mailbox) for _ in range(3)]
    pid = (await create_project(client, owner))["id"]
    await join(client, pid, member["user"]["id"])
    await join(client, pid, other["user"]["id"])
    removed = await Feed().connect(client, member["access_token"])
    staying = await Feed().connect(client, other["access_token"])
    try:
        await removed.subscribe(pid)
        await staying.subscribe(pid)
        resp = await client.delete(f"/api/v1/projects/{pid}/members/{member['user']['id']}", headers=auth(owner))
        assert resp.status == 204
        notice = await removed.next()
        assert notice["type"] == "member.left"
        assert notice["data"] == {"user_id": member["user"]["id"], "reason": "removed"}
        assert (await staying.next())["type"] == "member.left"

        await _stage(client, owner, pid, "filming", "in_progress")
        assert (await staying.next())["type"] == "stage.changed"
        # The staying member got the later event, delivered after the removal: the removed one did not.
        assert removed.events.empty()
        again = await removed.subscribe(pid)
        assert again["error"]["code"] == "not_found"
    finally:
        await removed.close()
        await staying.close()
