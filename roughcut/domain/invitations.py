"""Invitation use cases: invite by e-mail, manage pending invitations, preview, accept and decline by token."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from roughcut.domain import errors
from roughcut.domain.account_model import User
from roughcut.domain.accounts import normalize_email
from roughcut.domain.events import INVITATION_CREATED, MEMBER_JOINED, DomainEvent
from roughcut.domain.ports import UnitOfWork
from roughcut.domain.project_model import EDITORS, Invitation, InvitationStatus, Project, Role
from roughcut.domain.projects import Projects, require_role
from roughcut.domain.transactions import writes

INVITATION_TTL = timedelta(days=7)
TOKEN_BYTES = 32
INVITABLE_ROLES = frozenset({Role.MEMBER, Role.MANAGER})
CLOSED_MESSAGES = {
    InvitationStatus.ACCEPTED: "This invitation was already accepted.",
    InvitationStatus.DECLINED: "This invitation was declined.",
    InvitationStatus.REVOKED: "This invitation was revoked.",
    InvitationStatus.EXPIRED: "This invitation has expired.",
}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link(deps: Projects, token: str) -> str:
    return f"{deps.links_url}/invitations/{token}"


async def _project(uow: UnitOfWork, project_id: int) -> Project:
    project = await uow.projects.get(project_id)
    if project is None:
        raise errors.NotFound("No such project.")
    return project


async def _nickname(uow: UnitOfWork, user_id: int) -> str:
    user = await uow.users.get(user_id)
    return user.nickname if user is not None else "Someone"


async def _managed(uow: UnitOfWork, user_id: int, project_id: int, invitation_id: int) -> Invitation:
    """An invitation of a project the caller edits; one of another project is not found."""
    await require_role(uow, project_id, user_id, EDITORS)
    invitation = await uow.invitations.get(invitation_id)
    if invitation is None or invitation.project_id != project_id:
        raise errors.NotFound("No such invitation.")
    return invitation


async def _addressed(uow: UnitOfWork, user_id: int, token: str) -> tuple[Invitation, User]:
    """The invitation of `token` and the caller, who must own the invited address."""
    invitation = await uow.invitations.by_token(_digest(token))
    if invitation is None:
        raise errors.NotFound("No such invitation.")
    user = await uow.users.get(user_id)
    if user is None or user.email.lower() != invitation.email:
        raise errors.PermissionDenied("This invitation was sent to another e-mail address.")
    return invitation, user


def _require_open(invitation: Invitation, now: datetime) -> None:
    status = invitation.effective_status(now)
    if status is not InvitationStatus.PENDING:
        raise errors.Conflict(CLOSED_MESSAGES[status])


async def _answer(uow: UnitOfWork, invitation: Invitation, status: InvitationStatus, now: datetime) -> None:
    if not await uow.invitations.set_status(invitation.id, status, now):
        raise errors.Conflict("This invitation was answered or revoked meanwhile.")


async def _mail(deps: Projects, invitation: Invitation, project_name: str, inviter: str, token: str) -> None:
    # Header values must stay on one line whatever the names contain.
    subject = " ".join(f"{inviter} invited you to {project_name} on roughcut".split())
    note = f'\n{inviter} wrote:\n"{invitation.message}"\n' if invitation.message else ""
    text = (
        f'{inviter} invited you to join the project "{project_name}" on roughcut as {invitation.role.value}.\n'
        f"{note}\n"
        f"Open this link to accept or decline:\n{_link(deps, token)}\n\n"
        f"The link works once and expires on {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    await deps.mailer.send(invitation.email, subject, text)


@writes
async def invite(
    deps: Projects, user_id: int, project_id: int, email: str, role: Role = Role.MEMBER, message: str = ""
) -> Invitation:
    """Invite an address as member or manager (owner and managers); mails a single-use link."""
    if role not in INVITABLE_ROLES:
        raise errors.ValidationFailed(fields={"role": ["Invite as member or manager."]})
    email = normalize_email(email)
    now = deps.clock.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, EDITORS)
        project = await _project(uow, project_id)
        invitee = await uow.users.by_email(email)
        if invitee is not None and await uow.projects.role_of(project_id, invitee.id) is not None:
            raise errors.Conflict("This person is already in the project.")
        await uow.invitations.expire_stale(project_id, email, now)
        if await uow.invitations.pending_for(project_id, email, now) is not None:
            raise errors.Conflict("This address already has a pending invitation.")
        invitation = await uow.invitations.add(
            project_id, email, role, message, _digest(token), user_id, now, now + INVITATION_TTL
        )
        uow.record(
            DomainEvent(
                INVITATION_CREATED,
                {"invitation_id": invitation.id, "role": role.value},
                project_id=project_id,
                actor_id=user_id,
            )
        )
        inviter = await _nickname(uow, user_id)
        await uow.commit()
    await _mail(deps, invitation, project.name, inviter, token)
    return invitation


async def list_invitations(
    deps: Projects, user_id: int, project_id: int, after_id: int | None, limit: int
) -> list[Invitation]:
    """A page of the project's pending, unexpired invitations, oldest first (owner and managers)."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id, EDITORS)
        return await uow.invitations.list_pending(project_id, deps.clock.now(), after_id, limit)


