"""Access-token checks that also know which sessions ended, so logout takes effect at once on every node.

A verified token is remembered until its `exp` (keyed by the whole token string, so a changed byte is another
key and is verified afresh): checking an Ed25519 signature and the claims cost more CPU than the rest of a
cached read. What can change during a token's life, its session ending, is checked on every call, after the
lookup. The signing keys are loaded once at start, so a remembered verdict cannot go stale with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.domain.ports import TokenIssuer

# The httpOnly cookie holding the access token in cookie mode (set by http/security.py, read by sockets too).
ACCESS_COOKIE = "__Host-access_token"
# Verified tokens remembered at most: a few MB, and more than the live tokens of one node's callers.
TOKEN_CACHE_SIZE = 10_000


class RevokedSessions:
    """Sessions ended within the last `ttl` seconds: the only ones whose access tokens may still be live."""

    def __init__(self, ttl: float) -> None:
        self._ttl = ttl
        self._until: dict[int, float] = {}

    def add(self, session_ids: Iterable[int]) -> None:
        """Remember sessions that ended now; forget those whose tokens have all expired."""
        now = time.monotonic()
        if len(self._until) > 1000:
            self._until = {k: v for k, v in self._until.items() if v > now}
        for session_id in session_ids:
            self._until[session_id] = now + self._ttl

    def __contains__(self, session_id: object) -> bool:
        until = self._until.get(session_id)  # type: ignore[call-overload]
        return until is not None and until > time.monotonic()


class AccessVerifier:
    """The TokenIssuer port with a revocation check: a token of an ended session is refused."""

    def __init__(
        self,
        tokens: TokenIssuer,
        revoked: RevokedSessions,
        *,
        cache_size: int = TOKEN_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tokens
        self.revoked = revoked
        self._cache_size = cache_size
        self._clock = clock  # wall-clock seconds, as `exp` is
        self._verified: dict[str, AccessClaims] = {}  # insertion order: the oldest is evicted first

    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        """Delegate to the signer."""
        return self._tokens.issue_access(user_id, session_id, auth_time)

    def verify_access(self, token: str, *, remember: bool = True) -> AccessClaims:
        """Verify the token (or find it verified and unexpired), then refuse it if its session has ended
        (401 session_revoked). `remember=False` keeps a token verified afresh out of the cache."""
        claims = self._verified.get(token)
        if claims is None or claims.expires_at <= self._clock():
            claims = self._verify(token, remember)
        if claims.session_id in self.revoked:
            raise errors.SessionRevoked()
        return claims

    def once(self) -> TokenIssuer:
        """This verifier for callers that check a token once per connection (sockets): what they verify is
        not remembered, as nothing would read it again (it would cost ~1 KB per idle socket)."""
        return _Once(self)

    def _verify(self, token: str, remember: bool) -> AccessClaims:
        self._verified.pop(token, None)
        claims = self._tokens.verify_access(token)  # raises for a bad or expired token: nothing is kept
        if remember and claims.expires_at > self._clock():  # past `exp` but within the leeway: not kept
            if len(self._verified) >= self._cache_size:
                # Tokens arrive roughly in issue order and share one lifetime: the oldest expires first.
                del self._verified[next(iter(self._verified))]
            self._verified[token] = claims
        return claims


class _Once:
    """AccessVerifier.once()."""

    def __init__(self, verifier: AccessVerifier) -> None:
        self._verifier = verifier

    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        return self._verifier.issue_access(user_id, session_id, auth_time)

    def verify_access(self, token: str) -> AccessClaims:
        return self._verifier.verify_access(token, remember=False)
