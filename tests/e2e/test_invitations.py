"""Invitations end to end: mailed single-use links, preview, accept, decline, resend, revoke, expiry, rules."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import update

from roughcut import keys
from roughcut.storage.tables import invitations as invitations_table
from tests.helpers import Mailbox, auth, create_project, join, signup, unique_email

API = "/api/v1"
LINK = re.compile(r"/invitations/([A-Za-z0-9_-]{20,})")
Client = TestClient[Any, Any]


def mailed_token(mailbox: Mailbox, address: str) -> str:
    """The token in the link of the newest mail to `address`."""
    mails = mailbox.to(address)
    assert mails, f"no mail to {address}"
    body = mails[-1].get_payload(decode=True)
    assert isinstance(body, bytes)
    found = LINK.search(body.decode())
    assert found is not None
    return found.group(1)


async def invite(client: Client, owner: dict[str, Any], project_id: int, email: str, **extra: Any) -> dict[str, Any]:
    """Invite `email` to the project; returns the 201 body."""
    resp = await client.post(
        f"{API}/projects/{project_id}/invitations", json={"email": email, **extra}, headers=auth(owner)
    )
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def expect(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Check a response's status and, for problems, its `code`."""
    assert resp.status == status, await resp.text()
    if resp.status == 204:
        return {}
    body: dict[str, Any] = await resp.json()
    if code is not None:
        assert body["code"] == code
    return body


async def accept(client: Client, who: dict[str, Any], token: str) -> Any:
    return await client.post(f"{API}/invitations/{token}/accept", headers=auth(who))


async def decline(client: Client, who: dict[str, Any], token: str) -> Any:
    return await client.post(f"{API}/invitations/{token}/decline", headers=auth(who))


async def members(client: Client, who: dict[str, Any], project_id: int) -> dict[int, str]:
    resp = await client.get(f"{API}/projects/{project_id}/members", headers=auth(who))
    body = await expect(resp, 200)
    return {m["user_id"]: m["role"] for m in body["items"]}


async def expire(client: Client, invitation_id: int) -> None:
    """Move an invitation's expiry into the past, straight in the database."""
    past = datetime.now(UTC) - timedelta(minutes=1)
    async with client.app[keys.ENGINE].begin() as conn:
        q = update(invitations_table).where(invitations_table.c.id == invitation_id).values(expires_at=past)
        await conn.execute(q)


async def test_invite_preview_and_accept(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner, name="Autumn teaser")
    email = unique_email("invitee")
    invitee = await signup(client, mailbox, email)
    mails_before = len(mailbox.to(email))

    created = await invite(client, owner, project["id"], email.upper(), role="manager", message="Welcome aboard")
    assert created["email"] == email
    assert created["role"] == "manager"
    assert created["status"] == "pending"
    assert created["inviter"]["id"] == owner["user"]["id"]
    assert len(mailbox.to(email)) == mails_before + 1
    mail = mailbox.to(email)[-1]
    text = mail.get_payload(decode=True)
    assert isinstance(text, bytes)
    assert "Autumn teaser" in text.decode()
    assert "Welcome aboard" in text.decode()
    token = mailed_token(mailbox, email)

    listed = await expect(await client.get(f"{API}/projects/{project['id']}/invitations", headers=auth(owner)), 200)
    assert [i["id"] for i in listed["items"]] == [created["id"]]

    preview = await expect(await client.get(f"{API}/invitations/{token}"), 200)
    assert preview["project_name"] == "Autumn teaser"
    assert preview["email"] == email
    assert preview["status"] == "pending"
    assert preview["inviter"] == {"id": owner["user"]["id"], "nickname": owner["user"]["nickname"]}
    assert preview["expires_at"].endswith("Z")
    await expect(await client.get(f"{API}/invitations/not-a-real-token-at-all"), 404, "not_found")

    stranger = await signup(client, mailbox)
    await expect(await accept(client, stranger, token), 403, "permission_denied")
    await expect(await decline(client, stranger, token), 403, "permission_denied")
    await expect(await client.post(f"{API}/invitations/{token}/accept"), 401)

    body = await expect(await accept(client, invitee, token), 200)
    assert body == {"project_id": project["id"]}
    assert (await members(client, owner, project["id"]))[invitee["user"]["id"]] == "manager"

    await expect(await accept(client, invitee, token), 409, "conflict")
    await expect(await decline(client, invitee, token), 409, "conflict")
    assert (await expect(await client.get(f"{API}/invitations/{token}"), 200))["status"] == "accepted"
    listed = await expect(await client.get(f"{API}/projects/{project['id']}/invitations", headers=auth(owner)), 200)
    assert listed["items"] == []

    events = await expect(await client.get(f"{API}/projects/{project['id']}/events", headers=auth(owner)), 200)
    joined = [e for e in events["items"] if e["type"] == "member.joined"]
    assert joined[-1]["data"] == {"user_id": invitee["user"]["id"], "nickname": "Tester", "role": "manager"}


