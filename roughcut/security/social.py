"""Server-side social login: OAuth code exchange and Google id_token checks for google, kakao, naver."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp
import jwt

from roughcut.config.settings import SocialProvider
from roughcut.domain.errors import (
    NotFound,
    ProviderUnavailable,
    SocialEmailUnverified,
    SocialLoginFailed,
    ValidationFailed,
)

log = logging.getLogger(__name__)

GOOGLE = "google"
KAKAO = "kakao"
NAVER = "naver"
SUPPORTED_PROVIDERS = frozenset({GOOGLE, KAKAO, NAVER})

HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)
GOOGLE_ALGORITHM = "RS256"
GOOGLE_DEFAULT_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
ID_TOKEN_LEEWAY_SECONDS = 60
ID_TOKEN_REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]
JWKS_DEFAULT_TTL_SECONDS = 3600
JWKS_MAX_TTL_SECONDS = 24 * 3600
JWKS_REFETCH_COOLDOWN_SECONDS = 30.0
JWKS_RETRY_SECONDS = 60
NAVER_SUCCESS = "00"
SERVER_ERROR_STATUS = 500
TOO_MANY_REQUESTS = 429
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
_NO_CACHE = re.compile(r"\bno-(?:cache|store)\b", re.IGNORECASE)
_JSON_HEADERS = {"Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class SocialProfile:
    """What a provider told us about the person who signed in."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    nickname: str
    avatar_url: str | None


@dataclass(frozen=True, slots=True)
class _KeySet:
    keys: Mapping[str, jwt.PyJWK]
    fetched_at: float
    expires_at: float


