"""EdDSA access tokens, key rotation and the JWKS."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from roughcut.config import Secret, Settings
from roughcut.domain import errors
from roughcut.security.tokens import JwtTokens, KeyRing, load_keyring, public_pem, rotate_local_keys


def _tokens(ring: KeyRing, ttl: int = 900, aud: str = "roughcut") -> JwtTokens:
    return JwtTokens(ring, "roughcut", aud, ttl)


def test_issue_and_verify() -> None:
    ring = KeyRing.build(Ed25519PrivateKey.generate(), [])
    token, ttl = _tokens(ring).issue_access(42, 7, 1000)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == ring.kid
    claims = _tokens(ring).verify_access(token)
    assert (claims.user_id, claims.session_id, claims.auth_time) == (42, 7, 1000)
    assert ttl == 900
    assert claims.expires_at - time.time() == pytest.approx(900, abs=5)


def test_expired_wrong_audience_foreign_key_and_tampering() -> None:
    ring = KeyRing.build(Ed25519PrivateKey.generate(), [])
    expired, _ = _tokens(ring, ttl=-60).issue_access(1, 1, 0)
    with pytest.raises(errors.TokenExpired):
        _tokens(ring).verify_access(expired)
    other_aud, _ = _tokens(ring, aud="other").issue_access(1, 1, 0)
    with pytest.raises(errors.TokenInvalid):
        _tokens(ring).verify_access(other_aud)
    stranger = KeyRing.build(Ed25519PrivateKey.generate(), [])
    foreign, _ = _tokens(stranger).issue_access(1, 1, 0)
    with pytest.raises(errors.TokenInvalid):
        _tokens(ring).verify_access(foreign)
    good, _ = _tokens(ring).issue_access(1, 1, 0)
    head, body, sig = good.split(".")
    with pytest.raises(errors.TokenInvalid):
        _tokens(ring).verify_access(f"{head}.{body}x.{sig}")
    hs256 = jwt.encode(
        {
            "sub": "1",
            "sid": 1,
            "exp": time.time() + 60,
            "iat": time.time(),
            "jti": "x",
            "iss": "roughcut",
            "aud": "roughcut",
        },
        "s" * 32,
        algorithm="HS256",
        headers={"kid": ring.kid},
    )
    with pytest.raises(errors.TokenInvalid):
        _tokens(ring).verify_access(hs256)


def test_rotation_keeps_the_previous_key_published(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    old_ring = load_keyring(settings)
    assert load_keyring(settings).kid == old_ring.kid  # made once, then reused
    old_token, _ = _tokens(old_ring).issue_access(1, 1, 0)
    new_kid = rotate_local_keys(settings)
    ring = load_keyring(settings)
    assert ring.kid == new_kid != old_ring.kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new_kid, old_ring.kid]
    assert _tokens(ring).verify_access(old_token).user_id == 1
    for key in ring.jwks()["keys"]:
        assert key["kty"] == "OKP"
        assert key["crv"] == "Ed25519"
        assert key["alg"] == "EdDSA"
        assert "d" not in key


def test_keys_from_the_environment() -> None:
    from cryptography.hazmat.primitives import serialization

    current, previous = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    pem = current.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    settings = Settings(jwt_private_key=Secret(pem), jwt_previous_public_keys=(public_pem(previous.public_key()),))
    ring = load_keyring(settings)
    assert len(ring.public) == 2
    old_token, _ = _tokens(KeyRing.build(previous, [])).issue_access(3, 3, 0)
    assert _tokens(ring).verify_access(old_token).user_id == 3