async def test_decline(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    email = unique_email("decliner")
    invitee = await signup(client, mailbox, email)
    await invite(client, owner, project["id"], email)
    token = mailed_token(mailbox, email)

    await expect(await decline(client, invitee, token), 204)
    await expect(await decline(client, invitee, token), 409, "conflict")
    await expect(await accept(client, invitee, token), 409, "conflict")
    assert (await expect(await client.get(f"{API}/invitations/{token}"), 200))["status"] == "declined"
    assert invitee["user"]["id"] not in await members(client, owner, project["id"])


async def test_resend_replaces_the_token(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    email = unique_email("resend")
    invitee = await signup(client, mailbox, email)
    created = await invite(client, owner, project["id"], email)
    old = mailed_token(mailbox, email)

    url = f"{API}/projects/{project['id']}/invitations/{created['id']}/resend"
    resent = await expect(await client.post(url, headers=auth(owner)), 200)
    assert resent["id"] == created["id"]
    assert resent["status"] == "pending"
    new = mailed_token(mailbox, email)
    assert new != old

    await expect(await accept(client, invitee, old), 404, "not_found")
    await expect(await client.get(f"{API}/invitations/{old}"), 404, "not_found")
    await expect(await accept(client, invitee, new), 200)
    await expect(await client.post(url, headers=auth(owner)), 409, "conflict")


async def test_revoke_makes_the_link_unusable(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    other = await create_project(client, owner)
    email = unique_email("revoked")
    invitee = await signup(client, mailbox, email)
    created = await invite(client, owner, project["id"], email)
    token = mailed_token(mailbox, email)

    elsewhere = f"{API}/projects/{other['id']}/invitations/{created['id']}"
    await expect(await client.delete(elsewhere, headers=auth(owner)), 404, "not_found")
    url = f"{API}/projects/{project['id']}/invitations/{created['id']}"
    await expect(await client.delete(url, headers=auth(owner)), 204)
    await expect(await client.delete(url, headers=auth(owner)), 409, "conflict")
    await expect(await client.post(f"{url}/resend", headers=auth(owner)), 409, "conflict")

    await expect(await accept(client, invitee, token), 409, "conflict")
    assert (await expect(await client.get(f"{API}/invitations/{token}"), 200))["status"] == "revoked"
    assert invitee["user"]["id"] not in await members(client, owner, project["id"])


async def test_expiry_is_enforced(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    email = unique_email("late")
    invitee = await signup(client, mailbox, email)
    created = await invite(client, owner, project["id"], email)
    token = mailed_token(mailbox, email)
    await expire(client, created["id"])

    assert (await expect(await client.get(f"{API}/invitations/{token}"), 200))["status"] == "expired"
    await expect(await accept(client, invitee, token), 409, "conflict")
    await expect(await decline(client, invitee, token), 409, "conflict")
    listed = await expect(await client.get(f"{API}/projects/{project['id']}/invitations", headers=auth(owner)), 200)
    assert listed["items"] == []

    # A lapsed invitation may be sent again: new link, new expiry.
    url = f"{API}/projects/{project['id']}/invitations/{created['id']}/resend"
    await expect(await client.post(url, headers=auth(owner)), 200)
    fresh = mailed_token(mailbox, email)
    assert (await expect(await client.get(f"{API}/invitations/{fresh}"), 200))["status"] == "pending"
    await expire(client, created["id"])

    # A lapsed one does not block a new invitation, whose link then works.
    again = await invite(client, owner, project["id"], email)
    assert again["id"] != created["id"]
    await expect(await accept(client, invitee, fresh), 409, "conflict")
    await expect(await accept(client, invitee, mailed_token(mailbox, email)), 200)


async def test_conflicts_and_validation(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    url = f"{API}/projects/{project['id']}/invitations"
    member_email = unique_email("member")
    member = await signup(client, mailbox, member_email)
    await join(client, project["id"], member["user"]["id"])
    pending = unique_email("pending")
    await invite(client, owner, project["id"], pending)

    for email in (owner["user"]["email"], member_email, pending, pending.upper()):
        await expect(await client.post(url, json={"email": email}, headers=auth(owner)), 409, "conflict")
    for body in (
        {"email": unique_email(), "role": "owner"},
        {"email": "not an address"},
        {"email": unique_email(), "message": "x" * 2001},
        {},
    ):
        await expect(await client.post(url, json=body, headers=auth(owner)), 422, "validation_failed")


async def test_who_may_manage_invitations(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    url = f"{API}/projects/{project['id']}/invitations"
    member = await signup(client, mailbox)
    await join(client, project["id"], member["user"]["id"])
    manager = await signup(client, mailbox)
    await join(client, project["id"], manager["user"]["id"], "manager")
    outsider = await signup(client, mailbox)
    created = await invite(client, owner, project["id"], unique_email())

    body = {"email": unique_email()}
    await expect(await client.post(url, json=body, headers=auth(member)), 403, "permission_denied")
    await expect(await client.get(url, headers=auth(member)), 403, "permission_denied")
    await expect(await client.delete(f"{url}/{created['id']}", headers=auth(member)), 403, "permission_denied")
    await expect(await client.post(url, json=body, headers=auth(outsider)), 404, "not_found")
    await expect(await client.get(url, headers=auth(outsider)), 404, "not_found")
    await expect(await client.post(url, json=body), 401)
    by_manager = await invite(client, manager, project["id"], unique_email())
    assert by_manager["inviter"]["id"] == manager["user"]["id"]


async def test_created_event_leaves_out_the_address(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    member = await signup(client, mailbox)
    await join(client, project["id"], member["user"]["id"])
    email = unique_email("private")
    created = await invite(client, owner, project["id"], email)

    resp = await client.get(f"{API}/projects/{project['id']}/events", headers=auth(member))
    events = await expect(resp, 200)
    made = [e for e in events["items"] if e["type"] == "invitation.created"]
    assert [e["data"] for e in made] == [{"invitation_id": created["id"], "role": "member"}]
    assert email not in await resp.text()
