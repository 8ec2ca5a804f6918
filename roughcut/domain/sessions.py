"""Session use cases: refresh-token rotation with reuse detection, logout, listing and revoking sessions."""

from __future__ import annotations

from datetime import datetime, timedelta

from roughcut.domain import errors
from roughcut.domain.account_model import AuthSession, TokenPair
from roughcut.domain.accounts import Accounts, digest, issue_pair
from roughcut.domain.events import SESSION_REVOKED, DomainEvent
from roughcut.domain.ports import UnitOfWork
from roughcut.domain.transactions import writes


@writes
async def refresh(acc: Accounts, refresh_token: str) -> TokenPair:
    """Rotate a refresh token. A token already rotated revokes its whole session (RFC 9700 §4.14.2)."""
    now = acc.clock.now()
    hashed = digest(refresh_token)
    async with acc.uow() as uow:
        token = await uow.sessions.find_refresh(hashed)
        if token is None:
            raise errors.TokenInvalid()
        session = await uow.sessions.get(token.session_id)
        if session is None or session.revoked_at is not None:
            raise errors.SessionRevoked()
        if token.rotated_at is None and not session.alive(now):
            raise errors.TokenExpired("The session has expired; log in again.")
        # The conditional update makes two concurrent uses of one token race safely: one wins.
        if token.rotated_at is not None or not await uow.sessions.rotate_refresh(hashed, now):
            await _revoke(uow, session.user_id, session.id, now, reason="refresh_token_reused")
            await uow.commit()
            raise errors.RefreshTokenReused()
        user = await uow.users.get(session.user_id)
        if user is None:
            raise errors.SessionRevoked()
        idle = min(now + timedelta(seconds=acc.policy.refresh_idle_ttl), session.absolute_expires_at)
        await uow.sessions.touch(session.id, now, idle)
        pair = await issue_pair(acc, uow, user, session, now)
        await uow.commit()
    return pair


async def _revoke(uow: UnitOfWork, user_id: int, session_id: int, now: datetime, reason: str) -> None:
    if await uow.sessions.revoke(session_id, now):
        uow.record(
            DomainEvent(
                SESSION_REVOKED,
                {"user_id": user_id, "session_id": session_id, "reason": reason},
                actor_id=user_id,
                ended_sessions=(session_id,),
            )
        )


@writes
async def logout(acc: Accounts, user_id: int, session_id: int) -> None:
    """End the caller's session: its refresh family dies."""
    async with acc.uow() as uow:
        await _revoke(uow, user_id, session_id, acc.clock.now(), reason="logout")
        await uow.commit()


async def list_sessions(acc: Accounts, user_id: int, before_id: int | None, limit: int) -> list[AuthSession]:
    """A page of the user's live sessions, newest sign-in first."""
    async with acc.uow() as uow:
        return await uow.sessions.list_alive(user_id, acc.clock.now(), before_id, limit)


@writes
async def revoke_session(acc: Accounts, user_id: int, session_id: int) -> None:
    """Revoke one of the caller's own sessions; another user's session is not found."""
    async with acc.uow() as uow:
        session = await uow.sessions.get(session_id)
        if session is None or session.user_id != user_id:
            raise errors.NotFound("No such session.")
        await _revoke(uow, user_id, session_id, acc.clock.now(), reason="revoked")
        await uow.commit()
