"""Users, social identities, e-mail codes, sessions and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from roughcut.domain.account_model import (
    AuthSession,
    CodePurpose,
    EmailCode,
    LoginMethod,
    NewUser,
    RefreshToken,
    User,
)
from roughcut.storage import tables as t


def _user(r: RowMapping) -> User:
    return User(
        r["id"],
        r["email"],
        r["nickname"],
        r["password_hash"],
        LoginMethod(r["login_method"]),
        r["avatar_url"],
        r["created_at"],
        r["updated_at"],
        r["is_admin"],
    )


def _session(r: RowMapping) -> AuthSession:
    return AuthSession(
        r["id"],
        r["user_id"],
        r["created_at"],
        r["last_used_at"],
        r["idle_expires_at"],
        r["absolute_expires_at"],
        r["revoked_at"],
        r["user_agent"],
        r["ip"],
    )


class SqlUsers:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def _one(self, q: Any) -> User | None:
        row = (await self._conn.execute(q)).mappings().first()
        return _user(row) if row else None

    async def get(self, user_id: int) -> User | None:
        return await self._one(select(t.users).where(t.users.c.id == user_id))

    async def by_email(self, email: str) -> User | None:
        return await self._one(select(t.users).where(t.users.c.email == email))

    async def add(self, user: NewUser) -> User:
        values = {
            "email": user.email,
            "nickname": user.nickname,
            "password_hash": user.password_hash,
            "login_method": user.login_method.value,
            "avatar_url": user.avatar_url,
            "created_at": user.created_at,
            "updated_at": user.created_at,
        }
        row = (await self._conn.execute(insert(t.users).values(values).returning(*t.users.c))).mappings().one()
        return _user(row)

    async def update(self, user_id: int, now: datetime, **fields: Any) -> User:
        q = update(t.users).where(t.users.c.id == user_id).values(updated_at=now, **fields).returning(*t.users.c)
        return _user((await self._conn.execute(q)).mappings().one())

    async def delete(self, user_id: int) -> None:
        await self._conn.execute(delete(t.users).where(t.users.c.id == user_id))

    async def by_social(self, provider: str, subject: str) -> User | None:
        s = t.social_identities
        q = select(t.users).join(s, s.c.user_id == t.users.c.id).where(s.c.provider == provider, s.c.subject == subject)
        return await self._one(q)

    async def link_social(self, user_id: int, provider: str, subject: str, now: datetime) -> None:
        await self._conn.execute(
            insert(t.social_identities).values(provider=provider, subject=subject, user_id=user_id, created_at=now)
        )


class SqlEmailCodes:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def sent_since(self, email: str, since: datetime) -> list[datetime]:
        c = t.email_codes.c
        q = select(c.created_at).where(c.email == email, c.created_at > since)
        return list((await self._conn.execute(q)).scalars())

    async def add(self, email: str, purpose: CodePurpose, code_hash: str, now: datetime, expires_at: datetime) -> None:
        await self._conn.execute(
            insert(t.email_codes).values(
                email=email,
                purpose=purpose.value,
                code_hash=code_hash,
                created_at=now,
                expires_at=expires_at,
                attempts=0,
            )
        )

    async def latest(self, email: str, purpose: CodePurpose) -> EmailCode | None:
        c = t.email_codes.c
        q = (
            select(t.email_codes)
            .where(c.email == email, c.purpose == purpose.value)
            .order_by(c.created_at.desc(), c.id.desc())
            .limit(1)
        )
        r = (await self._conn.execute(q)).mappings().first()
        if r is None:
            return None
        return EmailCode(
            r["id"],
            r["email"],
            CodePurpose(r["purpose"]),
            r["code_hash"],
            r["created_at"],
            r["expires_at"],
            r["attempts"],
            r["verified_at"],
        )

    async def count_failure(self, code_id: int) -> None:
        c = t.email_codes.c
        await self._conn.execute(update(t.email_codes).where(c.id == code_id).values(attempts=c.attempts + 1))

    async def mark_verified(self, code_id: int, token_hash: str, now: datetime, token_expires_at: datetime) -> None:
        await self._conn.execute(
            update(t.email_codes)
            .where(t.email_codes.c.id == code_id)
            .values(verified_at=now, token_hash=token_hash, token_expires_at=token_expires_at)
        )

    async def consume_token(self, email: str, purpose: CodePurpose, token_hash: str, now: datetime) -> bool:
        c = t.email_codes.c
        q = (
            update(t.email_codes)
            .where(
                c.token_hash == token_hash,
                c.email == email,
                c.purpose == purpose.value,
                c.token_used_at.is_(None),
                c.token_expires_at > now,
            )
            .values(token_used_at=now)
        )
        return (await self._conn.execute(q)).rowcount == 1


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def create(
        self,
        user_id: int,
        now: datetime,
        idle_expires_at: datetime,
        absolute_expires_at: datetime,
        user_agent: str,
        ip: str,
    ) -> AuthSession:
        q = (
            insert(t.auth_sessions)
            .values(
                user_id=user_id,
                created_at=now,
                last_used_at=now,
                idle_expires_at=idle_expires_at,
                absolute_expires_at=absolute_expires_at,
                user_agent=user_agent,
                ip=ip,
            )
            .returning(*t.auth_sessions.c)
        )
        return _session((await self._conn.execute(q)).mappings().one())

    async def get(self, session_id: int) -> AuthSession | None:
        q = select(t.auth_sessions).where(t.auth_sessions.c.id == session_id)
        row = (await self._conn.execute(q)).mappings().first()
        return _session(row) if row else None

    async def list_alive(self, user_id: int, now: datetime, before_id: int | None, limit: int) -> list[AuthSession]:
        # Newest sign-in first, by id: last_used_at moves with every refresh, so pages keyed on it would skip
        # or repeat a session that was used between two pages.
        c = t.auth_sessions.c
        q = (
            select(t.auth_sessions)
            .where(c.user_id == user_id, c.revoked_at.is_(None), c.idle_expires_at > now, c.absolute_expires_at > now)
            .order_by(c.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            q = q.where(c.id < before_id)
        return [_session(r) for r in (await self._conn.execute(q)).mappings()]

    async def touch(self, session_id: int, now: datetime, idle_expires_at: datetime) -> None:
        await self._conn.execute(
            update(t.auth_sessions)
            .where(t.auth_sessions.c.id == session_id)
            .values(last_used_at=now, idle_expires_at=idle_expires_at)
        )

    async def revoke(self, session_id: int, now: datetime) -> bool:
        c = t.auth_sessions.c
        q = update(t.auth_sessions).where(c.id == session_id, c.revoked_at.is_(None)).values(revoked_at=now)
        return (await self._conn.execute(q)).rowcount == 1

    async def revoke_all(self, user_id: int, now: datetime) -> list[int]:
        c = t.auth_sessions.c
        q = (
            update(t.auth_sessions)
            .where(c.user_id == user_id, c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(c.id)
        )
        return sorted((await self._conn.execute(q)).scalars())

    async def add_refresh(self, session_id: int, token_hash: str, now: datetime) -> None:
        await self._conn.execute(
            insert(t.refresh_tokens).values(token_hash=token_hash, session_id=session_id, issued_at=now)
        )

    async def find_refresh(self, token_hash: str) -> RefreshToken | None:
        q = select(t.refresh_tokens).where(t.refresh_tokens.c.token_hash == token_hash)
        r = (await self._conn.execute(q)).mappings().first()
        return RefreshToken(r["session_id"], r["token_hash"], r["issued_at"], r["rotated_at"]) if r else None

    async def rotate_refresh(self, token_hash: str, now: datetime) -> bool:
        c = t.refresh_tokens.c
        q = update(t.refresh_tokens).where(c.token_hash == token_hash, c.rotated_at.is_(None)).values(rotated_at=now)
        return (await self._conn.execute(q)).rowcount == 1


async def recently_revoked(engine: AsyncEngine, since: datetime) -> list[int]:
    """Sessions revoked after `since` (a new node learns the ends its peers saw before it started)."""
    q = select(t.auth_sessions.c.id).where(t.auth_sessions.c.revoked_at > since)
    async with engine.connect() as conn:
        return list((await conn.execute(q)).scalars())