class SocialAuthenticator:
    """Turns an authorization code (or a Google id_token) into a verified SocialProfile."""

    def __init__(
        self,
        providers: Mapping[str, SocialProvider],
        http: aiohttp.ClientSession,
        *,
        jwks_refetch_cooldown: float = JWKS_REFETCH_COOLDOWN_SECONDS,
    ) -> None:
        self._providers = dict(providers)
        self._http = http
        self._refetch_cooldown = jwks_refetch_cooldown
        self._jwks: dict[str, _KeySet] = {}
        self._jwks_lock = asyncio.Lock()

    async def authenticate(
        self,
        provider: str,
        *,
        code: str | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
        code_verifier: str | None = None,
        id_token: str | None = None,
    ) -> SocialProfile:
        """Exchange a code (or check a Google id_token) and return the provider's profile."""
        config = self._providers.get(provider)
        if provider not in SUPPORTED_PROVIDERS or config is None:
            raise NotFound("Unknown sign-in provider.")
        if id_token is not None:
            if provider != GOOGLE:
                raise ValidationFailed(fields={"id_token": ["Only Google accepts an id_token."]})
            return _google_profile(await self._verify_google_id_token(config, id_token))
        if not code:
            raise ValidationFailed(fields={"code": ["An authorization code is required."]})
        if provider == NAVER and not state:
            raise ValidationFailed(fields={"state": ["Naver requires the state parameter."]})
        tokens = await self._exchange_code(provider, config, code, redirect_uri, state, code_verifier)
        if provider == GOOGLE:
            raw_id_token = tokens.get("id_token")
            if not isinstance(raw_id_token, str):
                raise SocialLoginFailed()
            return _google_profile(await self._verify_google_id_token(config, raw_id_token))
        access_token = tokens.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise SocialLoginFailed()
        body = await self._userinfo(provider, config, access_token)
        return _kakao_profile(body) if provider == KAKAO else _naver_profile(body)

    async def _exchange_code(
        self,
        provider: str,
        config: SocialProvider,
        code: str,
        redirect_uri: str | None,
        state: str | None,
        code_verifier: str | None,
    ) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "client_id": config.client_id,
            "client_secret": config.client_secret.value,
            "code": code,
        }
        optional = {"redirect_uri": redirect_uri, "code_verifier": code_verifier, "state": state}
        form.update({k: v for k, v in optional.items() if v})
        body, status, _ = await self._fetch_json("POST", provider, config.token_url, data=form)
        if status >= 400 or "error" in body or "error_code" in body:
            _refused(provider, "token", status, body)
        return body

    async def _userinfo(self, provider: str, config: SocialProvider, access_token: str) -> dict[str, Any]:
        headers = {**_JSON_HEADERS, "Authorization": f"Bearer {access_token}"}
        body, status, _ = await self._fetch_json("GET", provider, config.userinfo_url, headers=headers)
        if status >= 400:
            _refused(provider, "userinfo", status, body)
        return body

    async def _fetch_json(
        self,
        method: str,
        provider: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, Any], int, str]:
        """Send one request; return (JSON object, status, Cache-Control) or raise ProviderUnavailable."""
        if not url:
            log.warning("social provider %s has no endpoint configured", provider)
            raise ProviderUnavailable()
        try:
            async with self._http.request(
                method, url, data=data, headers=headers or _JSON_HEADERS, timeout=HTTP_TIMEOUT
            ) as resp:
                status = resp.status
                cache_control = resp.headers.get("Cache-Control", "")
                if status >= SERVER_ERROR_STATUS or status == TOO_MANY_REQUESTS:
                    log.warning("social provider %s answered HTTP %s", provider, status)
                    raise ProviderUnavailable()
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("social provider %s unreachable: %s", provider, type(exc).__name__)
            raise ProviderUnavailable() from None
        if not isinstance(body, dict):
            if status < 400:
                log.warning("social provider %s sent a non-JSON-object body", provider)
                raise ProviderUnavailable()
            body = {}
        return body, status, cache_control

    async def _verify_google_id_token(self, config: SocialProvider, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SocialLoginFailed() from None
        kid = header.get("kid")
        if header.get("alg") != GOOGLE_ALGORITHM or not isinstance(kid, str):
            raise SocialLoginFailed()
        key = await self._google_key(config, kid)
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[GOOGLE_ALGORITHM],
                audience=config.client_id,
                issuer=config.issuers or GOOGLE_DEFAULT_ISSUERS,
                leeway=ID_TOKEN_LEEWAY_SECONDS,
                options={"require": ID_TOKEN_REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError as exc:
            log.info("google id_token rejected: %s", type(exc).__name__)
            raise SocialLoginFailed() from None

    async def _google_key(self, config: SocialProvider, kid: str) -> jwt.PyJWK:
        """The signing key for `kid`, from the cached JWKS, refetched when stale or unknown."""
        url = config.jwks_url
        async with self._jwks_lock:
            cached = self._jwks.get(url)
            now = time.monotonic()
            if cached is None or now >= cached.expires_at:
                cached = await self._refresh_jwks(url, cached)
            elif kid not in cached.keys and now - cached.fetched_at >= self._refetch_cooldown:
                cached = await self._refresh_jwks(url, None)
        key = cached.keys.get(kid)
        if key is None:
            log.info("google id_token signed with an unknown key")
            raise SocialLoginFailed()
        return key

    async def _refresh_jwks(self, url: str, stale: _KeySet | None) -> _KeySet:
        """Fetch the JWKS; on failure keep serving `stale` keys for a short while, if any."""
        try:
            body, status, cache_control = await self._fetch_json("GET", GOOGLE, url)
            keys = _parse_jwks(body) if status < 400 else {}
        except ProviderUnavailable:
            keys, cache_control = {}, ""
        now = time.monotonic()
        if not keys:
            log.warning("google JWKS unavailable or empty")
            if stale is None:
                raise ProviderUnavailable()
            keyset = _KeySet(stale.keys, stale.fetched_at, now + JWKS_RETRY_SECONDS)
        else:
            keyset = _KeySet(keys, now, now + _cache_ttl(cache_control))
        self._jwks[url] = keyset
        return keyset


def _parse_jwks(body: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable RS256 signing keys of a JWKS document, by kid."""
    keys: dict[str, jwt.PyJWK] = {}
    entries = body.get("keys")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("alg", GOOGLE_ALGORITHM) != GOOGLE_ALGORITHM:
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=GOOGLE_ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError):
            log.warning("skipping an unusable key in the google JWKS")
    return keys


def _cache_ttl(cache_control: str) -> float:
    """Seconds to keep a JWKS, honouring Cache-Control max-age (default one hour)."""
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return float(JWKS_DEFAULT_TTL_SECONDS)
    return float(min(int(match.group(1)), JWKS_MAX_TTL_SECONDS))


def _refused(provider: str, step: str, status: int, body: Mapping[str, Any]) -> NoReturn:
    """Log the provider's error code (never its payload) and raise SocialLoginFailed."""
    error = body.get("error_code") or body.get("error") or body.get("code") or body.get("resultcode")
    log.info("social provider %s refused %s: HTTP %s %s", provider, step, status, str(error)[:64])
    raise SocialLoginFailed()


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _profile(
    provider: str, subject: object, email: object, verified: bool, nickname: str, avatar: object
) -> SocialProfile:
    """Normalise one provider's fields into a SocialProfile; no e-mail means no account."""
    if isinstance(subject, bool) or not isinstance(subject, str | int) or str(subject) == "":
        raise SocialLoginFailed()
    address = _text(email).lower()
    if not address:
        raise SocialEmailUnverified()
    return SocialProfile(
        provider=provider,
        subject=str(subject),
        email=address,
        email_verified=verified,
        nickname=nickname or address.split("@", 1)[0],
        avatar_url=_text(avatar) or None,
    )


def _google_profile(claims: Mapping[str, Any]) -> SocialProfile:
    """Profile from verified Google id_token claims."""
    raw = claims.get("email_verified")
    verified = raw is True or (isinstance(raw, str) and raw.lower() == "true")
    name = _text(claims.get("name")) or _text(claims.get("given_name"))
    return _profile(GOOGLE, claims.get("sub"), claims.get("email"), verified, name, claims.get("picture"))


def _kakao_profile(body: Mapping[str, Any]) -> SocialProfile:
    """Profile from Kakao's /v2/user/me answer."""
    account = body.get("kakao_account")
    account = account if isinstance(account, dict) else {}
    profile = account.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    legacy = body.get("properties")
    legacy = legacy if isinstance(legacy, dict) else {}
    verified = account.get("is_email_valid") is True and account.get("is_email_verified") is True
    nickname = _text(profile.get("nickname")) or _text(legacy.get("nickname"))
    avatar = None if profile.get("is_default_image") is True else profile.get("profile_image_url")
    return _profile(KAKAO, body.get("id"), account.get("email"), verified, nickname, avatar)


def _naver_profile(body: Mapping[str, Any]) -> SocialProfile:
    """Profile from Naver's /v1/nid/me answer; Naver only releases confirmed addresses."""
    if body.get("resultcode") != NAVER_SUCCESS:
        _refused(NAVER, "userinfo", 200, body)
    inner = body.get("response")
    inner = inner if isinstance(inner, dict) else {}
    email = _text(inner.get("email"))
    nickname = _text(inner.get("nickname")) or _text(inner.get("name"))
    return _profile(NAVER, inner.get("id"), email, bool(email), nickname, inner.get("profile_image"))
