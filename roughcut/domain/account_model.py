"""Entities of the accounts area, as the use cases see them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from roughcut.domain.commands import UNSET, Unset


class LoginMethod(enum.StrEnum):
    EMAIL = "email"
    GOOGLE = "google"
    KAKAO = "kakao"
    NAVER = "naver"


class CodePurpose(enum.StrEnum):
    SIGNUP = "signup"
    PASSWORD_RESET = "password_reset"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    nickname: str
    password_hash: str | None
    login_method: LoginMethod
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    nickname: str
    password_hash: str | None
    login_method: LoginMethod
    avatar_url: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EmailCode:
    id: int
    email: str
    purpose: CodePurpose
    code_hash: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    verified_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuthSession:
    """One login on one device: the family of its rotating refresh tokens."""

    id: int
    user_id: int
    created_at: datetime
    last_used_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    revoked_at: datetime | None
    user_agent: str
    ip: str

    def alive(self, now: datetime) -> bool:
        """True while neither revoked nor past its idle or absolute expiry."""
        return self.revoked_at is None and now < self.idle_expires_at and now < self.absolute_expires_at


@dataclass(frozen=True, slots=True)
class RefreshToken:
    session_id: int
    token_hash: str
    issued_at: datetime
    rotated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Memo:
    id: int
    user_id: int
    date: date
    memo: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UpdateMemo:
    """Change a personal memo's date or text; the ones left UNSET stay as they are."""

    memo_id: int
    date: date | Unset = UNSET
    memo: str | Unset = UNSET


@dataclass(frozen=True, slots=True)
class UpdateMe:
    """Change the caller's nickname, avatar (None removes it) or password (which needs the current one)."""

    nickname: str | Unset = UNSET
    avatar_url: str | Unset | None = UNSET
    current_password: str | Unset = UNSET
    new_password: str | Unset = UNSET


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    user_id: int
    session_id: int
    expires_at: int
    auth_time: int
    jti: str


@dataclass(frozen=True, slots=True)
class Device:
    """Where a login comes from, shown in the session list."""

    user_agent: str = ""
    ip: str = ""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    session_id: int
