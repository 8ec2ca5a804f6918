"""An anonymous comment never names its author to anyone else: REST, the socket feed, the event log, SSE."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import socketio
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from tests.helpers import Mailbox, auth, create_project, join, signup

Client = TestClient[Any, Any]
Pair = dict[str, Any]
API = "/api/v1"
WAIT = 5.0
# The events of the script below, in order, with who acts.
SCRIPT_TYPES = [
    "comment.created",  # the author: anonymous comment A
    "comment.created",  # the author: anonymous comment B
    "comment.updated",  # the author edits A
    "comment.resolved",  # the author (a manager) resolves A
    "comment.resolved",  # the owner reopens A
    "comment.created",  # the watcher replies to A, openly
    "comment.deleted",  # the author deletes B
]


class Feed:
    """A python-socketio client on /projects that queues every `event`."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sio.on("event", self.events.put, namespace="/projects")

    async def open(self, client: Client, token: str, project_id: int) -> None:
        await self.sio.connect(
            str(client.make_url("/")).rstrip("/"),
            auth={"token": token},
            namespaces=["/projects"],
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        ack = await self.sio.call("subscribe", {"project_id": project_id}, namespace="/projects", timeout=WAIT)
        assert ack["ok"] is True, ack

    async def take(self, count: int) -> list[dict[str, Any]]:
        return [await asyncio.wait_for(self.events.get(), WAIT) for _ in range(count)]


async def sse_events(resp: ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next `count` SSE event payloads (the retry hint and keepalive comments skipped)."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        line = (await asyncio.wait_for(resp.content.readline(), WAIT)).decode().rstrip("\n")
        if line.startswith("data: "):
            found.append(json.loads(line.removeprefix("data: ")))
    return found


def _walk(value: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item, value
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def assert_hidden(payload: Any, author: Pair, nickname: str) -> None:
    """Neither the author's nickname nor their id as author, actor or user appears anywhere in `payload`."""
    text = json.dumps(payload)
    assert nickname not in text
    author_id = author["user"]["id"]
    for key, value, holder in _walk(payload):
        assert not (key in ("actor", "author_id", "user_id", "resolved_by") and value == author_id), holder
        assert not (key == "author" and isinstance(value, dict) and value.get("id") == author_id), holder
        assert not (key == "id" and value == author_id and "nickname" in holder), holder


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json() if status != 204 else None


async def test_anonymous_author_is_hidden_everywhere(client: Client, mailbox: Mailbox) -> None:
    owner, author, watcher = [await signup(client, mailbox) for _ in range(3)]
    nickname = f"Phantom-{uuid.uuid4().hex[:10]}"
    await ok(await client.patch(f"{API}/me", json={"nickname": nickname}, headers=auth(author)))
    pid: int = (await create_project(client, owner))["id"]
    await join(client, pid, author["user"]["id"], "manager")
    await join(client, pid, watcher["user"]["id"])
    fid = (await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(watcher))))["items"][0]["id"]
    after = (await ok(await client.get(f"{API}/projects/{pid}/events", headers=auth(watcher))))["last_event_id"]

    feed = Feed()
    await feed.open(client, watcher["access_token"], pid)
    stream = await client.get(f"{API}/projects/{pid}/events/stream", headers=auth(watcher))
    assert stream.status == 200
    try:
        url = f"{API}/feedback/{fid}/comments"
        body = {"text": "Too long", "at_ms": 1200, "anonymous": True, "title": "T", "section": "S"}
        first = await ok(await client.post(url, json=body, headers=auth(author)), 201)
        assert (first["author"], first["mine"]) == ({"id": author["user"]["id"], "nickname": nickname}, True)
        second = await ok(await client.post(url, json={"text": "Muddy", "anonymous": True}, headers=auth(author)), 201)
        edited = await ok(
            await client.patch(f"{API}/comments/{first['id']}", json={"text": "Trim"}, headers=auth(author))
        )
        assert edited["author"]["id"] == author["user"]["id"]
        resolve = f"{API}/comments/{first['id']}/resolve"
        assert (await ok(await client.post(resolve, headers=auth(author))))["mine"] is True
        reopened = await ok(await client.post(resolve, json={"resolved": False}, headers=auth(owner)))
        assert (reopened["author"], reopened["mine"], reopened["anonymous"]) == (None, False, True)
        assert_hidden(reopened, author, nickname)
        reply = await ok(
            await client.post(url, json={"text": "Agreed", "parent_id": first["id"]}, headers=auth(watcher)), 201
        )
        await ok(await client.delete(f"{API}/comments/{second['id']}", headers=auth(author)), 204)

        live = await feed.take(len(SCRIPT_TYPES))
        streamed = await sse_events(stream, len(SCRIPT_TYPES))
    finally:
        stream.close()
        await feed.sio.disconnect()
    logged = (await ok(await client.get(f"{API}/projects/{pid}/events?after={after}", headers=auth(watcher))))["items"]

    for name, got in (("socket", live), ("sse", streamed), ("log", logged)):
        assert [e["type"] for e in got] == SCRIPT_TYPES, name
        assert [e["actor"] for e in got] == [None] * 4 + [owner["user"]["id"], watcher["user"]["id"], None], name
        assert_hidden(got, author, nickname)
        assert got[0]["data"]["comment"]["text"] == "Too long"
        assert "author" not in got[0]["data"]["comment"]
        assert got[5]["data"]["comment"]["author"]["id"] == watcher["user"]["id"]
    assert [e["id"] for e in live] == [e["id"] for e in streamed] == [e["id"] for e in logged]

    for pair in (owner, watcher):
        items = (await ok(await client.get(url, headers=auth(pair))))["items"]
        assert [c["id"] for c in items] == [first["id"], reply["id"]]
        assert (items[0]["author"], items[0]["mine"], items[0]["anonymous"]) == (None, False, True)
        assert_hidden(items, author, nickname)
        assert (await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(pair))))["comment_count"] == 2
    own = (await ok(await client.get(url, headers=auth(author))))["items"]
    assert (own[0]["author"], own[0]["mine"]) == ({"id": author["user"]["id"], "nickname": nickname}, True)
    assert own[1]["mine"] is False


async def test_the_author_alone_edits_an_anonymous_comment(client: Client, mailbox: Mailbox) -> None:
    owner, author = await signup(client, mailbox), await signup(client, mailbox)
    pid: int = (await create_project(client, owner))["id"]
    await join(client, pid, author["user"]["id"])
    fid = (await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner))))["items"][0]["id"]
    made = await ok(
        await client.post(
            f"{API}/feedback/{fid}/comments", json={"text": "x", "anonymous": True}, headers=auth(author)
        ),
        201,
    )
    for method in ("patch", "delete"):
        resp = await getattr(client, method)(f"{API}/comments/{made['id']}", json={"text": "y"}, headers=auth(owner))
        assert (resp.status, (await resp.json())["code"]) == (403, "permission_denied")
    assert (await ok(await client.patch(f"{API}/comments/{made['id']}", json={"text": "y"}, headers=auth(author))))[
        "anonymous"
    ] is True
    await ok(await client.delete(f"{API}/comments/{made['id']}", headers=auth(author)), 204)
