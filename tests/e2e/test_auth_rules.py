"""E-mail code limits, legacy passwords, rate limits, cookie mode with CSRF, CORS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from roughcut import keys
from roughcut.config import RateLimit
from roughcut.domain.account_model import LoginMethod, NewUser
from roughcut.security.passwords import django_pbkdf2
from roughcut.storage import tables as t
from tests.helpers import PASSWORD, Mailbox, auth, signup, unique_email

CODES = "/api/v1/auth/email-codes"
VERIFY = "/api/v1/auth/email-codes/verify"


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_code_dies_after_five_wrong_tries(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    email = unique_email()
    await client.post(CODES, json={"email": email, "purpose": "signup"})
    code = mailbox.last_code(email)
    for left in range(4, -1, -1):
        resp = await client.post(VERIFY, json={"email": email, "purpose": "signup", "code": _wrong(code)})
        body = await resp.json()
        assert resp.status == 400
        assert body["code"] == "code_invalid"
        assert body["details"]["attempts_left"] == left
    resp = await client.post(VERIFY, json={"email": email, "purpose": "signup", "code": code})
    assert resp.status == 400  # the right code no longer helps
    assert (await resp.json())["code"] == "code_invalid"


async def test_code_expires_after_ten_minutes(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    email = unique_email()
    await client.post(CODES, json={"email": email, "purpose": "signup"})
    code = mailbox.last_code(email)
    async with client.app[keys.ENGINE].begin() as conn:
        row = (await conn.execute(select(t.email_codes).where(t.email_codes.c.email == email))).mappings().one()
        assert row["expires_at"] - row["created_at"] == timedelta(minutes=10)
        await conn.execute(
            update(t.email_codes)
            .where(t.email_codes.c.email == email)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    resp = await client.post(VERIFY, json={"email": email, "purpose": "signup", "code": code})
    assert (await resp.json())["code"] == "code_invalid"


async def test_codes_are_stored_hashed(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    email = unique_email()
    await client.post(CODES, json={"email": email, "purpose": "signup"})
    code = mailbox.last_code(email)
    async with client.app[keys.ENGINE].connect() as conn:
        stored = (await conn.execute(select(t.email_codes.c.code_hash).where(t.email_codes.c.email == email))).scalar()
    assert stored is not None
    assert code not in stored
    assert len(stored) == 64


async def test_at_most_three_sends_per_ten_minutes(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    email = unique_email()
    for _ in range(3):
        assert (await client.post(CODES, json={"email": email, "purpose": "signup"})).status == 202
    resp = await client.post(CODES, json={"email": email, "purpose": "password_reset"})
    assert resp.status == 429
    assert (await resp.json())["code"] == "rate_limited"
    assert 0 < int(resp.headers["Retry-After"]) <= 600
    assert len(mailbox.to(email)) == 3


async def test_legacy_django_hash_verifies_and_is_upgraded(client: TestClient[Any, Any]) -> None:
    email = unique_email("legacy")
    acc = client.app[keys.ACCOUNTS]
    async with acc.uow() as uow:
        legacy = django_pbkdf2(PASSWORD, "legacysalt", 1000)
        await uow.users.add(NewUser(email, "Old", legacy, LoginMethod.EMAIL, None, datetime.now(UTC)))
        await uow.commit()
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200
    async with acc.uow() as uow:
        user = await uow.users.by_email(email)
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password!"})
    assert resp.status == 401


async def test_login_is_rate_limited(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client(rate_login=RateLimit(3, 60))
    email = unique_email()
    for _ in range(3):
        resp = await client.post("/api/v1/auth/login", json={"email": email, "password": "whatever pass"})
        assert resp.status == 401
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": "whatever pass"})
    assert resp.status == 429
    assert resp.content_type == "application/problem+json"
    assert (await resp.json())["code"] == "rate_limited"
    assert 58 <= int(resp.headers["Retry-After"]) <= 60
    # the login limit first (it refused), then the API-wide policy (http/rate_limits.py)
    assert resp.headers["RateLimit-Policy"].startswith('"default";q=3;w=60, "ip";q=')
    assert resp.headers["RateLimit"].startswith('"default";r=0;t=')


async def test_refresh_and_verify_are_rate_limited(make_client: Any) -> None:
    # Refresh is limited per address only, so this test counts in a Redis namespace of its own.
    client = await make_client(
        rate_refresh=RateLimit(2, 60), rate_verify=RateLimit(1, 60), redis_prefix=f"rl-{uuid.uuid4().hex}"
    )
    statuses = [(await client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})).status for _ in range(3)]
    assert statuses == [401, 401, 429]
    email = unique_email()
    body = {"email": email, "purpose": "signup", "code": "000000"}
    assert (await client.post(VERIFY, json=body)).status == 400
    assert (await client.post(VERIFY, json=body)).status == 429


async def test_cookie_mode_sets_host_cookies_and_requires_csrf(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await signup(client, mailbox)
    resp = await client.post("/api/v1/auth/login?cookie=1", json={"email": pair["user"]["email"], "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    assert "access_token" not in body and "refresh_token" not in body
    cookies = {c.key: c for c in resp.cookies.values()}
    for name in ("__Host-access_token", "__Host-refresh_token"):
        morsel = cookies[name]
        assert morsel["httponly"] is True
        assert morsel["secure"] is True
        assert morsel["samesite"] == "Lax"
        assert morsel["path"] == "/"
        assert not morsel["domain"]
    csrf = cookies["csrf_token"].value
    jar = {"__Host-access_token": cookies["__Host-access_token"].value, "csrf_token": csrf}
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}

    resp = await client.get("/api/v1/me", headers=headers)
    assert resp.status == 200
    resp = await client.patch("/api/v1/me", json={"nickname": "Cookie"}, headers=headers)
    assert resp.status == 403
    assert (await resp.json())["code"] == "csrf_failed"
    resp = await client.patch("/api/v1/me", json={"nickname": "Cookie"}, headers={**headers, "X-CSRF-Token": "x"})
    assert (await resp.json())["code"] == "csrf_failed"
    resp = await client.patch("/api/v1/me", json={"nickname": "Cookie"}, headers={**headers, "X-CSRF-Token": csrf})
    assert resp.status == 200
    assert (await resp.json())["nickname"] == "Cookie"

    refresh_headers = {
        "Cookie": f"__Host-refresh_token={cookies['__Host-refresh_token'].value}; csrf_token={csrf}",
    }
    resp = await client.post("/api/v1/auth/refresh", headers=refresh_headers)
    assert resp.status == 403
    resp = await client.post("/api/v1/auth/refresh", headers={**refresh_headers, "X-CSRF-Token": csrf})
    assert resp.status == 200
    assert "refresh_token" not in await resp.json()
    assert "__Host-refresh_token" in {c.key for c in resp.cookies.values()}


async def test_cors_allows_only_configured_origins(make_client: Any, mailbox: Mailbox) -> None:
    client = await make_client(cors_origins=("https://app.example",))
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "content-type,x-csrf-token",
    }
    resp = await client.options("/api/v1/me", headers=preflight)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    resp = await client.options("/api/v1/me", headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    pair = await signup(client, mailbox)
    resp = await client.get("/api/v1/me", headers={**auth(pair), "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await client.get("/api/v1/me", headers={**auth(pair), "Origin": "https://app.example"})
    assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