@writes
async def revoke_invitation(deps: Projects, user_id: int, project_id: int, invitation_id: int) -> None:
    """Withdraw a pending invitation (owner and managers); its link stops working."""
    async with deps.uow() as uow:
        invitation = await _managed(uow, user_id, project_id, invitation_id)
        if not await uow.invitations.set_status(invitation.id, InvitationStatus.REVOKED, deps.clock.now()):
            raise errors.Conflict("Only a pending invitation can be revoked.")
        await uow.commit()


@writes
async def resend_invitation(deps: Projects, user_id: int, project_id: int, invitation_id: int) -> Invitation:
    """Mail a pending (or lapsed) invitation again with a new link and expiry; the old link stops working."""
    now = deps.clock.now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    async with deps.uow() as uow:
        invitation = await _managed(uow, user_id, project_id, invitation_id)
        if invitation.status is not InvitationStatus.PENDING:
            raise errors.Conflict("Only a pending invitation can be sent again.")
        project = await _project(uow, project_id)
        renewed = await uow.invitations.renew(invitation.id, _digest(token), now, now + INVITATION_TTL)
        inviter = await _nickname(uow, user_id)
        await uow.commit()
    await _mail(deps, renewed, project.name, inviter, token)
    return renewed


async def preview_invitation(deps: Projects, token: str) -> dict[str, Any]:
    """What a link invites to, without logging in: project, inviter, address, expiry, effective status."""
    async with deps.uow() as uow:
        invitation = await uow.invitations.by_token(_digest(token))
        if invitation is None:
            raise errors.NotFound("No such invitation.")
        project = await _project(uow, invitation.project_id)
    return {
        "project_name": project.name,
        "inviter": invitation.inviter,
        "email": invitation.email,
        "expires_at": invitation.expires_at,
        "status": invitation.effective_status(deps.clock.now()),
    }


@writes
async def accept_invitation(deps: Projects, user_id: int, token: str) -> int:
    """Join the project with the invited role (the invited address only); returns the project id."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        invitation, user = await _addressed(uow, user_id, token)
        _require_open(invitation, now)
        # The project row first, as every writer takes it (storage/uow.py); the caller is not a member yet.
        role = await uow.projects.role_of(invitation.project_id, user_id, lock=True)
        # Marking it then locks the invitation, so a concurrent accept of the same token fails here.
        await _answer(uow, invitation, InvitationStatus.ACCEPTED, now)
        if role is None:
            await uow.projects.add_member(invitation.project_id, user_id, invitation.role, now)
            uow.record(
                DomainEvent(
                    MEMBER_JOINED,
                    {"user_id": user_id, "nickname": user.nickname, "role": invitation.role.value},
                    project_id=invitation.project_id,
                    actor_id=user_id,
                )
            )
        await uow.commit()
    return invitation.project_id


@writes
async def decline_invitation(deps: Projects, user_id: int, token: str) -> None:
    """Turn an invitation down (the invited address only); its link stops working."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        invitation, _user = await _addressed(uow, user_id, token)
        _require_open(invitation, now)
        await _answer(uow, invitation, InvitationStatus.DECLINED, now)
        await uow.commit()
