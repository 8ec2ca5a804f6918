"""Abusing the account calls: one login budget per address however it is spelt, no account enumeration through
signup, per-client limits on signup and on logins across addresses; on PostgreSQL+Redis and the embedded default."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import RateLimit, Settings
from roughcut.domain.account_model import LoginMethod, NewUser
from tests.conftest import AppFactory
from tests.helpers import PASSWORD, Mailbox, auth, create_project, signup, unique_email

LOGIN = "/api/v1/auth/login"
SIGNUP = "/api/v1/auth/signup"
WRONG_PASSWORD = "not the password"
SPRAYED_ADDRESSES = 25

Limited = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(params=["postgres_redis", "sqlite_local"])
def limited(request: pytest.FixtureRequest, make_client: AppFactory, sqlite_settings: Settings) -> Limited:
    """Start the app with the given limits and counters of its own (other tests also call from 127.0.0.1)."""

    async def make(**overrides: Any) -> TestClient[Any, Any]:
        if request.param == "sqlite_local":
            return await make_client(sqlite_settings, **overrides)  # a fresh app: fresh in-process counters
        return await make_client(redis_prefix=f"rl-{uuid.uuid4().hex}", **overrides)

    return make


async def _add_user(client: TestClient[Any, Any], email: str) -> int:
    """An e-mail account stored directly (a non-ASCII address need not travel through SMTP here)."""
    acc = client.app[keys.ACCOUNTS]
    async with acc.uow() as uow:
        user = await uow.users.add(
            NewUser(email, "Spelt", acc.hasher.hash(PASSWORD), LoginMethod.EMAIL, None, datetime.now(UTC))
        )
        await uow.commit()
    user_id: int = user.id
    return user_id


async def test_every_spelling_of_an_address_shares_one_login_budget(limited: Limited) -> None:
    client = await limited(rate_login=RateLimit(3, 60))
    email = f"v\u00e9-{uuid.uuid4().hex[:12]}@example.com"  # stored in NFC
    nfd = unicodedata.normalize("NFD", email)
    user_id = await _add_user(client, email)

    resp = await client.post(LOGIN, json={"email": f" {nfd.upper()}\t", "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["user"]["id"] == user_id
    for spelling in (f" {email}", f"\t{email}"):
        resp = await client.post(LOGIN, json={"email": spelling, "password": WRONG_PASSWORD})
        assert resp.status == 401
    # The budget of 3 is spent, whichever spelling spent it: the right password gets no token pair.
    for spelling in (email.upper(), nfd, f"\n{email} ", email):
        resp = await client.post(LOGIN, json={"email": spelling, "password": PASSWORD})
        body = await resp.json()
        assert resp.status == 429, (spelling, body)
        assert body["code"] == "rate_limited"
        assert "access_token" not in body and "refresh_token" not in body


async def test_signup_answers_a_taken_address_like_a_free_one(limited: Limited, mailbox: Mailbox) -> None:
    client = await limited()
    taken = (await signup(client, mailbox))["user"]["email"]
    answers = []
    for email in (taken, f" {taken.upper()}", unique_email("free")):
        body = {"email": email, "password": PASSWORD, "nickname": "Probe", "verification_token": "bogus-token"}
        resp = await client.post(SIGNUP, json=body)
        problem = await resp.json()
        del problem["request_id"]  # differs per request by design
        answers.append((resp.status, resp.content_type, problem))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 400
    assert answers[0][2]["code"] == "verification_token_invalid"


async def test_signup_is_rate_limited_per_client(limited: Limited) -> None:
    client = await limited(rate_signup=RateLimit(3, 600))
    statuses = []
    for _ in range(4):
        body = {"email": unique_email("probe"), "password": PASSWORD, "nickname": "P", "verification_token": "bogus"}
        resp = await client.post(SIGNUP, json=body)
        statuses.append((resp.status, (await resp.json())["code"]))
    assert statuses == [(400, "verification_token_invalid")] * 3 + [(429, "rate_limited")]


async def test_password_spraying_from_one_client_is_limited(limited: Limited) -> None:
    per_client = Settings().rate_login_ip  # the shipped default
    assert per_client.limit < SPRAYED_ADDRESSES
    client = await limited(rate_login_ip=per_client)
    statuses = []
    for _ in range(SPRAYED_ADDRESSES):
        resp = await client.post(LOGIN, json={"email": unique_email("sprayed"), "password": WRONG_PASSWORD})
        statuses.append(resp.status)
    assert statuses == [401] * per_client.limit + [429] * (SPRAYED_ADDRESSES - per_client.limit)


async def test_addresses_with_control_characters_are_refused_everywhere(limited: Limited, mailbox: Mailbox) -> None:
    client = await limited()
    owner = await signup(client, mailbox)
    project = await create_project(client, owner)
    invitations = f"/api/v1/projects/{project['id']}/invitations"
    calls = [
        (LOGIN, {"email": "v\x00@x.test", "password": PASSWORD}, {}),
        ("/api/v1/auth/email-codes", {"email": "v\u200b@x.test", "purpose": "signup"}, {}),
        (invitations, {"email": "in\x00vitee@example.com"}, auth(owner)),
    ]
    for path, body, headers in calls:
        resp = await client.post(path, json=body, headers=headers)
        problem = await resp.json()
        assert resp.status == 422, (path, problem)
        assert problem["code"] == "validation_failed"
        assert list(problem["errors"]) == ["email"]
    resp = await client.post(invitations, json={"email": " Invitee@Example.COM\t"}, headers=auth(owner))
    assert resp.status == 201
    assert (await resp.json())["email"] == "invitee@example.com"
