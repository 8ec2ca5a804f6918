"""The verified-token cache of AccessVerifier: hits skip the signature check, never the revocation check."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.security.access import AccessVerifier, RevokedSessions
from roughcut.security.tokens import JwtTokens, KeyRing

TTL = 900


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSigner:
    """Tokens `user:session:exp`, refused once the shared clock passes `exp`; counts the verifications."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.verified = 0

    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        return f"{user_id}:{session_id}:{int(self.clock()) + TTL}", TTL

    def verify_access(self, token: str) -> AccessClaims:
        self.verified += 1
        user_id, session_id, exp = (int(x) for x in token.split(":"))
        if exp <= self.clock():
            raise errors.TokenExpired()
        return AccessClaims(user_id, session_id, exp, 0, "j")


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


def test_a_cached_token_answers_the_same_claims_without_verifying_again() -> None:
    signer = JwtTokens(KeyRing.build(Ed25519PrivateKey.generate(), []), "roughcut", "roughcut", TTL)
    verifier = AccessVerifier(signer, RevokedSessions(TTL))
    token, _ = verifier.issue_access(42, 7, 0)
    first = verifier.verify_access(token)
    assert verifier.verify_access(token) is first
    assert (first.user_id, first.session_id) == (42, 7)
    head, body, sig = token.split(".")
    # The first character's six bits are all signature (the last one's are partly padding): always a change.
    forged = ("B" if sig[0] == "A" else "A") + sig[1:]
    with pytest.raises(errors.TokenInvalid):  # another string is another key: verified, and refused
        verifier.verify_access(f"{head}.{body}.{forged}")


def test_an_expired_token_is_refused_even_though_it_was_cached(clock: Clock) -> None:
    signer = CountingSigner(clock)
    verifier = AccessVerifier(signer, RevokedSessions(TTL), clock=clock)
    token, _ = verifier.issue_access(1, 1, 0)
    verifier.verify_access(token)
    clock.now += TTL - 1
    verifier.verify_access(token)
    assert signer.verified == 1
    clock.now += 1  # now == exp
    with pytest.raises(errors.TokenExpired):
        verifier.verify_access(token)
    assert signer.verified == 2


def test_a_revoked_session_is_refused_after_its_token_was_cached(clock: Clock) -> None:
    verifier = AccessVerifier(CountingSigner(clock), RevokedSessions(TTL), clock=clock)
    token, _ = verifier.issue_access(1, 5, 0)
    other, _ = verifier.issue_access(2, 6, 0)
    verifier.verify_access(token)
    verifier.verify_access(other)
    verifier.revoked.add([5])
    with pytest.raises(errors.SessionRevoked):
        verifier.verify_access(token)
    with pytest.raises(errors.SessionRevoked):  # every call, not only the first after revocation
        verifier.verify_access(token)
    assert verifier.verify_access(other).session_id == 6


def test_the_cache_is_bounded_and_evicts_the_oldest(clock: Clock) -> None:
    signer = CountingSigner(clock)
    verifier = AccessVerifier(signer, RevokedSessions(TTL), cache_size=3, clock=clock)
    tokens = [verifier.issue_access(user, user, 0)[0] for user in range(1, 5)]
    for token in tokens:
        verifier.verify_access(token)
    assert signer.verified == 4
    for token in tokens[1:]:  # the three newest are still remembered
        verifier.verify_access(token)
    assert signer.verified == 4
    verifier.verify_access(tokens[0])  # the oldest was evicted: verified again
    assert signer.verified == 5


def test_a_socket_checks_its_token_without_filling_the_cache_but_still_reads_it(clock: Clock) -> None:
    signer = CountingSigner(clock)
    verifier = AccessVerifier(signer, RevokedSessions(TTL), clock=clock)
    once = verifier.once()
    socket_token, _ = verifier.issue_access(1, 1, 0)
    rest_token, _ = verifier.issue_access(2, 2, 0)
    once.verify_access(socket_token)
    once.verify_access(socket_token)
    assert signer.verified == 2  # not remembered: verified each time
    verifier.verify_access(rest_token)
    assert once.verify_access(rest_token).user_id == 2 and signer.verified == 3  # what REST cached is used
    verifier.revoked.add([1])
    with pytest.raises(errors.SessionRevoked):
        once.verify_access(socket_token)
