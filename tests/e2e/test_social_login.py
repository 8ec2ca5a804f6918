"""Social login over HTTP against a fake provider server: accounts matched by verified e-mail."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.fakes.social_provider import REDIRECT_URI, FakeProviders
from tests.helpers import Mailbox, auth, signup


@pytest.fixture
async def social_client(make_client: Any, fake: FakeProviders) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await make_client(social=fake.settings(fake.base_url))
    return client


async def test_google_code_flow_creates_then_finds_the_account(
    social_client: TestClient[Any, Any], fake: FakeProviders
) -> None:
    email = f"g-{uuid.uuid4().hex[:8]}@gmail.com"
    sub = uuid.uuid4().hex
    claims = {"sub": sub, "email": email, "email_verified": True, "name": "Gina", "picture": "https://x/p.png"}
    verifier = "v" * 43
    fake.add_code("google", "code-1", claims, expect_verifier=verifier)
    body = {"code": "code-1", "redirect_uri": REDIRECT_URI, "code_verifier": verifier, "state": "s1"}
    resp = await social_client.post("/api/v1/auth/social/google", json=body)
    assert resp.status == 201, await resp.text()
    first = await resp.json()
    assert first["user"]["login_method"] == "google"
    assert first["user"]["nickname"] == "Gina"

    token = fake.google_id_token({"sub": sub, "email": email})
    resp = await social_client.post("/api/v1/auth/social/google", json={"id_token": token})
    assert resp.status == 200
    again = await resp.json()
    assert again["user"]["id"] == first["user"]["id"]
    me = await (await social_client.get("/api/v1/me", headers=auth(again))).json()
    assert me["email"] == email


async def test_verified_email_links_to_the_existing_account(
    social_client: TestClient[Any, Any], fake: FakeProviders, mailbox: Mailbox
) -> None:
    pair = await signup(social_client, mailbox)
    email = pair["user"]["email"]
    kakao_me = {
        "id": int(uuid.uuid4().int % 10**10),
        "kakao_account": {
            "email": email,
            "is_email_valid": True,
            "is_email_verified": True,
            "profile": {"nickname": "K"},
        },
    }
    fake.add_code("kakao", "k-1", kakao_me)
    resp = await social_client.post("/api/v1/auth/social/kakao", json={"code": "k-1", "redirect_uri": REDIRECT_URI})
    assert resp.status == 200
    assert (await resp.json())["user"]["id"] == pair["user"]["id"]


async def test_unverified_provider_email_is_refused(social_client: TestClient[Any, Any], fake: FakeProviders) -> None:
    kakao_me = {
        "id": 77,
        "kakao_account": {"email": "someone@daum.net", "is_email_valid": True, "is_email_verified": False},
    }
    fake.add_code("kakao", "k-2", kakao_me)
    resp = await social_client.post("/api/v1/auth/social/kakao", json={"code": "k-2", "redirect_uri": REDIRECT_URI})
    assert resp.status == 403
    assert (await resp.json())["code"] == "social_email_unverified"


async def test_provider_errors_map_to_stable_codes(social_client: TestClient[Any, Any], fake: FakeProviders) -> None:
    resp = await social_client.post(
        "/api/v1/auth/social/naver", json={"code": "never-issued", "redirect_uri": REDIRECT_URI, "state": "x"}
    )
    assert resp.status == 400
    assert (await resp.json())["code"] == "social_login_failed"
    resp = await social_client.post("/api/v1/auth/social/github", json={"code": "c", "redirect_uri": REDIRECT_URI})
    assert resp.status == 404
    bad = fake.google_id_token({"aud": "someone-else"})
    resp = await social_client.post("/api/v1/auth/social/google", json={"id_token": bad})
    assert (await resp.json())["code"] == "social_login_failed"
    resp = await social_client.post("/api/v1/auth/social/google", json={})
    assert resp.status == 422
