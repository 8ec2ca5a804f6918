"""Parallel writers on the real app, on both databases: every write endpoint that touches a project, many
requests at once on one project and on a second project with the same members, behind one slow writer.

Asserted: no 5xx (every write is acknowledged), each acknowledged write stored once and its event in the
project's log once (and no other event), event ids strictly increasing in commit order (the last rename
in the log is the name that stayed), and `GET /me` and `/readyz` answered promptly during the storm.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.domain.project_model import STAGE_ORDER
from roughcut.domain.transactions import writes
from tests.chat_client import ChatClient, first_thread
from tests.helpers import Mailbox, auth, create_project, join, signup, unique_email

Client = TestClient[Any, Any]
Key = tuple[Hashable, ...]

WRITERS = 12  # parallel writers per endpoint and project: 10 endpoints x 2 projects = 240 requests at once
PROMPT = 3.0  # seconds a read may take during the storm (SQLite's busy timeout is 5 s, the pool's 30 s)
STORM = 45.0  # seconds the whole storm may take
PROBES = 3  # rounds of GET /me + /readyz while the writes run
PAGE = 100


@pytest.fixture(params=["postgres", "sqlite"])
async def app(request: pytest.FixtureRequest, make_client: Any) -> Client:
    settings = request.getfixturevalue("pg_settings" if request.param == "postgres" else "sqlite_settings")
    # One socket sends every chat message of the storm: past the per-socket send budget otherwise.
    client: Client = await make_client(settings, chat_send_burst=2 * WRITERS)
    return client


@dataclass
class Target:
    """One project under the storm: what the writers aim at, and what they must leave."""

    pid: int
    fid: int  # the project's first feedback thread
    memo: int  # the memo every PATCH writer edits
    doomed: list[int]  # one memo per DELETE writer
    after: int  # the log's last event id before the storm
    expected: list[Key] = field(default_factory=list)  # one key per acknowledged write
    created: dict[str, list[int]] = field(default_factory=dict)  # ids the POSTs answered, by kind


async def _json(resp: aiohttp.ClientResponse) -> Any:
    return await resp.json() if resp.content_type.endswith("json") else None


async def _add_users(client: Client, count: int) -> list[int]:
    """Members to promote (made in the database: they never log in)."""
    now = datetime.now(UTC)
    async with client.app[keys.UOW]() as uow:
        ids = [
            (await uow.users.add(NewUser(unique_email("m"), "M", None, LoginMethod.EMAIL, None, now))).id
            for _ in range(count)
        ]
        await uow.commit()
    return ids


async def _target(client: Client, owner: dict[str, Any], managers: list[int], members: list[int]) -> Target:
    pid = (await create_project(client, owner))["id"]
    for uid in managers:
        await join(client, pid, uid, "manager")
    for uid in members:
        await join(client, pid, uid, "member")
    memos = []
    for i in range(WRITERS + 1):
        resp = await client.post(
            f"/api/v1/projects/{pid}/memos", json={"date": "2026-06-01", "memo": f"m{i}"}, headers=auth(owner)
        )
        assert resp.status == 201
        memos.append((await resp.json())["id"])
    last = (await (await client.get(f"/api/v1/projects/{pid}/events?limit=1", headers=auth(owner))).json())[
        "last_event_id"
    ]
    return Target(pid, await first_thread(client, auth(owner), pid), memos[0], memos[1:], last)


def _writes(t: Target, members: list[int]) -> list[tuple[str, str, str, dict[str, Any] | None, int]]:
    """(kind, method, path, body, status) of every write the storm sends to one project."""
    p, out = f"/api/v1/projects/{t.pid}", []
    for i in range(WRITERS):
        stage = STAGE_ORDER[i % len(STAGE_ORDER)].value
        out += [
            ("rename", "PATCH", p, {"name": f"P{t.pid}-{i}"}, 200),
            ("stage", "PUT", f"{p}/stages/{stage}", {"status": "in_progress"}, 200),
            ("memo+", "POST", f"{p}/memos", {"date": "2026-06-02", "memo": f"new {i}"}, 201),
            ("memo~", "PATCH", f"{p}/memos/{t.memo}", {"memo": f"edit {i}"}, 200),
            ("memo-", "DELETE", f"{p}/memos/{t.doomed[i]}", None, 204),
            ("thread+", "POST", f"{p}/feedback", {"title": f"t{i}"}, 201),
            ("thread~", "PATCH", f"/api/v1/feedback/{t.fid}", {"title": f"T{t.pid}-{i}"}, 200),
            ("comment+", "POST", f"/api/v1/feedback/{t.fid}/comments", {"text": f"c{i}"}, 201),
            ("invite+", "POST", f"{p}/invitations", {"email": unique_email("inv")}, 201),
            ("role", "PATCH", f"{p}/members/{members[i]}", {"role": "manager"}, 200),
        ]
    return out


def _expected(t: Target, kind: str, path: str, body: dict[str, Any], answer: Any) -> Key:
    """The log entry one acknowledged write must have left (see `_key`)."""
    match kind:
        case "rename":
            return ("project.updated", body["name"])
        case "stage":
            return ("stage.changed", path.rsplit("/", 1)[1])
        case "memo+":
            t.created.setdefault(kind, []).append(answer["id"])
            return ("memo.changed", "created", answer["id"])
        case "memo~":
            return ("memo.changed", "updated", t.memo)
        case "memo-":
            return ("memo.changed", "deleted", int(path.rsplit("/", 1)[1]))
        case "thread+":
            t.created.setdefault(kind, []).append(answer["id"])
            return ("feedback.created", answer["id"])
        case "thread~":
            return ("feedback.updated", body["title"])
        case "comment+":
            t.created.setdefault(kind, []).append(answer["id"])
            return ("comment.created", answer["id"])
        case "invite+":
            t.created.setdefault(kind, []).append(answer["id"])
            return ("invitation.created", answer["id"])
    return ("member.role_changed", int(path.rsplit("/", 1)[1]))


def _key(event: dict[str, Any]) -> Key:
    kind, data = event["type"], event["data"]
    match kind:
        case "project.updated":
            return (kind, data["changes"].get("name"))
        case "stage.changed":
            return (kind, data["stage"])
        case "memo.changed":
            return (kind, data["action"], data["memo_id"])
        case "feedback.created":
            return (kind, data["feedback_id"])
        case "feedback.updated":
            return (kind, data["changes"].get("title"))
        case "comment.created":
            return (kind, data["comment_id"])
        case "invitation.created":
            return (kind, data["invitation_id"])
        case "member.role_changed":
            return (kind, data["user_id"])
    return (kind,)


async def _log(client: Client, headers: dict[str, str], t: Target) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after: int | None = t.after
    while after is not None:
        page = await (
            await client.get(f"/api/v1/projects/{t.pid}/events?after={after}&limit=500", headers=headers)
        ).json()
        events += page["items"]
        after = page["next_after"]
    return events


async def _ids(client: Client, headers: dict[str, str], path: str) -> list[int]:
    body = await (await client.get(path, headers=headers)).json()
    return [item["id"] for item in body["items"]]


@writes
async def _slow_write(client: Client, pid: int, holding: asyncio.Event, release: asyncio.Event) -> None:
    """A write transaction left open until `release`, then rolled back: while it runs it holds the project
    row (PostgreSQL) or the database's write lock (SQLite), so every other writer of it has to wait."""
    async with client.app[keys.UOW]() as uow:
        await uow.projects.update(pid, datetime.now(UTC), description="held")
        holding.set()
        await release.wait()


