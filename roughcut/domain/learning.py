"""E-learning links: every signed-in user lists them; admins (a flag on users) manage them."""

from __future__ import annotations

from dataclasses import dataclass

from roughcut.domain import errors
from roughcut.domain.account_model import User
from roughcut.domain.accounts import Accounts, normalize_email
from roughcut.domain.commands import given
from roughcut.domain.learning_model import LearningLink, UpdateLearningLink
from roughcut.domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.transactions import writes

TITLE_MAX = 200
URL_MAX = 1024


@dataclass(frozen=True, slots=True)
class Directory:
    """The ports the `roughcut admin` command works with (it runs outside the server)."""

    uow: UnitOfWorkFactory
    clock: Clock


async def require_admin(uow: UnitOfWork, user_id: int) -> None:
    """Raise permission_denied unless the caller has the admin flag."""
    user = await uow.users.get(user_id)
    if user is None or not user.is_admin:
        raise errors.PermissionDenied("Only administrators manage this.")


async def list_learning_links(acc: Accounts, user_id: int, *, manage: bool = False) -> list[LearningLink]:
    """Every e-learning link, newest first; `manage` (the admin listing) requires the admin flag."""
    async with acc.uow() as uow:
        if manage:
            await require_admin(uow, user_id)
        return await uow.learning_links.list()


@writes
async def add_learning_link(acc: Accounts, user_id: int, url: str, title: str) -> LearningLink:
    """Add a link (admins only)."""
    async with acc.uow() as uow:
        await require_admin(uow, user_id)
        link = await uow.learning_links.add(url, title.strip(), acc.clock.now())
        await uow.commit()
    return link


@writes
async def update_learning_link(acc: Accounts, user_id: int, cmd: UpdateLearningLink) -> LearningLink:
    """Change a link's address or title (admins only)."""
    changes = given(cmd)
    if "title" in changes:
        changes["title"] = changes["title"].strip()
    async with acc.uow() as uow:
        await require_admin(uow, user_id)
        current = await uow.learning_links.get(cmd.link_id)
        if current is None:
            raise errors.NotFound("No such link.")
        if not changes:
            return current
        link = await uow.learning_links.update(cmd.link_id, acc.clock.now(), **changes)
        await uow.commit()
    return link


@writes
async def delete_learning_link(acc: Accounts, user_id: int, link_id: int) -> None:
    """Delete a link (admins only)."""
    async with acc.uow() as uow:
        await require_admin(uow, user_id)
        if await uow.learning_links.get(link_id) is None:
            raise errors.NotFound("No such link.")
        await uow.learning_links.delete(link_id)
        await uow.commit()


@writes
async def set_admin(acc: Directory, email: str, admin: bool) -> User:
    """Grant or revoke the admin flag of the account with this address (the `roughcut admin` command)."""
    email = normalize_email(email)
    async with acc.uow() as uow:
        user = await uow.users.by_email(email)
        if user is None:
            raise errors.NotFound("No account has this address.")
        if user.is_admin != admin:
            user = await uow.users.update(user.id, acc.clock.now(), is_admin=admin)
            await uow.commit()
    return user
