"""argon2id hashing and legacy Django PBKDF2 verification."""

from __future__ import annotations

import argon2

from roughcut.security.passwords import Passwords, django_pbkdf2

# The format Django's PBKDF2PasswordHasher writes: algorithm$iterations$salt$base64(sha256 pbkdf2).
DJANGO_VECTOR = django_pbkdf2("correct horse battery", "k8sP0sVq1GZbRkq3", 600_000)


def test_argon2id_round_trip() -> None:
    p = Passwords()
    stored = p.hash("a long password")
    assert stored.startswith("$argon2id$")
    assert p.verify(stored, "a long password")
    assert not p.verify(stored, "a long passworD")
    assert not p.needs_upgrade(stored)


def test_django_hash_verifies_and_needs_upgrade() -> None:
    p = Passwords()
    assert DJANGO_VECTOR.startswith("pbkdf2_sha256$600000$k8sP0sVq1GZbRkq3$")
    assert p.verify(DJANGO_VECTOR, "correct horse battery")
    assert not p.verify(DJANGO_VECTOR, "wrong horse battery")
    assert p.needs_upgrade(DJANGO_VECTOR)


def test_hash_computed_independently_verifies() -> None:
    # Built here with hashlib alone (not with our helper), for a non-ASCII password.
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.pbkdf2_hmac("sha256", "lètmein".encode(), b"seasalt", 260000)).decode()
    stored = f"pbkdf2_sha256$260000$seasalt${digest}"
    assert Passwords().verify(stored, "lètmein")


def test_malformed_and_absurd_hashes_are_refused() -> None:
    p = Passwords()
    assert not p.verify("pbkdf2_sha256$notanumber$salt$hash", "x")
    assert not p.verify("pbkdf2_sha256$99999999999$salt$hash", "x")
    assert not p.verify("md5$abc$def", "x")
    assert not p.verify("", "x")


def test_weaker_argon2_parameters_need_upgrade() -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert Passwords().needs_upgrade(weak)
    assert Passwords().verify(weak, "pw")
