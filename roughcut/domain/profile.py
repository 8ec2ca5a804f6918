"""Profile use cases: read and change the caller's account, delete it after re-authentication."""

from __future__ import annotations

from datetime import timedelta

from roughcut.domain import errors
from roughcut.domain.accounts import Accounts, check_password_rules, clean_nickname
from roughcut.domain.events import USER_DELETED, DomainEvent
from roughcut.domain.model import User


async def get_me(acc: Accounts, user_id: int) -> User:
    """The caller's account."""
    async with acc.uow() as uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise errors.NotAuthenticated("The account no longer exists.")
    return user


async def update_me(
    acc: Accounts,
    user_id: int,
    *,
    nickname: str | None = None,
    avatar_url: str | None = None,
    clear_avatar: bool = False,
    current_password: str | None = None,
    new_password: str | None = None,
) -> User:
    """Change nickname, avatar, or the password (which needs the current one)."""
    now = acc.clock.now()
    changes: dict[str, object] = {}
    if nickname is not None:
        changes["nickname"] = clean_nickname(nickname)
    if avatar_url is not None or clear_avatar:
        changes["avatar_url"] = avatar_url
    async with acc.uow() as uow:
        user = await uow.users.get(user_id)
        if user is None:
            raise errors.NotAuthenticated("The account no longer exists.")
        if new_password is not None:
            check_password_rules(acc, new_password, "new_password")
            if user.password_hash is not None and (
                current_password is None or not acc.hasher.verify(user.password_hash, current_password)
            ):
                raise errors.ValidationFailed(fields={"current_password": ["Wrong password."]})
            changes["password_hash"] = acc.hasher.hash(new_password)
        if changes:
            user = await uow.users.update(user_id, now, **changes)
            await uow.commit()
    return user


async def delete_me(acc: Accounts, user_id: int, session_id: int, password: str | None) -> None:
    """Delete the account after re-authentication: the password, or a login in the last minutes."""
    now = acc.clock.now()
    async with acc.uow() as uow:
        user = await uow.users.get(user_id)
        session = await uow.sessions.get(session_id)
        if user is None or session is None:
            raise errors.NotAuthenticated()
        if password is not None and user.password_hash is not None:
            if not acc.hasher.verify(user.password_hash, password):
                raise errors.InvalidCredentials("The password is wrong.")
        elif now - session.created_at > timedelta(seconds=acc.policy.fresh_login):
            raise errors.ReauthenticationRequired()
        if await uow.projects.owned_count(user_id):
            raise errors.Conflict("Transfer or delete the projects you own first.")
        revoked = await uow.sessions.revoke_all(user_id, now)
        await uow.users.delete(user_id)
        uow.record(DomainEvent(USER_DELETED, {"user_id": user_id, "session_ids": revoked}, actor_id=user_id))
        await uow.commit()
