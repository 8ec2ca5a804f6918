"""The old app's sign-up, password reset and social login calls (LEGACY.md §2.1, §4.5 to 4.7) on the layer."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from roughcut import keys
from roughcut.storage import tables as t
from tests.e2e.test_legacy_api import ORIGIN, deprecated
from tests.fakes.social_provider import FakeProviders
from tests.helpers import PASSWORD, Mailbox, signup, unique_email

Client = TestClient[Any, Any]
NEW_PASSWORD = "a brand new passphrase"
NEED_PROOF = {"message": "이메일 인증이 필요합니다."}


@pytest.fixture
async def old_app(make_client: Any, fake: FakeProviders) -> Client:
    client: Client = await make_client(cors_origins=(ORIGIN,), social=fake.settings())
    return client


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _with(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Origin": ORIGIN}


async def _v1_login(client: Client, email: str, password: str) -> int:
    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    return resp.status


async def _proof(client: Client, mailbox: Mailbox, email: str, types: str, prefix: str = "") -> dict[str, str]:
    """send_authnumber, then signup_emailauth with the mailed code: the proof cookie it leaves."""
    resp = await client.post(f"{prefix}/users/send_authnumber/{types}", json={"email": email})
    assert (resp.status, await resp.json()) == (200, {"message": "success"}), await resp.text()
    deprecated(resp, "/api/v1/auth/email-codes")
    code = mailbox.last_code(email)
    resp = await client.post(f"{prefix}/users/signup_emailauth/{types}", json={"email": email, "auth_number": code})
    assert (resp.status, await resp.json()) == (200, {"message": "success"}), await resp.text()
    deprecated(resp, "/api/v1/auth/email-codes/verify")
    ((name, morsel),) = resp.cookies.items()
    assert morsel["httponly"] and morsel["secure"] and morsel["samesite"] == "None"
    assert name == ("vridge_reset_proof" if types == "reset" else "vridge_signup_proof")
    return {name: morsel.value}


async def test_the_old_signup_needs_the_mailed_code(old_app: Client, mailbox: Mailbox) -> None:
    client, email = old_app, unique_email("old")
    body = {"email": email, "nickname": "옛 사용자", "password": PASSWORD}

    # the old hole: signup without a verified address is refused, and no account appears
    resp = await client.post("/users/signup", json=body, headers={"Origin": ORIGIN})
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)
    deprecated(resp, "/api/v1/auth/signup")
    assert await _v1_login(client, email, PASSWORD) == 401

    # a wrong code gets the old message and leaves no proof
    await client.post("/users/send_authnumber/signup", json={"email": email})
    resp = await client.post(
        "/users/signup_emailauth/signup", json={"email": email, "auth_number": _wrong(mailbox.last_code(email))}
    )
    assert (resp.status, await resp.json()) == (404, {"message": "인증번호가 일치하지 않습니다"})
    assert not resp.cookies

    proof = await _proof(client, mailbox, email, "signup", prefix="/api")
    # carried by a cookie, so only from the old app's origin
    resp = await client.post(
        "/users/signup", json=body, headers={"Cookie": f"vridge_signup_proof={proof['vridge_signup_proof']}"}
    )
    assert (resp.status, await resp.json()) == (403, {"message": "권한이 없습니다."})

    resp = await client.post("/api/users/signup/", json=body, headers=_with(proof))
    assert resp.status == 201, await resp.text()
    signed = await resp.json()
    assert (signed["message"], signed["user"]) == ("success", email)
    assert signed["vridge_session"] == resp.cookies["vridge_session"].value
    assert resp.cookies["vridge_signup_proof"].value == ""  # spent, and cleared

    # the proof is single use; the new session works on the old paths and the password on /api/v1
    resp = await client.post("/users/signup", json=body, headers=_with(proof))
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)
    session = {"vridge_session": signed["vridge_session"]}
    resp = await client.get("/projects/project_list", headers=_with(session))
    assert (resp.status, (await resp.json())["user"]) == (200, email)
    assert await _v1_login(client, email, PASSWORD) == 200

    # asking again for a taken address answers the same as for a free one (no enumeration)
    resp = await client.post("/users/send_authnumber/signup", json={"email": email})
    assert (resp.status, await resp.json()) == (200, {"message": "success"})

    metrics = await (await client.get("/metrics")).text()
    for route in ("users/signup", "users/send_authnumber", "users/signup_emailauth"):
        assert re.search(rf'roughcut_legacy_calls_total\{{route="{route}"\}} [1-9]', metrics), route


async def test_the_old_reset_needs_proof(old_app: Client, mailbox: Mailbox) -> None:
    client, email = old_app, unique_email("reset")
    await signup(client, mailbox, email)
    new = {"email": email, "password": NEW_PASSWORD}

    # the old "reset without proof": refused in the old shape, the password unchanged
    resp = await client.post("/users/password_reset", json=new, headers={"Origin": ORIGIN})
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)
    deprecated(resp, "/api/v1/auth/password-reset")
    assert await _v1_login(client, email, PASSWORD) == 200
    assert await _v1_login(client, email, NEW_PASSWORD) == 401

    # an unknown address is answered like a known one
    resp = await client.post("/users/send_authnumber/reset", json={"email": unique_email("nobody")})
    assert (resp.status, await resp.json()) == (200, {"message": "success"})

    await client.post("/users/send_authnumber/reset", json={"email": email})
    wrong = {"email": email, "auth_number": _wrong(mailbox.last_code(email))}
    resp = await client.post("/users/signup_emailauth/reset", json=wrong)
    assert (resp.status, await resp.json()) == (500, {"message": "인증번호가 틀렸습니다."})

    proof = await _proof(client, mailbox, email, "reset")
    # a proof is bound to its address and its purpose
    other = await signup(client, mailbox)
    resp = await client.post(
        "/users/password_reset", json={**new, "email": other["user"]["email"]}, headers=_with(proof)
    )
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)
    signup_body = {"email": email, "nickname": "x", "password": NEW_PASSWORD}
    swapped = {"vridge_signup_proof": proof["vridge_reset_proof"]}
    resp = await client.post("/users/signup", json=signup_body, headers=_with(swapped))
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)

    resp = await client.post("/api/users/password_reset/", json=new, headers=_with(proof))
    assert (resp.status, await resp.json()) == (200, {"message": "success"}), await resp.text()
    assert await _v1_login(client, email, PASSWORD) == 401
    assert await _v1_login(client, email, NEW_PASSWORD) == 200
    resp = await client.post("/users/login", json=new)
    assert resp.status == 201
    resp = await client.post("/users/password_reset", json={**new, "password": PASSWORD}, headers=_with(proof))
    assert (resp.status, await resp.json()) == (403, NEED_PROOF)  # single use


async def test_an_expired_code_is_refused(old_app: Client, mailbox: Mailbox) -> None:
    client, email = old_app, unique_email("late")
    await client.post("/users/send_authnumber/signup", json={"email": email})
    code = mailbox.last_code(email)
    async with client.app[keys.ENGINE].begin() as conn:
        await conn.execute(
            update(t.email_codes)
            .where(t.email_codes.c.email == email)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    resp = await client.post("/users/signup_emailauth/signup", json={"email": email, "auth_number": code})
    assert (resp.status, await resp.json()) == (404, {"message": "인증번호가 일치하지 않습니다"})
    assert not resp.cookies
    resp = await client.post("/users/signup_emailauth/signup", json={"email": email, "auth_number": "12ab"})
    assert resp.status == 404


async def test_old_social_login(old_app: Client, fake: FakeProviders) -> None:
    client, email = old_app, unique_email("naver")
    naver = {"id": uuid.uuid4().hex, "email": email, "nickname": "네이버"}
    for code in ("n-1", "n-2"):
        fake.add_code("naver", code, naver, expect_state="st")
    resp = await client.post("/users/login/naver", json={"code": "n-1", "state": "st"}, headers={"Origin": ORIGIN})
    assert resp.status == 201, await resp.text()
    deprecated(resp, "/api/v1/auth/social/naver")
    first = await resp.json()
    assert (first["message"], first["user"]) == ("success", email)
    assert first["vridge_session"] == resp.cookies["vridge_session"].value
    resp = await client.post("/api/users/login/naver/", json={"code": "n-2", "state": "st"})
    again = await resp.json()
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {again['vridge_session']}"})
    assert ((await me.json())["email"], (await me.json())["login_method"]) == (email, "naver")

    # Kakao's bare access token cannot be tied to this app: refused in the old shape
    resp = await client.post("/users/login/kakao", json={"access_token": "whatever"})
    assert (resp.status, await resp.json()) == (400, {"message": "잘못된 요청입니다."})
    unverified = {"id": 5, "kakao_account": {"email": unique_email("k"), "is_email_verified": False}}
    fake.add_code("kakao", "k-1", unverified, redirect_uri=f"{ORIGIN}/login")  # the old app's own page
    resp = await client.post("/users/login/kakao", json={"code": "k-1"}, headers={"Origin": ORIGIN})
    assert (resp.status, await resp.json()) == (500, {"message": "카카오 이메일이 없습니다."})

    google = fake.google_id_token({"sub": uuid.uuid4().hex, "email": unique_email("g")})
    resp = await client.post("/users/login/google", json={"id_token": google, "state": "s", "scope": "email"})
    assert resp.status == 201, await resp.text()
    resp = await client.post("/users/login/naver", json={"code": "never", "state": "st"})
    assert (resp.status, await resp.json()) == (400, {"message": "잘못된 요청입니다."})
    metrics = await (await client.get("/metrics")).text()
    assert re.search(r'roughcut_legacy_calls_total\{route="users/login/naver"\} [1-9]', metrics)