async def _probe(client: Client, headers: dict[str, str]) -> None:
    """Reads during the storm, on their own HTTP connections (the storm fills the client's pool)."""
    async with aiohttp.ClientSession() as session:
        for _ in range(PROBES):
            async with asyncio.timeout(PROMPT):
                async with session.get(client.make_url("/api/v1/me"), headers=headers) as me:
                    assert me.status == 200
                async with session.get(client.make_url("/readyz")) as ready:
                    assert ready.status == 200, await ready.text()


class Storm:
    """Every write at once, behind one slow writer, with reads probing meanwhile; records what was acknowledged."""

    def __init__(self, client: Client, owner: dict[str, Any], manager: dict[str, Any], members: list[int]) -> None:
        self.client, self.owner, self.manager, self.members = client, owner, manager, members
        self.failures: list[str] = []
        self.sent: dict[int, list[dict[str, Any]]] = {}  # acknowledged chat messages by thread

    async def send(self, t: Target, n: int, kind: str, method: str, path: str, body: Any, status: int) -> None:
        # Owner and manager alternate; changing roles is the owner's.
        who = self.owner if kind == "role" or n % 2 == 0 else self.manager
        async with self.client.request(method, path, json=body, headers=auth(who)) as resp:
            answer = await _json(resp)
            if resp.status != status:
                self.failures.append(f"{method} {path}: {resp.status} {answer}")
                return
        t.expected.append(_expected(t, kind, path, body or {}, answer))

    async def say(self, chat: ChatClient, fid: int, n: int) -> None:
        # Chat sends go through the group commit, which queues for the same write slots.
        ack = await chat.send(fid, f"msg {n}")
        if ack.get("ok") is not True:
            self.failures.append(f"chat send: {ack}")
            return
        self.sent.setdefault(fid, []).append(ack["data"]["message"])

    async def run(self, targets: list[Target]) -> None:
        chat = await ChatClient().connect(self.client, self.manager["access_token"])
        try:
            for t in targets:
                assert (await chat.join(t.fid))["ok"] is True
            holding, release = asyncio.Event(), asyncio.Event()
            slow = asyncio.create_task(_slow_write(self.client, targets[0].pid, holding, release))
            await holding.wait()
            storm = asyncio.gather(
                *(self.send(t, n, *w) for t in targets for n, w in enumerate(_writes(t, self.members))),
                *(self.say(chat, t.fid, n) for t in targets for n in range(WRITERS)),
            )
            try:
                await _probe(self.client, auth(self.owner))  # while the slow writer holds its locks
            except BaseException:
                storm.cancel()
                raise
            finally:
                release.set()
            async with asyncio.timeout(STORM):
                await asyncio.gather(storm, slow)
        finally:
            await chat.close()


