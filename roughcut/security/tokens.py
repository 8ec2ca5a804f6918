"""Access tokens: EdDSA (Ed25519) JWTs with `kid`, verified by current and previous keys; the JWKS."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from roughcut.config import ConfigError, Settings
from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims

ALGORITHM = "EdDSA"
CLOCK_SKEW = 30  # seconds of leeway for exp/iat between nodes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(public: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint, used as `kid`."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The signing key and every public key still accepted (the previous one during rotation)."""

    private: Ed25519PrivateKey
    kid: str
    public: dict[str, Ed25519PublicKey]

    @classmethod
    def build(cls, private: Ed25519PrivateKey, previous: list[Ed25519PublicKey]) -> KeyRing:
        """A ring signing with `private` and accepting `previous` too."""
        kid = thumbprint(private.public_key())
        public = {thumbprint(k): k for k in previous}
        public[kid] = private.public_key()
        return cls(private, kid, public)

    def jwks(self) -> dict[str, Any]:
        """The public JWK set, current key first."""
        keys = []
        for kid in sorted(self.public, key=lambda k: k != self.kid):
            jwk = OKPAlgorithm.to_jwk(self.public[kid], as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": keys}


class JwtTokens:
    """The TokenIssuer port."""

    def __init__(self, ring: KeyRing, issuer: str, audience: str, ttl: int) -> None:
        self.ring = ring
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl

    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": session_id,
            "iat": now,
            "exp": now + self._ttl,
            "jti": uuid.uuid4().hex,
            "auth_time": auth_time,
        }
        token = jwt.encode(claims, self.ring.private, algorithm=ALGORITHM, headers={"kid": self.ring.kid})
        return token, self._ttl

    def verify_access(self, token: str) -> AccessClaims:
        """Check signature, issuer, audience and expiry; raise token_expired or token_invalid."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.ring.public.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise errors.TokenInvalid("Unknown signing key.")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_SKEW,
                options={"require": ["exp", "iat", "sub", "sid", "jti"]},
            )
            return AccessClaims(
                int(claims["sub"]),
                int(claims["sid"]),
                int(claims["exp"]),
                int(claims.get("auth_time", claims["iat"])),
                str(claims["jti"]),
            )
        except jwt.ExpiredSignatureError:
            raise errors.TokenExpired() from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise errors.TokenInvalid() from None


def _load_private(text: str, source: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except ValueError:
        raise ConfigError(f"{source}: not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{source}: expected an Ed25519 key")
    return key


def _load_public(text: str, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        raise ConfigError(f"{source}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{source}: expected an Ed25519 key")
    return key


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def public_pem(key: Ed25519PublicKey) -> str:
    """A public key as PEM text."""
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_keyring(settings: Settings) -> KeyRing:
    """Keys from JWT_PRIVATE_KEY / JWT_PREVIOUS_PUBLIC_KEYS, else from the data folder (made once)."""
    previous = [_load_public(k, "JWT_PREVIOUS_PUBLIC_KEYS") for k in settings.jwt_previous_public_keys]
    if settings.jwt_private_key:
        return KeyRing.build(_load_private(settings.jwt_private_key.value, "JWT_PRIVATE_KEY"), previous)
    folder = settings.data_dir / "keys"
    current = folder / "current.pem"
    if not current.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first; use theirs
            _write_private(current, Ed25519PrivateKey.generate())
    private = _load_private(current.read_text(), str(current))
    old = folder / "previous.pem"
    if old.exists():
        previous.append(_load_public(old.read_text(), str(old)))
    return KeyRing.build(private, previous)


def rotate_local_keys(settings: Settings) -> str:
    """Make a new signing key in the data folder; the old one stays published as `previous`. Returns the kid."""
    folder = settings.data_dir / "keys"
    current = folder / "current.pem"
    if current.exists():
        old = _load_private(current.read_text(), str(current))
        (folder / "previous.pem").write_text(public_pem(old.public_key()))
        current.unlink()
    new = Ed25519PrivateKey.generate()
    _write_private(current, new)
    return thumbprint(new.public_key())
