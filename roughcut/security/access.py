"""Access-token checks that also know which sessions ended, so logout takes effect at once on every node."""

from __future__ import annotations

import time
from collections.abc import Iterable

from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.domain.ports import TokenIssuer

# The httpOnly cookie holding the access token in cookie mode (set by http/security.py, read by sockets too).
ACCESS_COOKIE = "__Host-access_token"


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

    def __init__(self, tokens: TokenIssuer, revoked: RevokedSessions) -> None:
        self._tokens = tokens
        self.revoked = revoked

    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        """Delegate to the signer."""
        return self._tokens.issue_access(user_id, session_id, auth_time)

    def verify_access(self, token: str) -> AccessClaims:
        """Verify the token, then refuse it if its session has ended (401 session_revoked)."""
        claims = self._tokens.verify_access(token)
        if claims.session_id in self.revoked:
            raise errors.SessionRevoked()
        return claims
