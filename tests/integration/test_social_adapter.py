"""SocialAuthenticator against a fake Google/Kakao/Naver server over real HTTP."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import jwt
import pytest

from roughcut.config.settings import Secret
from roughcut.domain.errors import (
    NotFound,
    ProviderUnavailable,
    SocialEmailUnverified,
    SocialLoginFailed,
    ValidationFailed,
)
from roughcut.security.social import SocialAuthenticator, SocialProfile
from tests.fakes.social_provider import REDIRECT_URI, FakeProviders

KAKAO_ME: dict[str, Any] = {
    "id": 3141592653,
    "connected_at": "2024-01-01T00:00:00Z",
    "kakao_account": {
        "has_email": True,
        "email_needs_agreement": False,
        "is_email_valid": True,
        "is_email_verified": True,
        "email": "Minsu@Kakao.com",
        "profile": {
            "nickname": "민수",
            "profile_image_url": "https://k.kakaocdn.net/img.jpg",
            "is_default_image": False,
        },
    },
}
NAVER_RESPONSE: dict[str, Any] = {
    "id": "32742776",
    "email": "jiyoung@naver.com",
    "nickname": "지영",
    "name": "김지영",
    "profile_image": "https://ssl.pstatic.net/static/pwe/address/img_profile.png",
}
GOOGLE_CLAIMS: dict[str, Any] = {
    "sub": "1234567890",
    "email": "Alice@Example.com",
    "email_verified": True,
    "name": "Alice",
    "picture": "https://lh3.googleusercontent.com/a/alice",
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def auth(fake: FakeProviders, http: aiohttp.ClientSession) -> SocialAuthenticator:
    return SocialAuthenticator(fake.settings(fake.base_url), http, jwks_refetch_cooldown=0.0)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_google_code_flow_with_pkce(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("google", "g-code", GOOGLE_CLAIMS, expect_verifier="v" * 43)
    profile = await auth.authenticate("google", code="g-code", redirect_uri=REDIRECT_URI, code_verifier="v" * 43)
    assert profile == SocialProfile(
        "google",
        "1234567890",
        "alice@example.com",
        True,
        "Alice",
        "https://lh3.googleusercontent.com/a/alice",
    )
    assert fake.requests[-1][1]["code_verifier"] == "v" * 43


async def test_google_wrong_verifier_refused(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("google", "g-code", GOOGLE_CLAIMS, expect_verifier="right" * 9)
    with pytest.raises(SocialLoginFailed) as err:
        await auth.authenticate("google", code="g-code", redirect_uri=REDIRECT_URI, code_verifier="wrong" * 9)
    assert err.value.code == "social_login_failed"


async def test_codes_are_single_use(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("google", "once", GOOGLE_CLAIMS)
    await auth.authenticate("google", code="once", redirect_uri=REDIRECT_URI)
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("google", code="once", redirect_uri=REDIRECT_URI)


async def test_google_string_email_verified(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("google", "g", {**GOOGLE_CLAIMS, "email_verified": "true"})
    assert (await auth.authenticate("google", code="g", redirect_uri=REDIRECT_URI)).email_verified is True


async def test_kakao_code_flow(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("kakao", "k-code", KAKAO_ME, expect_verifier="kv" * 22)
    profile = await auth.authenticate("kakao", code="k-code", redirect_uri=REDIRECT_URI, code_verifier="kv" * 22)
    assert profile == SocialProfile(
        "kakao", "3141592653", "minsu@kakao.com", True, "민수", "https://k.kakaocdn.net/img.jpg"
    )


async def test_kakao_unverified_email_is_reported(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    body = {**KAKAO_ME, "kakao_account": {**KAKAO_ME["kakao_account"], "is_email_verified": False}}
    fake.add_code("kakao", "k-code", body)
    profile = await auth.authenticate("kakao", code="k-code", redirect_uri=REDIRECT_URI)
    assert profile.email_verified is False


async def test_kakao_without_email(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    account = {k: v for k, v in KAKAO_ME["kakao_account"].items() if k != "email"}
    fake.add_code("kakao", "k-code", {**KAKAO_ME, "kakao_account": account})
    with pytest.raises(SocialEmailUnverified) as err:
        await auth.authenticate("kakao", code="k-code", redirect_uri=REDIRECT_URI)
    assert err.value.code == "social_email_unverified"


async def test_kakao_bad_client_secret(fake: FakeProviders, http: aiohttp.ClientSession) -> None:
    providers = fake.settings(fake.base_url)
    providers["kakao"] = replace(providers["kakao"], client_secret=Secret("wrong"))
    fake.add_code("kakao", "k-code", KAKAO_ME)
    with pytest.raises(SocialLoginFailed):
        await SocialAuthenticator(providers, http).authenticate("kakao", code="k-code", redirect_uri=REDIRECT_URI)


async def test_naver_code_flow_forwards_state(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("naver", "n-code", NAVER_RESPONSE, expect_state="st-1")
    profile = await auth.authenticate("naver", code="n-code", state="st-1")
    assert profile == SocialProfile(
        "naver", "32742776", "jiyoung@naver.com", True, "지영", NAVER_RESPONSE["profile_image"]
    )
    assert fake.requests[-1][1]["state"] == "st-1"


async def test_naver_wrong_state_is_a_200_error(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("naver", "n-code", NAVER_RESPONSE, expect_state="st-1")
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("naver", code="n-code", state="other")


async def test_naver_requires_state(auth: SocialAuthenticator) -> None:
    with pytest.raises(ValidationFailed):
        await auth.authenticate("naver", code="n-code")


async def test_naver_failed_resultcode(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("naver", "n-code", NAVER_RESPONSE)
    fake.override("/naver/me", 200, {"resultcode": "024", "message": "Authentication failed"})
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("naver", code="n-code", state="s")


@pytest.mark.parametrize(
    ("overrides", "kwargs"),
    [
        # Times relative to when the test runs (a slow suite may run it long after collection).
        pytest.param({"aud": "someone-else"}, {}, id="wrong-audience"),
        pytest.param({"iss": "https://evil.example"}, {}, id="wrong-issuer"),
        pytest.param({"exp": -120, "iat": -3720}, {}, id="expired"),
        pytest.param({"iat": 600}, {}, id="issued-in-future"),
        pytest.param({"exp": None}, {}, id="no-exp"),
        pytest.param({}, {"forge": True}, id="bad-signature"),
        pytest.param({}, {"headers": {"kid": "unknown"}}, id="unknown-kid"),
    ],
)
async def test_google_id_token_rejected(
    fake: FakeProviders, auth: SocialAuthenticator, overrides: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "iat") and v is not None else v for k, v in overrides.items()}
    token = fake.google_id_token(claims, **kwargs)
    with pytest.raises(SocialLoginFailed) as err:
        await auth.authenticate("google", id_token=token)
    assert err.value.code == "social_login_failed"


async def test_google_id_token_garbage_and_hs256(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("google", id_token="not-a-jwt")
    hs = jwt.encode({"sub": "1"}, "google-secret" * 3, algorithm="HS256", headers={"kid": "x"})
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("google", id_token=hs)


async def test_google_id_token_accepted_and_jwks_cached(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    profile = await auth.authenticate("google", id_token=fake.google_id_token({"iss": "accounts.google.com"}))
    assert (profile.provider, profile.email, profile.email_verified) == ("google", "someone@gmail.com", True)
    await auth.authenticate("google", id_token=fake.google_id_token())
    assert fake.jwks_fetches == 1


async def test_google_unverified_email_is_reported(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    token = fake.google_id_token({"email_verified": False})
    assert (await auth.authenticate("google", id_token=token)).email_verified is False


async def test_google_without_email(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    with pytest.raises(SocialEmailUnverified):
        await auth.authenticate("google", id_token=fake.google_id_token({"email": None}))


async def test_key_rotation_refetches_jwks(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    await auth.authenticate("google", id_token=fake.google_id_token())
    fake.rotate_key()
    profile = await auth.authenticate("google", id_token=fake.google_id_token({"sub": "rotated"}))
    assert profile.subject == "rotated"
    assert fake.jwks_fetches == 2


async def test_unknown_kid_refetch_has_a_cooldown(fake: FakeProviders, http: aiohttp.ClientSession) -> None:
    auth = SocialAuthenticator(fake.settings(fake.base_url), http, jwks_refetch_cooldown=60.0)
    await auth.authenticate("google", id_token=fake.google_id_token())
    fake.rotate_key()
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("google", id_token=fake.google_id_token())
    assert fake.jwks_fetches == 1


@pytest.mark.parametrize("provider", ["google", "kakao", "naver"])
async def test_provider_down(fake: FakeProviders, http: aiohttp.ClientSession, provider: str) -> None:
    auth = SocialAuthenticator(fake.settings(closed_port_url()), http)
    with pytest.raises(ProviderUnavailable) as err:
        await auth.authenticate(provider, code="c", redirect_uri=REDIRECT_URI, state="s")
    assert err.value.code == "provider_unavailable"


async def test_jwks_down(fake: FakeProviders, http: aiohttp.ClientSession) -> None:
    auth = SocialAuthenticator(fake.settings(closed_port_url()), http)
    with pytest.raises(ProviderUnavailable):
        await auth.authenticate("google", id_token=fake.google_id_token())


async def test_provider_5xx(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("kakao", "k-code", KAKAO_ME)
    fake.override("/kakao/token", 503, "Service Unavailable")
    with pytest.raises(ProviderUnavailable):
        await auth.authenticate("kakao", code="k-code", redirect_uri=REDIRECT_URI)


@pytest.mark.parametrize("provider", ["github", "apple"])
async def test_unknown_provider(auth: SocialAuthenticator, provider: str) -> None:
    with pytest.raises(NotFound) as err:
        await auth.authenticate(provider, code="c")
    assert err.value.code == "not_found"


async def test_unconfigured_provider(fake: FakeProviders, http: aiohttp.ClientSession) -> None:
    only_google = {"google": fake.settings(fake.base_url)["google"]}
    with pytest.raises(NotFound):
        await SocialAuthenticator(only_google, http).authenticate("kakao", code="c")


async def test_jwks_5xx_without_cache(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.override("/google/jwks", 503, "unavailable")
    with pytest.raises(ProviderUnavailable):
        await auth.authenticate("google", id_token=fake.google_id_token())


async def test_token_endpoint_garbage_is_unavailable(fake: FakeProviders, auth: SocialAuthenticator) -> None:
    fake.add_code("naver", "n-code", NAVER_RESPONSE)
    fake.override("/naver/token", 200, "<html>maintenance</html>")
    with pytest.raises(ProviderUnavailable):
        await auth.authenticate("naver", code="n-code", state="s")


async def test_secrets_never_logged(
    fake: FakeProviders, auth: SocialAuthenticator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_code("kakao", "secret-code-1", KAKAO_ME, expect_verifier="verifier-xyz" * 4)
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("kakao", code="secret-code-1", redirect_uri=REDIRECT_URI, code_verifier="bad")
    token = fake.google_id_token({"aud": "other"})
    with pytest.raises(SocialLoginFailed):
        await auth.authenticate("google", id_token=token)
    assert caplog.records
    for needle in ("secret-code-1", "kakao-secret", "verifier-xyz", token.split(".")[1]):
        assert needle not in caplog.text
