"""The data the REST fuzzer works on: a seeded world of real ids, and fresh victims for the calls that destroy.

The fuzzing user owns a project with a member, its feedback thread, a comment, a personal and a project memo,
a pending invitation. The calls that would destroy those (delete, leave, transfer, logout, delete the account,
revoke a session, answer an invitation) each get their own victims, made here before the run, one per case.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from roughcut import keys
from roughcut.storage import tables as t
from tests.helpers import PASSWORD, Mailbox, auth, create_project, join, signup, unique_email

API = "/api/v1"
HOOK_URL = "http://127.0.0.1:9/revalidate"  # the discard port: nothing listens
LINK = re.compile(r"/invitations/([A-Za-z0-9_-]{20,})")
Client = TestClient[Any, Any]


async def _json(resp: Any, status: int) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


def mailed_tokens(mailbox: Mailbox, address: str) -> list[str]:
    """The invitation tokens of every mail to `address`, oldest first."""
    found = []
    for mail in mailbox.to(address):
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        match = LINK.search(body.decode())
        if match:
            found.append(match.group(1))
    return found


@dataclass
class Pool:
    """Victims of one destructive operation, handed out one per case; the last one is reused once they run out."""

    items: list[Any] = field(default_factory=list)
    used: int = 0

    def take(self) -> Any:
        assert self.items, "an empty pool"
        item = self.items[min(self.used, len(self.items) - 1)]
        self.used += 1
        return item


@dataclass
class World:
    """Real ids and tokens of the fuzzing user (`owner`), and the pools of victims."""

    owner: dict[str, Any]
    member: dict[str, Any]
    project_id: int
    feedback_id: int
    comment_id: int
    memo_id: int
    project_memo_id: int
    invitation_id: int
    invitation_token: str
    learning_link_id: int
    webhook_id: int  # an endpoint that refuses connections (the fuzz runs no job worker anyway)
    upload_id: int  # a pending multipart upload of the owner's
    version_upload_id: int  # a completed feedback_version upload of the owner's
    pools: dict[str, Pool] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.owner)

    @property
    def member_id(self) -> int:
        member_id: int = self.member["user"]["id"]
        return member_id


async def _many(count: int, make: Callable[[], Awaitable[Any]]) -> list[Any]:
    return [await make() for _ in range(count)]


async def seed(client: Client, mailbox: Mailbox) -> World:
    """The world every non-destructive operation works on."""
    owner, member = await signup(client, mailbox), await signup(client, mailbox)
    h = auth(owner)
    project = await create_project(client, owner, stages=[{"stage": "filming", "status": "in_progress"}])
    pid = project["id"]
    await join(client, pid, member["user"]["id"])
    threads = await _json(await client.get(f"{API}/projects/{pid}/feedback", headers=h), 200)
    fid = threads["items"][0]["id"]
    comment = await _json(
        await client.post(
            f"{API}/feedback/{fid}/comments", json={"text": "cut here", "at_ms": 1000, "until_ms": 2000}, headers=h
        ),
        201,
    )
    memo = await _json(
        await client.post(f"{API}/me/memos", json={"date": "2026-05-01", "memo": "call"}, headers=h), 201
    )
    project_memo = await _json(
        await client.post(f"{API}/projects/{pid}/memos", json={"date": "2026-05-02", "memo": "shoot"}, headers=h), 201
    )
    invitee = unique_email("invitee")
    invitation = await _json(
        await client.post(f"{API}/projects/{pid}/invitations", json={"email": invitee}, headers=h), 201
    )
    (token,) = mailed_tokens(mailbox, invitee)
    await make_admin(client, owner["user"]["id"])  # the fuzzing user reaches the /admin operations too
    link = await _json(
        await client.post(f"{API}/admin/learning-links", json={"url": "https://e.example/1"}, headers=h), 201
    )
    hook = await _json(await client.post(f"{API}/admin/webhooks", json={"url": HOOK_URL}, headers=h), 201)
    return World(
        owner=owner,
        member=member,
        project_id=pid,
        feedback_id=fid,
        comment_id=comment["id"],
        memo_id=memo["id"],
        project_memo_id=project_memo["id"],
        invitation_id=invitation["id"],
        invitation_token=token,
        learning_link_id=link["id"],
        webhook_id=hook["id"],
        upload_id=await _pending_upload(client, world_headers=h, project_id=pid, size=100 * 1024 * 1024),
        version_upload_id=await _completed_video(client, h, pid),
    )


async def _pending_upload(client: Client, *, world_headers: dict[str, str], project_id: int, size: int) -> int:
    """POST /uploads: a multipart upload when `size` is past the single-PUT limit."""
    body = {"project_id": project_id, "purpose": "project_file", "filename": "f.png", "size": size}
    body["content_type"] = "image/png"
    ticket = await _json(await client.post(f"{API}/uploads", json=body, headers=world_headers), 201)
    upload_id: int = ticket["id"]
    return upload_id


async def _completed_video(client: Client, headers: dict[str, str], project_id: int) -> int:
    """A feedback_version upload whose bytes went to the app's own signed URL, completed."""
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(64)
    body = {"project_id": project_id, "purpose": "feedback_version", "filename": "v.mp4", "size": len(video)}
    body["content_type"] = "video/mp4"
    ticket = await _json(await client.post(f"{API}/uploads", json=body, headers=headers), 201)
    url = ticket["url"].replace(client.app[keys.SETTINGS].public_url, str(client.make_url("")).rstrip("/"), 1)
    async with aiohttp.ClientSession() as http, http.put(url, data=video) as resp:
        assert resp.status == 200, await resp.text()
    await _json(await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=headers), 200)
    upload_id: int = ticket["id"]
    return upload_id


