"""/me and /me/memos."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import PASSWORD, Mailbox, auth, signup


async def test_update_nickname_avatar_and_password(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    h = auth(pair)
    resp = await client.patch(
        "/api/v1/me", json={"nickname": "  Bo  ", "avatar_url": "https://cdn.example/a.png"}, headers=h
    )
    assert resp.status == 200
    me = await resp.json()
    assert me["nickname"] == "Bo"
    assert me["avatar_url"] == "https://cdn.example/a.png"

    resp = await client.patch("/api/v1/me", json={"new_password": "another long password"}, headers=h)
    assert resp.status == 422
    assert "current_password" in (await resp.json())["errors"]
    resp = await client.patch(
        "/api/v1/me", json={"current_password": "wrong password", "new_password": "another long password"}, headers=h
    )
    assert resp.status == 422
    resp = await client.patch(
        "/api/v1/me", json={"current_password": PASSWORD, "new_password": "another long password"}, headers=h
    )
    assert resp.status == 200
    email = pair["user"]["email"]
    assert (await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).status == 401
    login = await client.post("/api/v1/auth/login", json={"email": email, "password": "another long password"})
    assert login.status == 200


async def test_mass_assignment_is_refused(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    resp = await client.patch("/api/v1/me", json={"email": "x@evil.example", "id": 1}, headers=auth(pair))
    assert resp.status == 422
    body = await resp.json()
    assert set(body["errors"]) == {"email", "id"}
    me = await (await client.get("/api/v1/me", headers=auth(pair))).json()
    assert me["email"] == pair["user"]["email"]


async def test_delete_me_needs_reauthentication(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    h = auth(pair)
    resp = await client.delete("/api/v1/me", json={"password": "not my password"}, headers=h)
    assert resp.status == 401
    assert (await resp.json())["code"] == "invalid_credentials"
    assert (await client.get("/api/v1/me", headers=h)).status == 200
    resp = await client.delete("/api/v1/me", json={"password": PASSWORD}, headers=h)
    assert resp.status == 204
    resp = await client.get("/api/v1/me", headers=h)
    assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"email": pair["user"]["email"], "password": PASSWORD})
    assert resp.status == 401


async def test_delete_me_accepts_a_fresh_login(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    resp = await client.delete("/api/v1/me", headers=auth(pair))  # just logged in: no password needed
    assert resp.status == 204


async def test_memos_crud_range_and_paging(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    h = auth(pair)
    days = ["2026-01-05", "2026-01-10", "2026-01-10", "2026-02-01", "2026-03-01"]
    ids = []
    for i, day in enumerate(days):
        resp = await client.post("/api/v1/me/memos", json={"date": day, "memo": f"memo {i}"}, headers=h)
        assert resp.status == 201
        ids.append((await resp.json())["id"])

    resp = await client.get("/api/v1/me/memos?from=2026-01-06&to=2026-02-01&limit=2", headers=h)
    page = await resp.json()
    assert [m["memo"] for m in page["items"]] == ["memo 1", "memo 2"]
    assert page["next_cursor"]
    resp = await client.get(
        f"/api/v1/me/memos?from=2026-01-06&to=2026-02-01&limit=2&cursor={page['next_cursor']}", headers=h
    )
    page2 = await resp.json()
    assert [m["memo"] for m in page2["items"]] == ["memo 3"]
    assert page2["next_cursor"] is None

    resp = await client.get("/api/v1/me/memos?from=2026-02-01&to=2026-01-01", headers=h)
    assert resp.status == 422
    resp = await client.get("/api/v1/me/memos?cursor=garbage!", headers=h)
    assert resp.status == 422

    resp = await client.patch(f"/api/v1/me/memos/{ids[0]}", json={"memo": "edited", "date": "2026-01-06"}, headers=h)
    assert resp.status == 200
    assert (await resp.json())["date"] == "2026-01-06"

    other = await signup(client, mailbox)
    for method in ("patch", "delete"):
        resp = await getattr(client, method)(f"/api/v1/me/memos/{ids[1]}", json={"memo": "x"}, headers=auth(other))
        assert resp.status == 404
        assert (await resp.json())["code"] == "not_found"
    assert (await (await client.get("/api/v1/me/memos", headers=auth(other))).json())["items"] == []

    assert (await client.delete(f"/api/v1/me/memos/{ids[1]}", headers=h)).status == 204
    remaining = (await (await client.get("/api/v1/me/memos?limit=100", headers=h)).json())["items"]
    assert ids[1] not in [m["id"] for m in remaining]
    assert len(remaining) == 4


async def test_me_requires_authentication(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/me")
    assert resp.status == 401
    assert (await resp.json())["code"] == "token_missing"
    resp = await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert (await resp.json())["code"] == "token_invalid"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


async def test_me_has_an_etag(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    first = await client.get("/api/v1/me", headers=auth(pair))
    tag = first.headers["ETag"]
    same = await client.get("/api/v1/me", headers={**auth(pair), "If-None-Match": tag})
    assert same.status == 304
    assert same.headers["ETag"] == tag
    await client.patch("/api/v1/me", json={"nickname": "Changed"}, headers=auth(pair))
    changed = await client.get("/api/v1/me", headers={**auth(pair), "If-None-Match": tag})
    assert changed.status == 200
    assert changed.headers["ETag"] != tag