async def _check(client: Client, headers: dict[str, str], t: Target, members: list[int], sent: list[Any]) -> None:
    """What one project must hold after the storm."""
    log = await _log(client, headers, t)
    ids = [e["id"] for e in log]
    assert ids == sorted(set(ids))  # strictly increasing
    assert Counter(_key(e) for e in log) == Counter(t.expected)  # each write's event once, nothing else
    # Event ids follow commit order: the last rename and retitle in the log are what stayed.
    project = await (await client.get(f"/api/v1/projects/{t.pid}", headers=headers)).json()
    assert project["name"] == [_key(e) for e in log if e["type"] == "project.updated"][-1][1]
    thread = await (await client.get(f"/api/v1/feedback/{t.fid}", headers=headers)).json()
    assert thread["title"] == [_key(e) for e in log if e["type"] == "feedback.updated"][-1][1]
    written = {STAGE_ORDER[i % len(STAGE_ORDER)].value for i in range(WRITERS)}
    assert {s["stage"] for s in project["stages"] if s["status"] == "in_progress"} == written
    roles = {m["user_id"]: m["role"] for m in project["members"] if m["user_id"] in members}
    assert roles == dict.fromkeys(members, "manager")
    # Each acknowledged create stored once; each delete gone.
    memos = await _ids(client, headers, f"/api/v1/projects/{t.pid}/memos?limit={PAGE}")
    assert sorted(memos) == sorted([t.memo, *t.created["memo+"]])
    threads = await _ids(client, headers, f"/api/v1/projects/{t.pid}/feedback?limit={PAGE}")
    assert sorted(threads) == sorted([t.fid, *t.created["thread+"]])
    comments = await _ids(client, headers, f"/api/v1/feedback/{t.fid}/comments?limit={PAGE}")
    assert sorted(comments) == sorted(t.created["comment+"])
    invitations = await _ids(client, headers, f"/api/v1/projects/{t.pid}/invitations")
    assert sorted(invitations) == sorted(t.created["invite+"])
    # Each acknowledged chat message stored once, the room's seq gap-free.
    history = await (await client.get(f"/api/v1/feedback/{t.fid}/messages?limit={PAGE}", headers=headers)).json()
    assert [m["seq"] for m in history["items"]] == list(range(1, WRITERS + 1))
    assert sorted(m["id"] for m in history["items"]) == sorted(m["id"] for m in sent)


async def test_parallel_writers_on_projects_sharing_members(app: Client, mailbox: Mailbox) -> None:
    owner, manager = await signup(app, mailbox), await signup(app, mailbox)
    members = await _add_users(app, WRITERS)
    targets = [await _target(app, owner, [manager["user"]["id"]], members) for _ in range(2)]
    storm = Storm(app, owner, manager, members)
    await storm.run(targets)
    assert storm.failures == []  # no 5xx, no refusal: every write acknowledged
    for t in targets:
        await _check(app, auth(owner), t, members, storm.sent.get(t.fid, []))