async def make_admin(client: Client, user_id: int) -> None:
    """Set the admin flag directly (`roughcut admin grant` is tested on its own)."""
    from datetime import UTC, datetime

    from roughcut import keys

    async with client.app[keys.UOW]() as uow:
        await uow.users.update(user_id, datetime.now(UTC), is_admin=True)
        await uow.commit()


async def _login(client: Client, email: str) -> dict[str, Any]:
    body: dict[str, Any] = await _json(
        await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD}), 200
    )
    return body


async def make_victims(client: Client, mailbox: Mailbox, world: World, counts: dict[str, int]) -> None:
    """`counts[operationId]` victims for each destructive operation (see VICTIMS)."""
    for op, count in counts.items():
        world.pools[op] = Pool(await VICTIMS[op](client, mailbox, world, count))


async def _projects(client: Client, world: World, count: int, *, with_member: bool) -> list[int]:
    ids = []
    for n in range(count):
        pid = (await create_project(client, world.owner, name=f"victim {n}"))["id"]
        if with_member:
            await join(client, pid, world.member_id)
        ids.append(pid)
    return ids


async def _post_ids(client: Client, world: World, path: str, body: dict[str, Any], count: int) -> list[int]:
    return [(await _json(await client.post(path, json=body, headers=world.headers), 201))["id"] for _ in range(count)]


