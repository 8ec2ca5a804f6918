"""`/presence` end to end with real Socket.IO clients: tabs count once, away, members only, across two nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.app import SERVICES
from roughcut.config import Settings
from tests.chat_client import first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup

WAIT = 5.0
WINDOW = 0.1  # a short coalescing window keeps the tests quick; they wait on events, never on the clock
FAST: dict[str, Any] = {"presence_window": WINDOW}


class Tab:
    """One browser tab on `/presence`: queues every `presence` change it hears."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.changes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sio.on("presence", self.changes.put, namespace="/presence")

    async def open(self, node: TestClient[Any, Any], pair: dict[str, Any]) -> Tab:
        await self.sio.connect(
            str(node.make_url("/")).rstrip("/"),
            auth={"token": pair["access_token"]},
            namespaces=["/presence"],
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def call(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack: dict[str, Any] = await self.sio.call(name, payload, namespace="/presence", timeout=WAIT)
        return ack

    async def subscribe(self, project_id: int) -> list[dict[str, Any]]:
        ack = await self.call("subscribe", {"project_id": project_id})
        assert ack["ok"] is True, ack
        online: list[dict[str, Any]] = ack["data"]["online"]
        return online

    async def next(self, user_id: int) -> str:
        """The status in the next change about `user_id` (changes about others are skipped)."""
        while True:
            change = await asyncio.wait_for(self.changes.get(), WAIT)
            if change["user_id"] == user_id:
                return str(change["status"])

    async def close(self) -> None:
        await self.sio.disconnect()


def _users(online: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(u["user_id"], u["status"]) for u in online]


async def test_tabs_count_once_and_presence_reaches_the_other_node(make_client: Any, mailbox: Mailbox) -> None:
    node_a, node_b = await make_client(**FAST), await make_client(**FAST)
    owner, member = await signup(node_a, mailbox), await signup(node_a, mailbox)
    uid = member["user"]["id"]
    pid = (await create_project(node_a, owner))["id"]
    await join(node_a, pid, uid)
    watcher = await Tab().open(node_b, owner)
    tabs = [await Tab().open(node_a, member) for _ in range(2)]
    try:
        assert _users(await watcher.subscribe(pid)) == [(owner["user"]["id"], "online")]
        await tabs[0].subscribe(pid)
        assert await watcher.next(uid) == "online"  # committed on node A, heard on node B
        listed = await tabs[1].subscribe(pid)
        assert sorted(_users(listed)) == sorted([(owner["user"]["id"], "online"), (uid, "online")])  # once

        await tabs[0].close()  # the other tab is still here: no news
        assert (await tabs[1].call("status", {"status": "away"}))["ok"] is True
        assert await watcher.next(uid) == "away"  # the first change about the member since the second tab

        resp = await node_b.get(f"/api/v1/projects/{pid}/presence", headers=auth(owner))
        assert resp.status == 200
        body = await resp.json()
        assert (body["project_id"], _users(body["online"])) == (pid, sorted(_users(body["online"])))
        assert (uid, "away") in _users(body["online"])
        assert next(u for u in body["online"] if u["user_id"] == uid)["nickname"] == "Tester"

        await tabs[1].close()
        assert await watcher.next(uid) == "offline"
    finally:
        for tab in (watcher, *tabs):
            await tab.close()


async def test_non_members_see_nothing(make_client: Any, mailbox: Mailbox) -> None:
    node = await make_client(**FAST)
    owner, stranger = await signup(node, mailbox), await signup(node, mailbox)
    pid = (await create_project(node, owner))["id"]
    tab = await Tab().open(node, stranger)
    try:
        ack = await tab.call("subscribe", {"project_id": pid})
        assert ack["error"]["code"] == "not_found"
        assert (await tab.call("subscribe", {"project_id": 0}))["error"]["code"] == "validation_failed"
        assert (await tab.call("status", {"status": "offline"}))["error"]["code"] == "validation_failed"
        resp = await node.get(f"/api/v1/projects/{pid}/presence", headers=auth(stranger))
        assert resp.status == 404 and (await resp.json())["code"] == "not_found"
    finally:
        await tab.close()


async def test_the_embedded_default_keeps_presence_in_process(
    make_client: Any, sqlite_settings: Settings, mailbox: Mailbox
) -> None:
    node = await make_client(sqlite_settings, **FAST)
    owner, member = await signup(node, mailbox), await signup(node, mailbox)
    uid = member["user"]["id"]
    pid = (await create_project(node, owner))["id"]
    await join(node, pid, uid)
    watcher, tab = await Tab().open(node, owner), await Tab().open(node, member)
    try:
        await watcher.subscribe(pid)
        await tab.subscribe(pid)
        assert await watcher.next(uid) == "online"
        assert (await tab.call("unsubscribe", {"project_id": pid}))["ok"] is True
        assert await watcher.next(uid) == "offline"
        resp = await node.get(f"/api/v1/projects/{pid}/presence", headers=auth(owner))
        assert _users((await resp.json())["online"]) == [(owner["user"]["id"], "online")]
    finally:
        await watcher.close()
        await tab.close()


async def _watched(make_client: Any, mailbox: Mailbox, **settings: Any) -> tuple[Any, Any, dict[str, Any], Tab, int]:
    """Two nodes; the project's owner watches on node B: (node A, node B, a member, the watcher, project id)."""
    node_a, node_b = await make_client(**FAST, **settings), await make_client(**FAST, **settings)
    owner, member = await signup(node_a, mailbox), await signup(node_a, mailbox)
    pid = (await create_project(node_a, owner))["id"]
    await join(node_a, pid, member["user"]["id"])
    watcher = await Tab().open(node_b, owner)
    await watcher.subscribe(pid)
    return node_a, node_b, member, watcher, pid


async def test_the_users_of_a_node_that_died_go_offline(make_client: Any, mailbox: Mailbox) -> None:
    ttl, beat = 1.0, 0.2  # production: 30 s and 10 s
    node_a, _, member, watcher, pid = await _watched(make_client, mailbox, presence_ttl=ttl, presence_heartbeat=beat)
    uid = member["user"]["id"]
    tab = await Tab().open(node_a, member)
    try:
        await tab.subscribe(pid)
        assert await watcher.next(uid) == "online"
        dying = node_a.app[SERVICES]
        await dying.presence_runner.stop()  # node A's heartbeat stops, as when its process dies,
        dying.presence.hub.closing = True  # and its sockets vanish without a word to Redis
        started = asyncio.get_running_loop().time()
        await tab.close()
        assert await watcher.next(uid) == "offline"  # another node's sweeper noticed
        assert asyncio.get_running_loop().time() - started < ttl + 2 * beat + 2 * WINDOW + 1
    finally:
        await tab.close()
        await watcher.close()


async def test_a_node_restart_makes_no_presence_storm(make_client: Any, mailbox: Mailbox) -> None:
    node_a, node_b, member, watcher, pid = await _watched(make_client, mailbox)
    uid = member["user"]["id"]
    later = await signup(node_b, mailbox)
    await join(node_b, pid, later["user"]["id"])
    tab, moved, marker = await Tab().open(node_a, member), Tab(), await Tab().open(node_b, later)
    try:
        await tab.subscribe(pid)
        assert await watcher.next(uid) == "online"
        await node_a.app[SERVICES].presence_runner.release()  # node A drains (SIGTERM)
        await tab.close()
        await moved.open(node_b, member)  # the client reconnects to another node
        await moved.subscribe(pid)
        await marker.subscribe(pid)
        # The next change the watcher hears is the newcomer: nobody heard the member leave and come back.
        change = await asyncio.wait_for(watcher.changes.get(), WAIT)
        assert (change["user_id"], change["status"]) == (later["user"]["id"], "online")
    finally:
        for t in (tab, moved, marker, watcher):
            await t.close()


async def test_a_quiet_connection_turns_away_and_anything_it_sends_brings_it_back(
    make_client: Any, mailbox: Mailbox
) -> None:
    node = await make_client(presence_away_after=1.0, **FAST)
    owner, member = await signup(node, mailbox), await signup(node, mailbox)
    uid = member["user"]["id"]
    pid = (await create_project(node, owner))["id"]
    await join(node, pid, uid)
    watcher = await Tab().open(node, owner)
    quiet = Tab()
    await quiet.sio.connect(
        str(node.make_url("/")).rstrip("/"),
        auth={"token": member["access_token"]},
        namespaces=["/presence", "/chat"],
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    try:
        await watcher.subscribe(pid)
        await quiet.subscribe(pid)
        assert await watcher.next(uid) == "online"
        assert await watcher.next(uid) == "away"  # nothing sent for PRESENCE_AWAY_AFTER (engine.io pings do not count)
        # Anything the connection sends counts as activity, on any namespace: here a chat call.
        await quiet.sio.call("leave", {"feedback_id": 1}, namespace="/chat", timeout=WAIT)
        assert await watcher.next(uid) == "online"
        activity, eio_sid = node.app[keys.SIO].activity.last, quiet.sio.eio.sid
        assert eio_sid in activity
        await quiet.close()
        async with asyncio.timeout(WAIT):  # the server forgets a closed connection's activity (no leak)
            while eio_sid in activity:  # noqa: ASYNC110 - server-side state, no event to await
                await asyncio.sleep(0.02)
    finally:
        await quiet.close()
        await watcher.close()


async def test_who_watches_a_thread_is_kept_apart_from_the_project_and_members_only(
    make_client: Any, mailbox: Mailbox
) -> None:
    node_a, node_b = await make_client(**FAST), await make_client(**FAST)
    owner, member, stranger = [await signup(node_a, mailbox) for _ in range(3)]
    uid = member["user"]["id"]
    pid = (await create_project(node_a, owner))["id"]
    await join(node_a, pid, uid)
    fid = await first_thread(node_a, auth(owner), pid)
    watcher, viewer, outsider = (
        await Tab().open(node_b, owner),
        await Tab().open(node_a, member),
        await Tab().open(node_a, stranger),
    )
    try:
        ack = await watcher.call("watch", {"feedback_id": fid})
        assert ack["ok"] is True and _users(ack["data"]["watching"]) == [(owner["user"]["id"], "online")]
        await viewer.subscribe(pid)  # in the project: no news for the thread's watchers
        assert (await viewer.call("watch", {"feedback_id": fid}))["ok"] is True
        while (change := await asyncio.wait_for(watcher.changes.get(), WAIT))["user_id"] != uid:
            assert change["feedback_id"] == fid  # the watcher's own arrival, also about the thread
        assert (change["feedback_id"], change["project_id"], change["status"]) == (fid, pid, "online")  # A to B
        resp = await node_b.get(f"/api/v1/feedback/{fid}/presence", headers=auth(owner))
        body = await resp.json()
        assert resp.status == 200 and sorted(_users(body["watching"])) == sorted(
            [(owner["user"]["id"], "online"), (uid, "online")]
        )
        assert (await viewer.call("unwatch", {"feedback_id": fid}))["ok"] is True
        assert await watcher.next(uid) == "offline"  # left the review, still online in the project
        resp = await node_a.get(f"/api/v1/projects/{pid}/presence", headers=auth(owner))
        assert (uid, "online") in _users((await resp.json())["online"])

        refused = await outsider.call("watch", {"feedback_id": fid})
        assert refused["error"]["code"] == "not_found"
        assert (await outsider.call("watch", {"feedback_id": fid + 10_000}))["error"]["code"] == "not_found"
        resp = await node_a.get(f"/api/v1/feedback/{fid}/presence", headers=auth(stranger))
        assert resp.status == 404
    finally:
        for tab in (watcher, viewer, outsider):
            await tab.close()
