"""A fake Google/Kakao/Naver OAuth server speaking each provider's documented formats."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from roughcut.config.settings import Secret, SocialProvider

PROVIDERS = ("google", "kakao", "naver")
REDIRECT_URI = "https://app.example/auth/callback"
GOOGLE_ISSUER = "https://accounts.google.com"
ID_TOKEN_TTL = 3600
JWKS_CACHE_CONTROL = "public, max-age=3600"


def client_id(provider: str) -> str:
    """The client id the fake expects for `provider`."""
    return f"{provider}-client"


def client_secret(provider: str) -> str:
    """The client secret the fake expects for `provider`."""
    return f"{provider}-secret"


@dataclass(frozen=True, slots=True)
class _Grant:
    profile: dict[str, Any]
    redirect_uri: str
    verifier: str | None
    state: str | None


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> _Key:
        return cls(secrets.token_hex(8), rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": "RS256", "use": "sig"}


class FakeProviders:
    """Google, Kakao and Naver token/userinfo endpoints plus Google's JWKS, on 127.0.0.1."""

    def __init__(self) -> None:
        self._keys: list[_Key] = [_Key.generate()]
        self._grants: dict[tuple[str, str], _Grant] = {}
        self._access: dict[str, tuple[str, dict[str, Any]]] = {}
        self._overrides: dict[str, tuple[int, Any]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.jwks_fetches = 0

    async def start(self) -> str:
        """Listen on a free port and return the base URL."""
        app = web.Application()
        app.router.add_get("/google/jwks", self._jwks)
        for provider in PROVIDERS:
            app.router.add_post(f"/{provider}/token", self._token)
        app.router.add_get("/kakao/me", self._kakao_me)
        app.router.add_get("/naver/me", self._naver_me)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def settings(self, base_url: str | None = None) -> dict[str, SocialProvider]:
        """SocialProvider settings for all three providers, pointing at this fake."""
        base = base_url or self.base_url
        return {
            p: SocialProvider(
                client_id=client_id(p),
                client_secret=Secret(client_secret(p)),
                token_url=f"{base}/{p}/token",
                userinfo_url="" if p == "google" else f"{base}/{p}/me",
                jwks_url=f"{base}/google/jwks" if p == "google" else "",
                issuers=(GOOGLE_ISSUER, "accounts.google.com") if p == "google" else (),
            )
            for p in PROVIDERS
        }

    def add_code(
        self,
        provider: str,
        code: str,
        profile: Mapping[str, Any],
        *,
        expect_verifier: str | None = None,
        expect_state: str | None = None,
        redirect_uri: str = REDIRECT_URI,
    ) -> None:
        """Register a single-use code; `profile` is the provider-native user payload.

        google: id_token claims (sub, email, email_verified, name, picture, ...);
        kakao: the whole /v2/user/me body; naver: the `response` object of /v1/nid/me.
        """
        self._grants[(provider, code)] = _Grant(dict(profile), redirect_uri, expect_verifier, expect_state)

    def google_id_token(
        self,
        claims_overrides: Mapping[str, Any] | None = None,
        *,
        forge: bool = False,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Mint a Google id_token; overrides set to None drop a claim; forge signs with a stray key."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": GOOGLE_ISSUER,
            "azp": client_id("google"),
            "aud": client_id("google"),
            "sub": "110169484474386276334",
            "email": "someone@gmail.com",
            "email_verified": True,
            "name": "Some One",
            "picture": "https://lh3.googleusercontent.com/a/photo",
            "iat": now,
            "exp": now + ID_TOKEN_TTL,
        }
        claims.update(claims_overrides or {})
        claims = {k: v for k, v in claims.items() if v is not None}
        current = self._keys[0]
        signer = _Key.generate().private if forge else current.private
        return jwt.encode(claims, signer, algorithm="RS256", headers={"kid": current.kid, **(headers or {})})

    def rotate_key(self, *, keep_old: bool = False) -> str:
        """Start signing with a new key (new kid); the JWKS drops the old key unless keep_old."""
        self._keys = [_Key.generate(), *(self._keys if keep_old else [])]
        return self._keys[0].kid

    def override(self, path: str, status: int, body: Any) -> None:
        """Answer the next request to `path` with `status` and `body` (JSON, or text when a str)."""
        self._overrides[path] = (status, body)

    def _overridden(self, request: web.Request) -> web.Response | None:
        hit = self._overrides.pop(request.path, None)
        if hit is None:
            return None
        status, body = hit
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if (hit := self._overridden(request)) is not None:
            return hit
        body = {"keys": [k.jwk() for k in self._keys]}
        return web.json_response(body, headers={"Cache-Control": JWKS_CACHE_CONTROL})

    async def _token(self, request: web.Request) -> web.Response:
        provider = request.path.split("/")[1]
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append((request.path, form))
        if (hit := self._overridden(request)) is not None:
            return hit
        credentials = (form.get("client_id"), form.get("client_secret"))
        if credentials != (client_id(provider), client_secret(provider)):
            return _token_error(provider, "invalid_client", "Unauthorized", 401)
        if form.get("grant_type") != "authorization_code":
            return _token_error(provider, "unsupported_grant_type", "Invalid grant_type", 400)
        grant = self._grants.pop((provider, form.get("code", "")), None)
        if grant is None:
            return _token_error(provider, "invalid_grant", "authorization code not found", 400)
        if provider != "naver" and form.get("redirect_uri") != grant.redirect_uri:
            return _token_error(provider, "invalid_grant", "redirect_uri mismatch", 400)
        if grant.verifier is not None and form.get("code_verifier") != grant.verifier:
            return _token_error(provider, "invalid_grant", "Invalid code verifier.", 400)
        if grant.state is not None and form.get("state") != grant.state:
            return _token_error(provider, "invalid_request", "no valid data in session", 400)
        access = secrets.token_urlsafe(24)
        self._access[access] = (provider, grant.profile)
        body: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": 3599}
        if provider == "google":
            body["id_token"] = self.google_id_token(grant.profile)
            body["scope"] = "openid email profile"
        else:
            body["refresh_token"] = secrets.token_urlsafe(24)
        return web.json_response(body)

    def _bearer(self, request: web.Request, provider: str) -> dict[str, Any] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        found = self._access.get(token) if scheme.lower() == "bearer" else None
        return found[1] if found is not None and found[0] == provider else None

    async def _kakao_me(self, request: web.Request) -> web.Response:
        if (hit := self._overridden(request)) is not None:
            return hit
        profile = self._bearer(request, "kakao")
        if profile is None:
            return web.json_response({"msg": "this access token does not exist", "code": -401}, status=401)
        return web.json_response(profile)

    async def _naver_me(self, request: web.Request) -> web.Response:
        if (hit := self._overridden(request)) is not None:
            return hit
        profile = self._bearer(request, "naver")
        if profile is None:
            return web.json_response({"resultcode": "024", "message": "Authentication failed"}, status=401)
        return web.json_response({"resultcode": "00", "message": "success", "response": profile})


def _token_error(provider: str, error: str, description: str, status: int) -> web.Response:
    """A provider-style OAuth token error: naver answers 200, kakao adds an error_code."""
    body: dict[str, Any] = {"error": error, "error_description": description}
    if provider == "naver":
        return web.json_response(body)
    if provider == "kakao":
        body["error_code"] = "KOE320" if error == "invalid_grant" else "KOE010"
    return web.json_response(body, status=status)
