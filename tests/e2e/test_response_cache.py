"""The response cache of hot reads (domain/read_cache.py): hits after a miss, counted on /metrics; never a
read older than the last commit, on the writer's node or another; per caller; failing open without Redis."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from roughcut import keys
from roughcut.config import Settings
from roughcut.storage import response_cache
from tests.chat_client import first_thread
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, join, signup
from tests.private_redis import PrivateRedis

Client = TestClient[Any, Any]
API = "/api/v1"
PAGES = ("project_list", "comments")
PAUSE_MS = 1500  # a Redis that stops answering (longer than the cache's 0.5 s timeout), then answers again


@pytest.fixture(params=["redis", "in_process"])
async def node(request: pytest.FixtureRequest, make_client: AppFactory, sqlite_settings: Settings) -> Client:
    """One node: on PostgreSQL with the cache in Redis, or the embedded default with it in process."""
    return await (make_client() if request.param == "redis" else make_client(sqlite_settings))


async def counted(client: Client, resource: str, outcome: str) -> float:
    """The cache's counter for `resource` and `outcome`, as /metrics shows it."""
    text = await (await client.get("/metrics")).text()
    line = f'roughcut_response_cache_reads_total{{outcome="{outcome}",resource="{resource}"}}'
    found = re.search(rf"^{re.escape(line)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def read(client: Client, who: dict[str, Any], path: str, status: int = 200) -> Any:
    resp = await client.get(f"{API}{path}", headers=auth(who))
    assert resp.status == status, await resp.text()
    return await resp.json()


async def two_members(client: Client, mailbox: Mailbox) -> tuple[dict[str, Any], dict[str, Any], int, int]:
    """An owner and a member of a new project with its first thread: (owner, member, project id, thread id)."""
    owner, member = await signup(client, mailbox), await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    await join(client, pid, member["user"]["id"])
    return owner, member, pid, await first_thread(client, auth(owner), pid)


def hot_reads(pid: int, fid: int) -> dict[str, str]:
    return {
        "project": f"/projects/{pid}",
        "metadata": f"/projects/{pid}/metadata",
        "project_list": "/projects",
        "feedback": f"/feedback/{fid}",
        "comments": f"/feedback/{fid}/comments",
    }


async def test_a_second_read_is_a_counted_hit_with_the_same_etag(node: Client, mailbox: Mailbox) -> None:
    owner, _member, pid, fid = await two_members(node, mailbox)
    for resource, path in hot_reads(pid, fid).items():
        hits, misses = await counted(node, resource, "hit"), await counted(node, resource, "miss")
        first = await node.get(f"{API}{path}", headers=auth(owner))
        second = await node.get(f"{API}{path}", headers=auth(owner))
        assert (first.status, second.status) == (200, 200), resource
        assert await second.read() == await first.read()
        assert await counted(node, resource, "miss") == misses + 1, resource
        assert await counted(node, resource, "hit") == hits + 1, resource
        if resource in PAGES:  # a list's page has no ETag (API.md: reads of one resource do)
            assert "ETag" not in second.headers and second.headers["Cache-Control"] == "no-store"
            continue
        assert second.headers["ETag"] == first.headers["ETag"]
        assert second.headers["Cache-Control"] == "private, no-cache"
        # A client that has it is told so from the cache, without a body.
        again = await node.get(f"{API}{path}", headers={**auth(owner), "If-None-Match": first.headers["ETag"]})
        assert (again.status, await again.read()) == (304, b""), resource
        assert again.headers["ETag"] == first.headers["ETag"]
        assert await counted(node, resource, "hit") == hits + 2, resource


async def test_a_later_page_is_not_cached(node: Client, mailbox: Mailbox) -> None:
    owner = await signup(node, mailbox)
    for n in range(3):
        await create_project(node, owner, name=f"Paged {n}")
    cursor = (await read(node, owner, "/projects?limit=2"))["next_cursor"]
    misses = await counted(node, "project_list", "miss")
    for _ in range(2):
        assert len((await read(node, owner, f"/projects?limit=2&cursor={cursor}"))["items"]) == 1
    assert await counted(node, "project_list", "miss") == misses


async def test_another_users_write_is_read_at_once(node: Client, mailbox: Mailbox) -> None:
    owner, member, pid, fid = await two_members(node, mailbox)
    for path in hot_reads(pid, fid).values():
        await read(node, member, path)
        await read(node, member, path)  # cached now
    resp = await node.patch(f"{API}/projects/{pid}", json={"name": "Renamed"}, headers=auth(owner))
    assert resp.status == 200, await resp.text()
    resp = await node.patch(f"{API}/feedback/{fid}", json={"title": "Cut 2"}, headers=auth(owner))
    assert resp.status == 200, await resp.text()
    resp = await node.post(f"{API}/feedback/{fid}/comments", json={"text": "Louder"}, headers=auth(owner))
    assert resp.status == 201, await resp.text()

    assert (await read(node, member, f"/projects/{pid}"))["name"] == "Renamed"
    assert (await read(node, member, f"/projects/{pid}/metadata"))["title"] == "Renamed"
    assert [p["name"] for p in (await read(node, member, "/projects"))["items"]] == ["Renamed"]
    thread = await read(node, member, f"/feedback/{fid}")
    assert (thread["title"], thread["comment_count"]) == ("Cut 2", 1)
    assert [c["text"] for c in (await read(node, member, f"/feedback/{fid}/comments"))["items"]] == ["Louder"]
    # The writer reads its own write too.
    assert (await read(node, owner, f"/projects/{pid}"))["name"] == "Renamed"


async def test_a_write_on_one_node_is_read_at_once_on_the_other(make_client: AppFactory, mailbox: Mailbox) -> None:
    node_a, node_b = await make_client(), await make_client()
    owner, member, pid, fid = await two_members(node_a, mailbox)
    for path in hot_reads(pid, fid).values():
        await read(node_b, member, path)
    hits = await counted(node_b, "project", "hit")
    assert (await read(node_b, member, f"/projects/{pid}"))["name"] == "Spring campaign"
    assert await counted(node_b, "project", "hit") == hits + 1  # served from the shared cache

    resp = await node_a.put(
        f"{API}/projects/{pid}/stages/video_edit",
        json={"start_at": "2026-12-01T00:00:00Z", "end_at": "2026-12-03T00:00:00Z", "status": "in_progress"},
        headers=auth(owner),
    )
    assert resp.status == 200, await resp.text()
    resp = await node_a.patch(f"{API}/feedback/{fid}", json={"status": "closed"}, headers=auth(owner))
    assert resp.status == 200, await resp.text()

    stages = {s["stage"]: s["status"] for s in (await read(node_b, member, f"/projects/{pid}"))["stages"]}
    assert stages["video_edit"] == "in_progress"
    listed = (await read(node_b, member, "/projects"))["items"]
    assert {s["stage"]: s["status"] for s in listed[0]["stages"]}["video_edit"] == "in_progress"
    assert (await read(node_b, member, f"/feedback/{fid}"))["status"] == "closed"


async def test_a_removed_member_is_refused_not_served_from_the_cache(node: Client, mailbox: Mailbox) -> None:
    owner, member, pid, fid = await two_members(node, mailbox)
    reads = hot_reads(pid, fid)
    for path in reads.values():
        await read(node, member, path)
        await read(node, member, path)
    resp = await node.delete(f"{API}/projects/{pid}/members/{member['user']['id']}", headers=auth(owner))
    assert resp.status == 204, await resp.text()

    for resource in ("project", "metadata", "feedback", "comments"):
        assert (await read(node, member, reads[resource], 404))["code"] == "not_found", resource
    assert (await read(node, member, "/projects"))["items"] == []
    assert (await read(node, owner, f"/projects/{pid}"))["member_count"] == 1


async def test_each_caller_gets_their_own_view(node: Client, mailbox: Mailbox) -> None:
    owner, member, pid, fid = await two_members(node, mailbox)
    url = f"{API}/feedback/{fid}/comments"
    resp = await node.post(url, json={"text": "Too dark", "anonymous": True}, headers=auth(member))
    assert resp.status == 201, await resp.text()
    for _ in range(2):  # a miss each, then a hit each: neither gets the other's
        mine = (await read(node, member, f"/feedback/{fid}/comments"))["items"][0]
        assert (mine["author"]["id"], mine["mine"]) == (member["user"]["id"], True)
        theirs = (await read(node, owner, f"/feedback/{fid}/comments"))["items"][0]
        assert (theirs["author"], theirs["mine"], theirs["anonymous"]) == (None, False, True)
        as_owner, as_member = await read(node, owner, f"/projects/{pid}"), await read(node, member, f"/projects/{pid}")
        assert (as_owner["my_role"], as_member["my_role"]) == ("owner", "member")
        assert "invitations" in as_owner and "invitations" not in as_member


async def test_a_changed_nickname_shows_in_other_peoples_cached_reads(node: Client, mailbox: Mailbox) -> None:
    owner, member, pid, _fid = await two_members(node, mailbox)
    await read(node, owner, f"/projects/{pid}")
    resp = await node.patch(f"{API}/me", json={"nickname": "Renamed Member"}, headers=auth(member))
    assert resp.status == 200, await resp.text()
    members = (await read(node, owner, f"/projects/{pid}"))["members"]
    assert {m["user_id"]: m["nickname"] for m in members}[member["user"]["id"]] == "Renamed Member"


async def test_switched_off_nothing_is_cached(make_client: AppFactory, mailbox: Mailbox) -> None:
    client = await make_client(response_cache=False)
    assert keys.RESPONSE_CACHE not in client.app
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    misses = await counted(client, "project", "miss")
    first = await client.get(f"{API}/projects/{pid}", headers=auth(owner))
    again = await client.get(f"{API}/projects/{pid}", headers={**auth(owner), "If-None-Match": first.headers["ETag"]})
    assert (first.status, again.status) == (200, 304)
    assert await counted(client, "project", "miss") == misses


async def test_without_redis_reads_go_uncached_and_nothing_stale_comes_back(
    make_client: AppFactory,
    mailbox: Mailbox,
    private_redis: PrivateRedis,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cache in a Redis of its own (the rest on the shared one) stops answering for a while, keeping its data."""
    monkeypatch.setattr(response_cache, "RETRY_AFTER_SECONDS", 0.0)  # try Redis again at every request
    client = await make_client(response_cache_url=private_redis.url)
    owner, member, pid, _fid = await two_members(client, mailbox)
    await read(client, member, f"/projects/{pid}")
    hits = await counted(client, "project", "hit")
    await read(client, member, f"/projects/{pid}")
    assert await counted(client, "project", "hit") == hits + 1

    admin = Redis.from_url(private_redis.url)
    try:
        await admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
        with caplog.at_level(logging.INFO, logger=response_cache.__name__):
            # The rename's bump cannot reach Redis: it is owed. Reads keep working, from the database.
            resp = await client.patch(f"{API}/projects/{pid}", json={"name": "While down"}, headers=auth(owner))
            assert resp.status == 200, await resp.text()
            assert (await read(client, member, f"/projects/{pid}"))["name"] == "While down"
            assert (await read(client, owner, f"/projects/{pid}"))["name"] == "While down"
            await asyncio.wait_for(admin.ping(), PAUSE_MS / 1000 + 5)  # answered once the pause is over
            # Redis kept the member's entry from before the rename: the owed bump hides it.
            assert (await read(client, member, f"/projects/{pid}"))["name"] == "While down"
            hits = await counted(client, "project", "hit")
            assert (await read(client, member, f"/projects/{pid}"))["name"] == "While down"
            assert await counted(client, "project", "hit") == hits + 1  # cached again
        messages = [r.getMessage() for r in caplog.records if r.name == response_cache.__name__]
        assert messages == ["response cache unavailable: reads go uncached", "response cache available again"]
    finally:
        await admin.aclose()