async def _deleted_projects(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _projects(client, world, count, with_member=False)


async def _left_projects(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _projects(client, world, count, with_member=True)


async def _threads(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _post_ids(client, world, f"{API}/projects/{world.project_id}/feedback", {"title": "doomed"}, count)


async def _comments(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _post_ids(client, world, f"{API}/feedback/{world.feedback_id}/comments", {"text": "doomed"}, count)


async def _memos(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _post_ids(client, world, f"{API}/me/memos", {"date": "2026-06-01", "memo": "doomed"}, count)


async def _project_memos(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    body = {"date": "2026-06-02", "memo": "doomed"}
    return await _post_ids(client, world, f"{API}/projects/{world.project_id}/memos", body, count)


async def _learning_links(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _post_ids(client, world, f"{API}/admin/learning-links", {"url": "https://e.example/doomed"}, count)


async def _webhooks(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return await _post_ids(client, world, f"{API}/admin/webhooks", {"url": HOOK_URL}, count)


async def _uploads(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    return [
        await _pending_upload(client, world_headers=world.headers, project_id=world.project_id, size=10)
        for _ in range(count)
    ]


async def _files(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """File rows of the world's project (their objects never existed: deleting a missing object is fine)."""
    row = {"project_id": world.project_id, "uploader_id": world.owner["user"]["id"], "filename": "doomed.png"}
    row.update(content_type="image/png", size=1, created_at=datetime.now(UTC))
    ids = []
    async with client.app[keys.ENGINE].begin() as conn:
        for n in range(count):
            q = insert(t.project_files).values(**row, key=f"doomed/{n}").returning(t.project_files.c.id)
            ids.append((await conn.execute(q)).scalar_one())
    return ids


async def _sample_files(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """Sample file rows (their objects never existed: deleting a missing object is fine)."""
    row = {"filename": "doomed.pdf", "content_type": "application/pdf", "size": 1, "created_at": datetime.now(UTC)}
    async with client.app[keys.ENGINE].begin() as conn:
        q = insert(t.sample_files).returning(t.sample_files.c.id)
        return [(await conn.execute(q.values(**row, key=f"doomed-sample/{n}"))).scalar_one() for n in range(count)]


async def _invitations(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    path = f"{API}/projects/{world.project_id}/invitations"
    return [
        (await _json(await client.post(path, json={"email": unique_email("doomed")}, headers=world.headers), 201))["id"]
        for _ in range(count)
    ]


async def _tokens_for_owner(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """Invitations to the fuzzing user's address, from the member's projects (one project each: one pending)."""
    email = world.owner["user"]["email"]
    before = len(mailed_tokens(mailbox, email))
    for n in range(count):
        pid = (await create_project(client, world.member, name=f"inviting {n}"))["id"]
        resp = await client.post(f"{API}/projects/{pid}/invitations", json={"email": email}, headers=auth(world.member))
        await _json(resp, 201)
    return mailed_tokens(mailbox, email)[before:]


async def _session_ids(client: Client, world: World) -> set[int]:
    listed = await _json(await client.get(f"{API}/auth/sessions", headers=world.headers), 200)
    return {s["id"] for s in listed["items"]}


async def _sessions(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """Other sessions of the fuzzing user, by id: new ones, so no other pool's session is revoked."""
    before = await _session_ids(client, world)
    for _ in range(count):
        await _login(client, world.owner["user"]["email"])
    return sorted(await _session_ids(client, world) - before)


async def _session_tokens(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """Access tokens of other sessions of the fuzzing user (logout ends the session it is sent with)."""
    return [auth(await _login(client, world.owner["user"]["email"])) for _ in range(count)]


async def _accounts(client: Client, mailbox: Mailbox, world: World, count: int) -> list[Any]:
    """Access tokens of accounts made to be deleted."""
    return [auth(await signup(client, mailbox)) for _ in range(count)]


VICTIMS: dict[str, Callable[[Client, Mailbox, World, int], Awaitable[list[Any]]]] = {
    "deleteProject": _deleted_projects,
    "removeMember": _left_projects,
    "transferOwnership": _left_projects,
    "deleteFeedback": _threads,
    "deleteComment": _comments,
    "deleteMyMemo": _memos,
    "deleteProjectMemo": _project_memos,
    "revokeInvitation": _invitations,
    "adminDeleteLearningLink": _learning_links,
    "adminDeleteWebhook": _webhooks,
    "acceptInvitation": _tokens_for_owner,
    "declineInvitation": _tokens_for_owner,
    "revokeSession": _sessions,
    "abortUpload": _uploads,
    "deleteProjectFile": _files,
    "adminDeleteSampleFile": _sample_files,
    "logout": _session_tokens,
    "deleteMe": _accounts,
}
