"""In-memory adapters of the account ports: users, e-mail codes, sessions, personal memos; and the account helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from roughcut.domain.account_model import (
    AccessClaims,
    AuthSession,
    CodePurpose,
    EmailCode,
    Memo,
    NewUser,
    RefreshToken,
    User,
)
from tests.unit.fakes.store import Store


class PlainHasher:
    """Reversible 'hash' so tests run in microseconds; the real one is tested on its own."""

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, stored: str, password: str) -> bool:
        return stored == "plain$" + password

    def needs_upgrade(self, stored: str) -> bool:
        return not stored.startswith("plain$")


class FakeTokens:
    def issue_access(self, user_id: int, session_id: int, auth_time: int) -> tuple[str, int]:
        return f"access:{user_id}:{session_id}", 900

    def verify_access(self, token: str) -> AccessClaims:
        _, user_id, session_id = token.split(":")
        return AccessClaims(int(user_id), int(session_id), 0, 0, "j")


class Outbox:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, to: str, subject: str, text: str) -> None:
        self.sent.append((to, subject, text))


class FakeUsers:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def get(self, user_id: int) -> User | None:
        return self.s.users.get(user_id)

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.s.users.values() if u.email == email), None)

    async def add(self, user: NewUser) -> User:
        new = User(
            next(self.s.ids),
            user.email,
            user.nickname,
            user.password_hash,
            user.login_method,
            user.avatar_url,
            user.created_at,
            user.created_at,
        )
        self.s.users[new.id] = new
        return new

    async def update(self, user_id: int, now: datetime, **fields: Any) -> User:
        self.s.users[user_id] = replace(self.s.users[user_id], updated_at=now, **fields)
        return self.s.users[user_id]

    async def delete(self, user_id: int) -> None:
        self.s.drop_user(user_id)

    async def by_social(self, provider: str, subject: str) -> User | None:
        uid = self.s.social.get((provider, subject))
        return self.s.users.get(uid) if uid else None

    async def link_social(self, user_id: int, provider: str, subject: str, now: datetime) -> None:
        self.s.social[(provider, subject)] = user_id


class FakeCodes:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def sent_since(self, email: str, since: datetime) -> list[datetime]:
        return [c["created_at"] for c in self.s.codes.values() if c["email"] == email and c["created_at"] > since]

    async def add(self, email: str, purpose: CodePurpose, code_hash: str, now: datetime, expires_at: datetime) -> None:
        cid = next(self.s.ids)
        self.s.codes[cid] = {
            "id": cid,
            "email": email,
            "purpose": purpose,
            "code_hash": code_hash,
            "created_at": now,
            "expires_at": expires_at,
            "attempts": 0,
            "verified_at": None,
            "token_hash": None,
            "token_expires_at": None,
            "token_used_at": None,
        }

    async def latest(self, email: str, purpose: CodePurpose) -> EmailCode | None:
        rows = [c for c in self.s.codes.values() if c["email"] == email and c["purpose"] == purpose]
        if not rows:
            return None
        c = max(rows, key=lambda r: (r["created_at"], r["id"]))
        return EmailCode(
            c["id"],
            c["email"],
            c["purpose"],
            c["code_hash"],
            c["created_at"],
            c["expires_at"],
            c["attempts"],
            c["verified_at"],
        )

    async def count_failure(self, code_id: int) -> None:
        self.s.codes[code_id]["attempts"] += 1

    async def mark_verified(self, code_id: int, token_hash: str, now: datetime, token_expires_at: datetime) -> None:
        self.s.codes[code_id].update(verified_at=now, token_hash=token_hash, token_expires_at=token_expires_at)

    async def consume_token(self, email: str, purpose: CodePurpose, token_hash: str, now: datetime) -> bool:
        for c in self.s.codes.values():
            if (
                c["token_hash"] == token_hash
                and c["email"] == email
                and c["purpose"] == purpose
                and c["token_used_at"] is None
                and c["token_expires_at"] > now
            ):
                c["token_used_at"] = now
                return True
        return False


class FakeSessions:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def create(
        self,
        user_id: int,
        now: datetime,
        idle_expires_at: datetime,
        absolute_expires_at: datetime,
        user_agent: str,
        ip: str,
    ) -> AuthSession:
        session = AuthSession(
            next(self.s.ids), user_id, now, now, idle_expires_at, absolute_expires_at, None, user_agent, ip
        )
        self.s.sessions[session.id] = session
        return session

    async def get(self, session_id: int) -> AuthSession | None:
        return self.s.sessions.get(session_id)

    async def list_alive(self, user_id: int, now: datetime, before_id: int | None, limit: int) -> list[AuthSession]:
        alive = [x for x in self.s.sessions.values() if x.user_id == user_id and x.alive(now)]
        return sorted((x for x in alive if before_id is None or x.id < before_id), key=lambda x: -x.id)[:limit]

    async def touch(self, session_id: int, now: datetime, idle_expires_at: datetime) -> None:
        self.s.sessions[session_id] = replace(
            self.s.sessions[session_id], last_used_at=now, idle_expires_at=idle_expires_at
        )

    async def revoke(self, session_id: int, now: datetime) -> bool:
        current = self.s.sessions[session_id]
        if current.revoked_at is not None:
            return False
        self.s.sessions[session_id] = replace(current, revoked_at=now)
        return True

    async def revoke_all(self, user_id: int, now: datetime) -> list[int]:
        ids = [x.id for x in self.s.sessions.values() if x.user_id == user_id and x.revoked_at is None]
        for sid in ids:
            await self.revoke(sid, now)
        return ids

    async def add_refresh(self, session_id: int, token_hash: str, now: datetime) -> None:
        self.s.refresh[token_hash] = RefreshToken(session_id, token_hash, now, None)

    async def find_refresh(self, token_hash: str) -> RefreshToken | None:
        return self.s.refresh.get(token_hash)

    async def rotate_refresh(self, token_hash: str, now: datetime) -> bool:
        token = self.s.refresh[token_hash]
        if token.rotated_at is not None:
            return False
        self.s.refresh[token_hash] = replace(token, rotated_at=now)
        return True


class FakeMemos:
    """Personal memos, paged by (date, id) like SqlMemos."""

    def __init__(self, s: Store) -> None:
        self.s = s

    async def list(
        self, user_id: int, start: date | None, end: date | None, after: tuple[date, int] | None, limit: int
    ) -> list[Memo]:
        rows = [
            m
            for m in self.s.memos.values()
            if m.user_id == user_id
            and (start is None or m.date >= start)
            and (end is None or m.date <= end)
            and (after is None or (m.date, m.id) > after)
        ]
        return sorted(rows, key=lambda m: (m.date, m.id))[:limit]

    async def add(self, user_id: int, day: date, memo: str, now: datetime) -> Memo:
        new = Memo(next(self.s.ids), user_id, day, memo, now, now)
        self.s.memos[new.id] = new
        return new

    async def get(self, memo_id: int) -> Memo | None:
        return self.s.memos.get(memo_id)

    async def update(self, memo_id: int, now: datetime, **fields: Any) -> Memo:
        self.s.memos[memo_id] = replace(self.s.memos[memo_id], updated_at=now, **fields)
        return self.s.memos[memo_id]

    async def delete(self, memo_id: int) -> None:
        self.s.memos.pop(memo_id, None)
