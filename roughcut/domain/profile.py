"""Profile use cases: read and change the caller's account, delete it after re-authentication."""

from __future__ import annotations

from datetime import timedelta

from roughcut.domain import errors
from roughcut.domain.account_model import UpdateMe, User
from roughcut.domain.accounts import Accounts, check_password_rules, clean_nickname
from roughcut.domain.commands import UNSET
from roughcut.domain.events import USER_DELETED, DomainEvent
from roughcut.domain.transactions import writes


async def get_me(acc: Accounts, user_id: int) -> User:
    """The caller's account."""
    async with acc.uow() as uow:
        user = await uow.users.get(user_id)
    if user is None:
        raise errors.NotAuthenticated("The account no longer exists.")
    return user


@writes
async def update_me(acc: Accounts, user_id: int, cmd: UpdateMe) -> User:
    """Change nickname, avatar, or the password (which needs the current one)."""
    now = acc.clock.now()
    updates: dict[str, object] = {}
    if cmd.nickname is not UNSET:
        updates["nickname"] = clean_nickname(cmd.nickname)
    if cmd.avatar_url is not UNSET:
        updates["avatar_url"] = cmd.avatar_url
    async with acc.uow() as uow:
        user = await uow.users.get(user_id)
        if user is None:
            raise errors.NotAuthenticated("The account no longer exists.")
        if cmd.new_password is not UNSET:
            check_password_rules(acc, cmd.new_password, "new_password")
            if user.password_hash is not None and (
                cmd.current_password is UNSET or not acc.hasher.verify(user.password_hash, cmd.current_password)
            ):
                raise errors.ValidationFailed(fields={"current_password": ["Wrong password."]})
            updates["password_hash"] = acc.hasher.hash(cmd.new_password)
        if updates:
            user = await uow.users.update(user_id, now, **updates)
            await uow.commit()
    return user


@writes
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
        uow.record(
            DomainEvent(
                USER_DELETED,
                {"user_id": user_id, "session_ids": revoked},
                actor_id=user_id,
                ended_sessions=tuple(revoked),
            )
        )
        await uow.commit()
