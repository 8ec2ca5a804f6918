"""In-memory adapters of the account ports (users, codes, sessions), for fast tests of the rules."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from roughcut.domain.account_model import (
    AccessClaims,
    AuthSession,
    CodePurpose,
    EmailCode,
    NewUser,
    RefreshToken,
    User,
)
from roughcut.domain.events import DomainEvent, StoredEvent


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


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


class Store:
    """The 'database': committed state, copied into each unit of work and swapped in on commit."""

    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.social: dict[tuple[str, str], int] = {}
        self.codes: dict[int, dict[str, Any]] = {}
        self.sessions: dict[int, AuthSession] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.events: list[StoredEvent] = []
        self.owned_projects: dict[int, int] = {}
        self.ids = itertools.count(1)

    def copy(self) -> Store:
        other = Store.__new__(Store)
        other.__dict__ = {
            k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
            for k, v in self.__dict__.items()
        }
        other.codes = {k: dict(v) for k, v in self.codes.items()}
        return other


class FakeUow:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[DomainEvent] = []

    async def __aenter__(self) -> FakeUow:
        self.s = self._store.copy()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending.clear()

    @property
    def users(self) -> FakeUow:
        return self

    @property
    def codes(self) -> FakeCodes:
        return FakeCodes(self.s)

    @property
    def sessions(self) -> FakeSessions:
        return FakeSessions(self.s)

    @property
    def projects(self) -> FakeUow:
        return self

    async def owned_count(self, user_id: int) -> int:
        return self.s.owned_projects.get(user_id, 0)

    def record(self, event: DomainEvent) -> None:
        self._pending.append(event)

    async def commit(self) -> list[StoredEvent]:
        now = datetime.now(UTC)
        stored = [StoredEvent(next(self.s.ids), e.type, e.data, e.project_id, e.actor_id, now) for e in self._pending]
        self.s.events.extend(stored)
        self._pending.clear()
        self._store.__dict__.update(self.s.copy().__dict__)
        return stored

    # UserRepository
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
        del self.s.users[user_id]

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
        self, user_id: int, now: datetime, idle: datetime, absolute: datetime, ua: str, ip: str
    ) -> AuthSession:
        session = AuthSession(next(self.s.ids), user_id, now, now, idle, absolute, None, ua, ip)
        self.s.sessions[session.id] = session
        return session

    async def get(self, session_id: int) -> AuthSession | None:
        return self.s.sessions.get(session_id)

    async def list_alive(self, user_id: int, now: datetime) -> list[AuthSession]:
        return [x for x in self.s.sessions.values() if x.user_id == user_id and x.alive(now)]

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
