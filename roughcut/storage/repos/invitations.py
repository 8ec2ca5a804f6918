"""Project invitations: tokens stored hashed, one pending invitation per address and project."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from roughcut.domain import errors
from roughcut.domain.project_model import Invitation, InvitationStatus, Role, UserRef
from roughcut.storage import tables as t

INV, U = t.invitations, t.users
PENDING = InvitationStatus.PENDING.value


def _invitation(r: RowMapping) -> Invitation:
    inviter = UserRef(r["inviter_id"], r["inviter_nickname"]) if r["inviter_id"] is not None else None
    return Invitation(
        r["id"],
        r["project_id"],
        r["email"],
        Role(r["role"]),
        r["message"],
        inviter,
        r["created_at"],
        r["expires_at"],
        InvitationStatus(r["status"]),
        r["responded_at"],
    )


class SqlInvitations:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _one(self, *where: ColumnElement[bool]) -> Invitation | None:
        q = select(INV, U.c.nickname.label("inviter_nickname")).outerjoin(U, U.c.id == INV.c.inviter_id).where(*where)
        row = (await self._conn.execute(q)).mappings().first()
        return _invitation(row) if row else None

    async def add(
        self,
        project_id: int,
        email: str,
        role: Role,
        message: str,
        token_hash: str,
        inviter_id: int,
        now: datetime,
        expires_at: datetime,
    ) -> Invitation:
        q = (
            insert(INV)
            .values(
                project_id=project_id,
                email=email,
                role=role.value,
                message=message,
                token_hash=token_hash,
                inviter_id=inviter_id,
                created_at=now,
                expires_at=expires_at,
                status=PENDING,
            )
            .returning(INV.c.id)
        )
        try:
            new_id = (await self._conn.execute(q)).scalar_one()
        except IntegrityError:  # a concurrent invitation of the same address won the pending slot
            raise errors.Conflict("This address already has a pending invitation.") from None
        found = await self.get(new_id)
        assert found is not None
        return found

    async def get(self, invitation_id: int) -> Invitation | None:
        return await self._one(INV.c.id == invitation_id)

    async def by_token(self, token_hash: str) -> Invitation | None:
        return await self._one(INV.c.token_hash == token_hash)

    async def pending_for(self, project_id: int, email: str, now: datetime) -> Invitation | None:
        return await self._one(
            INV.c.project_id == project_id, INV.c.email == email, INV.c.status == PENDING, INV.c.expires_at > now
        )

    async def list_pending(
        self, project_id: int, now: datetime, after_id: int | None = None, limit: int | None = None
    ) -> list[Invitation]:
        # In id order: a resend renews created_at, and pages keyed on it would skip or repeat that invitation.
        q = (
            select(INV, U.c.nickname.label("inviter_nickname"))
            .outerjoin(U, U.c.id == INV.c.inviter_id)
            .where(INV.c.project_id == project_id, INV.c.status == PENDING, INV.c.expires_at > now)
            .order_by(INV.c.id)
            .limit(limit)
        )
        if after_id is not None:
            q = q.where(INV.c.id > after_id)
        return [_invitation(r) for r in (await self._conn.execute(q)).mappings()]

    async def set_status(self, invitation_id: int, status: InvitationStatus, now: datetime) -> bool:
        """Move a pending invitation to `status`; False when it was no longer pending."""
        q = (
            update(INV)
            .where(and_(INV.c.id == invitation_id, INV.c.status == PENDING))
            .values(status=status.value, responded_at=now)
        )
        return (await self._conn.execute(q)).rowcount == 1

    async def renew(self, invitation_id: int, token_hash: str, now: datetime, expires_at: datetime) -> Invitation:
        await self._conn.execute(
            update(INV)
            .where(INV.c.id == invitation_id)
            .values(token_hash=token_hash, expires_at=expires_at, created_at=now)
        )
        found = await self.get(invitation_id)
        assert found is not None
        return found

    async def expire_stale(self, project_id: int, email: str, now: datetime) -> None:
        """Mark a lapsed pending invitation expired, so a new one may be made for the address."""
        await self._conn.execute(
            update(INV)
            .where(
                INV.c.project_id == project_id, INV.c.email == email, INV.c.status == PENDING, INV.c.expires_at <= now
            )
            .values(status=InvitationStatus.EXPIRED.value, responded_at=now)
        )
