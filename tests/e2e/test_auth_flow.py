"""The whole account flow over HTTP, on PostgreSQL+Redis and on the embedded default."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jwcrypto import jwk, jwt

from roughcut.config import Settings
from tests.helpers import PASSWORD, Mailbox, auth, unique_email, verified_token


@pytest.fixture(params=["postgres", "sqlite"])
async def any_client(
    request: pytest.FixtureRequest, make_client: Any, sqlite_settings: Settings
) -> TestClient[Any, Any]:
    if request.param == "sqlite":
        return await make_client(sqlite_settings)
    return await make_client()


async def test_signup_login_me_refresh_reuse_logout(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    email = unique_email("flow")
    token = await verified_token(client, mailbox, email)

    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email.upper(), "password": PASSWORD, "nickname": "Ann", "verification_token": token},
    )
    assert resp.status == 201, await resp.text()
    signup = await resp.json()
    assert signup["token_type"] == "Bearer"
    assert signup["user"]["email"] == email
    assert signup["user"]["login_method"] == "email"

    resp = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert resp.status == 200
    pair = await resp.json()
    assert pair["expires_in"] == 900

    resp = await client.get("/api/v1/me", headers=auth(pair))
    assert resp.status == 200
    me = await resp.json()
    assert me["email"] == email and me["nickname"] == "Ann"
    assert me["created_at"].endswith("Z")

    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status == 200
    rotated = await resp.json()
    assert rotated["refresh_token"] != pair["refresh_token"]
    assert (await client.get("/api/v1/me", headers=auth(rotated))).status == 200

    # Presenting the old token again is reuse: the whole family dies, the new token too.
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status == 401
    assert (await resp.json())["code"] == "refresh_token_reused"
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert resp.status == 401
    assert (await resp.json())["code"] == "session_revoked"

    # The signup session is still alive; logout ends it and its refresh token.
    resp = await client.post("/api/v1/auth/logout", headers=auth(signup))
    assert resp.status == 204
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": signup["refresh_token"]})
    assert (await resp.json())["code"] == "session_revoked"


async def test_access_token_verifies_with_published_jwks(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await _signup(any_client, mailbox)
    resp = await any_client.get("/.well-known/jwks.json")
    assert resp.status == 200
    keyset = jwk.JWKSet.from_json(await resp.text())
    token = jwt.JWT(jwt=pair["access_token"], key=keyset, algs=["EdDSA"], expected_type="JWS")
    claims = jwt.json_decode(token.claims)
    assert claims["sub"] == str(pair["user"]["id"])
    assert claims["iss"] == "roughcut" and claims["aud"] == "roughcut"
    assert {"exp", "iat", "jti", "sid"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == 900


async def _signup(client: TestClient[Any, Any], mailbox: Mailbox) -> dict[str, Any]:
    from tests.helpers import signup

    return await signup(client, mailbox)


async def test_wrong_password_and_unknown_email_answer_the_same(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await _signup(client, mailbox)
    email = pair["user"]["email"]
    wrong = await client.post("/api/v1/auth/login", json={"email": email, "password": "not the password"})
    unknown = await client.post("/api/v1/auth/login", json={"email": unique_email(), "password": PASSWORD})
    assert wrong.status == unknown.status == 401
    assert (await wrong.json())["code"] == (await unknown.json())["code"] == "invalid_credentials"


async def test_signup_needs_a_verified_address_and_a_long_password(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    email = unique_email()
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": PASSWORD, "nickname": "X", "verification_token": "forged"},
    )
    assert resp.status == 400
    assert (await resp.json())["code"] == "verification_token_invalid"

    token = await verified_token(client, mailbox, email)
    resp = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": "short", "nickname": "X", "verification_token": token}
    )
    assert resp.status == 422
    body = await resp.json()
    assert body["code"] == "validation_failed" and "password" in body["errors"]
    # The refused signup did not spend the token.
    resp = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "X", "verification_token": token}
    )
    assert resp.status == 201
    # ...but a successful one did: the token is checked first, so a taken address looks like a bad token.
    resp = await client.post(
        "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "X", "verification_token": token}
    )
    assert resp.status == 400
    assert (await resp.json())["code"] == "verification_token_invalid"


async def test_verification_token_is_single_use(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    pair = await _signup(client, mailbox)
    email = pair["user"]["email"]
    token = await verified_token(client, mailbox, email, "password_reset")
    body = {"email": email, "verification_token": token, "new_password": "a brand new password"}
    assert (await client.post("/api/v1/auth/password-reset", json=body)).status == 204
    again = await client.post("/api/v1/auth/password-reset", json={**body, "new_password": "yet another password"})
    assert again.status == 400
    assert (await again.json())["code"] == "verification_token_invalid"


async def test_password_reset_revokes_every_session(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    first = await _signup(client, mailbox)
    email = first["user"]["email"]
    second = await (await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})).json()
    token = await verified_token(client, mailbox, email, "password_reset")
    resp = await client.post(
        "/api/v1/auth/password-reset",
        json={"email": email, "verification_token": token, "new_password": "a brand new password"},
    )
    assert resp.status == 204
    for pair in (first, second):
        resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert (await resp.json())["code"] == "session_revoked"
    old = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert old.status == 401
    new = await client.post("/api/v1/auth/login", json={"email": email, "password": "a brand new password"})
    assert new.status == 200


async def test_password_reset_answers_the_same_for_unknown_addresses(
    client: TestClient[Any, Any], mailbox: Mailbox
) -> None:
    pair = await _signup(client, mailbox)
    known = await client.post(
        "/api/v1/auth/email-codes", json={"email": pair["user"]["email"], "purpose": "password_reset"}
    )
    nobody = unique_email("nobody")
    unknown = await client.post("/api/v1/auth/email-codes", json={"email": nobody, "purpose": "password_reset"})
    assert known.status == unknown.status == 202
    assert await known.json() == await unknown.json()
    [notice] = mailbox.to(nobody)  # a notice, with no code to use
    body = notice.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert not any(
        w.strip(".,").isdigit() and len(w.strip(".,")) == 6 for w in (notice["Subject"] + body.decode()).split()
    )


async def test_sessions_are_listed_and_revocable(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    first = await _signup(client, mailbox)
    email = first["user"]["email"]
    second = await (
        await client.post(
            "/api/v1/auth/login", json={"email": email, "password": PASSWORD}, headers={"User-Agent": "phone/1.0"}
        )
    ).json()
    resp = await client.get("/api/v1/auth/sessions", headers=auth(first))
    items = (await resp.json())["items"]
    assert len(items) == 2
    assert [i["current"] for i in items].count(True) == 1
    phone = next(i for i in items if i["device"] == "phone/1.0")
    assert phone["last_used_at"].endswith("Z")

    other = await _signup(client, mailbox)
    resp = await client.delete(f"/api/v1/auth/sessions/{phone['id']}", headers=auth(other))
    assert resp.status == 404  # another user's session does not exist for them

    resp = await client.delete(f"/api/v1/auth/sessions/{phone['id']}", headers=auth(first))
    assert resp.status == 204
    resp = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert (await resp.json())["code"] == "session_revoked"
    items = (await (await client.get("/api/v1/auth/sessions", headers=auth(first))).json())["items"]
    assert len(items) == 1
