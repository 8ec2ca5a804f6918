"""Members, invitations and sessions page like every list: `limit`, an opaque `cursor`, `{items, next_cursor}`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import PASSWORD, Mailbox, auth, create_project, join, signup, unique_email

API = "/api/v1"
Client = TestClient[Any, Any]


async def _get(client: Client, url: str, who: dict[str, Any]) -> dict[str, Any]:
    resp = await client.get(url, headers=auth(who))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    assert set(body) == {"items", "next_cursor"}
    return body


async def _walk(
    client: Client, url: str, who: dict[str, Any], key: str, between: Callable[[], Awaitable[None]] | None = None
) -> list[Any]:
    """Every item of a list, two a page; `between` runs after the first page (a change while paging)."""
    seen: list[Any] = []
    page = await _get(client, f"{url}?limit=2", who)
    while True:
        assert len(page["items"]) <= 2
        seen += [item[key] for item in page["items"]]
        if page["next_cursor"] is None:
            return seen
        if between is not None:
            await between()
            between = None
        page = await _get(client, f"{url}?limit=2&cursor={page['next_cursor']}", who)


async def _refused(client: Client, url: str, who: dict[str, Any]) -> None:
    resp = await client.get(url, headers=auth(who))
    body = await resp.json()
    assert (resp.status, body["code"]) == (422, "validation_failed"), url
    assert list(body["errors"]) in (["cursor"], ["limit"]), url


async def test_members_page_in_join_order(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    others = [await signup(client, mailbox) for _ in range(4)]
    for other in others:
        await join(client, pid, other["user"]["id"])
    url = f"{API}/projects/{pid}/members"
    expected = [owner["user"]["id"], *(o["user"]["id"] for o in others)]
    assert [m["user_id"] for m in (await _get(client, url, owner))["items"]] == expected  # one page by default

    late = await signup(client, mailbox)
    seen = await _walk(client, url, others[0], "user_id", lambda: join(client, pid, late["user"]["id"]))
    assert seen == [*expected, late["user"]["id"]]  # a member who joins while paging comes last, once

    for bad in ("limit=0", "limit=101", "cursor=garbage!"):
        await _refused(client, f"{url}?{bad}", owner)
    members_cursor = (await _get(client, f"{url}?limit=1", owner))["next_cursor"]
    for elsewhere in (f"{API}/auth/sessions", f"{API}/projects/{pid}/invitations"):  # another list's cursor
        await _refused(client, f"{elsewhere}?cursor={members_cursor}", owner)


async def test_invitations_page_and_a_resend_keeps_its_place(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    url = f"{API}/projects/{pid}/invitations"
    made = []
    for _ in range(5):
        resp = await client.post(url, json={"email": unique_email("guest")}, headers=auth(owner))
        assert resp.status == 201, await resp.text()
        made.append((await resp.json())["id"])

    async def resend_first() -> None:
        # A resend renews the invitation's created_at; the list must not show it twice or lose another.
        assert (await client.post(f"{url}/{made[0]}/resend", headers=auth(owner))).status == 200

    assert await _walk(client, url, owner, "id", resend_first) == made
    members = await _get(client, f"{API}/projects/{pid}/members?limit=1", owner)
    assert members["next_cursor"] is None  # the owner alone
    for bad in ("limit=0", "limit=101", "cursor=garbage!"):
        await _refused(client, f"{url}?{bad}", owner)


async def test_sessions_page_newest_first_while_one_is_used(client: Client, mailbox: Mailbox) -> None:
    first = await signup(client, mailbox)
    login = {"email": first["user"]["email"], "password": PASSWORD}
    pairs = [first]
    for _ in range(4):
        resp = await client.post(f"{API}/auth/login", json=login)
        assert resp.status == 200, await resp.text()
        pairs.append(await resp.json())
    whole = await _get(client, f"{API}/auth/sessions", first)
    ids = [s["id"] for s in whole["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and whole["next_cursor"] is None
    assert [s["id"] for s in whole["items"] if s["current"]] == [ids[-1]]  # the signup's session is the oldest

    async def use_oldest() -> None:
        # A refresh moves the session's last_used_at; paging must neither repeat nor skip it.
        resp = await client.post(f"{API}/auth/refresh", json={"refresh_token": pairs[0]["refresh_token"]})
        assert resp.status == 200, await resp.text()

    assert await _walk(client, f"{API}/auth/sessions", pairs[1], "id", use_oldest) == ids
    sessions_cursor = (await _get(client, f"{API}/auth/sessions?limit=2", pairs[1]))["next_cursor"]
    await _refused(client, f"{API}/projects?cursor={sessions_cursor}", pairs[1])  # another list's cursor
    for bad in ("limit=0", "limit=101", "cursor=garbage!"):
        await _refused(client, f"{API}/auth/sessions?{bad}", pairs[1])
