"""Password hashing: argon2id, and verification of legacy Django PBKDF2 hashes (upgraded at next login)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

DJANGO_PBKDF2 = "pbkdf2_sha256"
# Django's own ceiling is about 1.2M rounds; refuse absurd counts that would stall the event loop.
MAX_LEGACY_ITERATIONS = 2_000_000


class Passwords:
    """The PasswordHasher port: argon2id (RFC 9106 defaults of argon2-cffi)."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._argon = hasher or argon2.PasswordHasher()

    def hash(self, password: str) -> str:
        """An argon2id hash of `password`."""
        return self._argon.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """True when `password` matches an argon2 or a Django `pbkdf2_sha256$...` hash."""
        if stored.startswith(DJANGO_PBKDF2 + "$"):
            return _verify_django(stored, password)
        try:
            return self._argon.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_upgrade(self, stored: str) -> bool:
        """True for legacy hashes and for argon2 hashes made with weaker parameters."""
        if not stored.startswith("$argon2id$"):
            return True
        return self._argon.check_needs_rehash(stored)


def _verify_django(stored: str, password: str) -> bool:
    try:
        _algo, iterations_s, salt, expected = stored.split("$", 3)
        iterations = int(iterations_s)
    except ValueError:
        return False
    if not 0 < iterations <= MAX_LEGACY_ITERATIONS:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return hmac.compare_digest(base64.b64encode(digest).decode("ascii"), expected)


def django_pbkdf2(password: str, salt: str, iterations: int = 600_000) -> str:
    """Make a hash the way Django does (for tests and imports of legacy users)."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"{DJANGO_PBKDF2}${iterations}${salt}${base64.b64encode(digest).decode('ascii')}"
