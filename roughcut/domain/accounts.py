"""Account use cases: e-mail codes, signup, login, token refresh with reuse detection, sessions, profile."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from roughcut.domain import errors
from roughcut.domain.account_model import (
    AuthSession,
    CodePurpose,
    Device,
    LoginMethod,
    NewUser,
    TokenPair,
    User,
)
from roughcut.domain.events import SESSION_REVOKED, DomainEvent
from roughcut.domain.ports import (
    Clock,
    Mailer,
    PasswordHasher,
    SocialAuth,
    TokenIssuer,
    UnitOfWork,
    UnitOfWorkFactory,
)
from roughcut.domain.transactions import writes

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254  # RFC 5321 path limit, and the width of the email columns
# Padding is stripped, but only from an input of bounded size: normalising a megabyte costs time.
EMAIL_INPUT_MAX = 1024
INVALID_EMAIL = "Not a valid e-mail address."
# Unicode categories an address never contains: control, format (zero-width, bidi), surrogate, private, unassigned.
_NOT_IN_ADDRESSES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
CODE_DIGITS = 6
NICKNAME_MAX = 50
REFRESH_TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Lifetimes and limits of the account rules (seconds unless named otherwise)."""

    access_ttl: int = 15 * 60
    refresh_idle_ttl: int = 14 * 24 * 3600
    refresh_absolute_ttl: int = 60 * 24 * 3600
    code_ttl: int = 10 * 60
    code_max_attempts: int = 5
    code_max_sends: int = 3
    code_send_window: int = 10 * 60
    verification_ttl: int = 15 * 60
    password_min: int = 10
    password_max: int = 1024
    fresh_login: int = 10 * 60


@dataclass(frozen=True, slots=True)
class Accounts:
    """The ports the account use cases work with."""

    uow: UnitOfWorkFactory
    hasher: PasswordHasher
    tokens: TokenIssuer
    mailer: Mailer
    clock: Clock
    pepper: bytes
    social: SocialAuth | None = None
    policy: AuthPolicy = field(default_factory=AuthPolicy)


def canonical_email(email: str) -> str:
    """The one normal form of an address: surrounding white space stripped, Unicode NFC, lower-case."""
    # NFC again after lower-casing, since a lower-case letter may compose differently; this keeps it idempotent.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", email.strip()).lower())


def normalize_email(email: str, field_name: str = "email") -> str:
    """The normal form of an address (canonical_email); raise validation_failed when it is not one."""
    invalid = errors.ValidationFailed(fields={field_name: [INVALID_EMAIL]})
    if len(email) > EMAIL_INPUT_MAX:
        raise invalid
    normal = canonical_email(email)
    if len(normal) > EMAIL_MAX or not _EMAIL.match(normal):
        raise invalid
    if any(unicodedata.category(ch) in _NOT_IN_ADDRESSES for ch in normal):
        raise invalid
    return normal


def check_password_rules(acc: Accounts, password: str, field_name: str = "password") -> None:
    """Passwords need at least `password_min` characters."""
    if len(password) < acc.policy.password_min:
        raise errors.ValidationFailed(fields={field_name: [f"Use at least {acc.policy.password_min} characters."]})
    if len(password) > acc.policy.password_max:
        raise errors.ValidationFailed(fields={field_name: ["Too long."]})


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(acc: Accounts, email: str, purpose: CodePurpose, code: str) -> str:
    # Six digits are guessable offline, so the hash is keyed with the server's secret.
    return hmac.new(acc.pepper, f"{purpose}:{email}:{code}".encode(), hashlib.sha256).hexdigest()


@writes
async def send_email_code(acc: Accounts, email: str, purpose: CodePurpose) -> int:
    """Mail a 6-digit code; answers the same whether or not an account exists. Returns its lifetime."""
    email = normalize_email(email)
    now = acc.clock.now()
    async with acc.uow() as uow:
        window_start = now - timedelta(seconds=acc.policy.code_send_window)
        sent = await uow.codes.sent_since(email, window_start)
        if len(sent) >= acc.policy.code_max_sends:
            oldest = min(sent)
            retry = int((oldest + timedelta(seconds=acc.policy.code_send_window) - now).total_seconds()) + 1
            raise errors.RateLimited(max(retry, 1), limit=acc.policy.code_max_sends, window=acc.policy.code_send_window)
        user = await uow.users.by_email(email)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        expires = now + timedelta(seconds=acc.policy.code_ttl)
        await uow.codes.add(email, purpose, _code_hash(acc, email, purpose, code), now, expires)
        await uow.commit()
    minutes = acc.policy.code_ttl // 60
    if purpose is CodePurpose.SIGNUP and user is not None:
        await acc.mailer.send(
            email,
            "You already have a roughcut account",
            "Someone asked to sign up with this address, which already has an account.\n"
            "Log in, or reset your password if you forgot it.",
        )
    elif purpose is CodePurpose.SIGNUP:
        await acc.mailer.send(
            email,
            f"Your roughcut code: {code}",
            f"Your sign-up code is {code}. It expires in {minutes} minutes.",
        )
    elif user is not None:
        await acc.mailer.send(
            email,
            f"Your roughcut password reset code: {code}",
            f"Your password reset code is {code}. It expires in {minutes} minutes.\n"
            "If you did not ask for it, ignore this mail.",
        )
    else:
        # Unknown address: a notice without a code, so the answer (and its timing) matches a known one.
        await acc.mailer.send(
            email,
            "roughcut password reset",
            "Someone asked to reset the password of a roughcut account with this address, but no account uses it.\n"
            "If it was not you, ignore this mail.",
        )
    return acc.policy.code_ttl


@writes
async def verify_email_code(acc: Accounts, email: str, purpose: CodePurpose, code: str) -> str:
    """Check a mailed code (at most `code_max_attempts` wrong tries); return a single-use token."""
    email = normalize_email(email)
    now = acc.clock.now()
    async with acc.uow() as uow:
        row = await uow.codes.latest(email, purpose)
        usable = (
            row is not None
            and row.verified_at is None
            and row.expires_at > now
            and row.attempts < acc.policy.code_max_attempts
        )
        if row is None or not usable:
            raise errors.CodeInvalid()
        if not hmac.compare_digest(row.code_hash, _code_hash(acc, email, purpose, code.strip())):
            await uow.codes.count_failure(row.id)
            await uow.commit()
            raise errors.CodeInvalid(details={"attempts_left": acc.policy.code_max_attempts - row.attempts - 1})
        token = secrets.token_urlsafe(32)
        expires = now + timedelta(seconds=acc.policy.verification_ttl)
        await uow.codes.mark_verified(row.id, digest(token), now, expires)
        await uow.commit()
    return token


async def _consume_verification(uow: UnitOfWork, email: str, purpose: CodePurpose, token: str, now: datetime) -> None:
    if not await uow.codes.consume_token(email, purpose, digest(token), now):
        raise errors.VerificationTokenInvalid()


@writes
async def signup(
    acc: Accounts, email: str, password: str, nickname: str, verification_token: str, device: Device
) -> TokenPair:
    """Create an e-mail account with a proven address, and log it in."""
    email = normalize_email(email)
    check_password_rules(acc, password)
    nickname = clean_nickname(nickname)
    now = acc.clock.now()
    async with acc.uow() as uow:
        # The token first: without proof of the address, a taken one must look like a free one. A conflict
        # rolls back, so the token stays usable; only the address's owner can get this far.
        await _consume_verification(uow, email, CodePurpose.SIGNUP, verification_token, now)
        if await uow.users.by_email(email) is not None:
            raise errors.Conflict("An account with this e-mail already exists.", fields={"email": ["Taken."]})
        user = await uow.users.add(NewUser(email, nickname, acc.hasher.hash(password), LoginMethod.EMAIL, None, now))
        pair = await _start_session(acc, uow, user, device, now)
        await uow.commit()
    return pair


@writes
async def login(acc: Accounts, email: str, password: str, device: Device) -> TokenPair:
    """Check e-mail and password; upgrade legacy hashes; open a session."""
    email = normalize_email(email)
    now = acc.clock.now()
    async with acc.uow() as uow:
        user = await uow.users.by_email(email)
        if user is None or user.password_hash is None:
            # Spend the same work as a real check so timing does not reveal unknown addresses.
            acc.hasher.verify(_DUMMY_HASH.get(acc), password)
            raise errors.InvalidCredentials()
        if not acc.hasher.verify(user.password_hash, password):
            raise errors.InvalidCredentials()
        if acc.hasher.needs_upgrade(user.password_hash):
            user = await uow.users.update(user.id, now, password_hash=acc.hasher.hash(password))
        pair = await _start_session(acc, uow, user, device, now)
        await uow.commit()
    return pair


class _DummyHash:
    """A real hash of a random password, made once per hasher, for constant-time refusals."""

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def get(self, acc: Accounts) -> str:
        key = id(acc.hasher)
        if key not in self._cache:
            self._cache[key] = acc.hasher.hash(secrets.token_urlsafe(16))
        return self._cache[key]


_DUMMY_HASH = _DummyHash()


async def _start_session(acc: Accounts, uow: UnitOfWork, user: User, device: Device, now: datetime) -> TokenPair:
    session = await uow.sessions.create(
        user.id,
        now,
        now + timedelta(seconds=acc.policy.refresh_idle_ttl),
        now + timedelta(seconds=acc.policy.refresh_absolute_ttl),
        device.user_agent[:255],
        device.ip[:64],
    )
    return await issue_pair(acc, uow, user, session, now)


async def issue_pair(acc: Accounts, uow: UnitOfWork, user: User, session: AuthSession, now: datetime) -> TokenPair:
    refresh = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    await uow.sessions.add_refresh(session.id, digest(refresh), now)
    access, expires_in = acc.tokens.issue_access(user.id, session.id, int(session.created_at.timestamp()))
    return TokenPair(access, refresh, expires_in, user, session.id)


@writes
async def reset_password(acc: Accounts, email: str, verification_token: str, new_password: str) -> None:
    """Set a new password with a proven address; every session of the user ends."""
    email = normalize_email(email)
    check_password_rules(acc, new_password, "new_password")
    now = acc.clock.now()
    async with acc.uow() as uow:
        await _consume_verification(uow, email, CodePurpose.PASSWORD_RESET, verification_token, now)
        user = await uow.users.by_email(email)
        if user is None:
            raise errors.VerificationTokenInvalid()
        await uow.users.update(user.id, now, password_hash=acc.hasher.hash(new_password))
        for session_id in await uow.sessions.revoke_all(user.id, now):
            uow.record(
                DomainEvent(
                    SESSION_REVOKED,
                    {"user_id": user.id, "session_id": session_id, "reason": "password_reset"},
                    actor_id=user.id,
                    ended_sessions=(session_id,),
                )
            )
        await uow.commit()


def clean_nickname(nickname: str) -> str:
    nickname = nickname.strip()
    if not 1 <= len(nickname) <= NICKNAME_MAX:
        raise errors.ValidationFailed(fields={"nickname": [f"Use 1 to {NICKNAME_MAX} characters."]})
    return nickname


@writes
async def social_login(
    acc: Accounts,
    provider: str,
    device: Device,
    *,
    code: str | None = None,
    redirect_uri: str | None = None,
    state: str | None = None,
    code_verifier: str | None = None,
    id_token: str | None = None,
) -> tuple[TokenPair, bool]:
    """Log in through google, kakao or naver, matching accounts by verified e-mail. Returns (pair, created)."""
    if acc.social is None:
        raise errors.NotFound("Social login is not configured.")
    if id_token is None and (not code or not redirect_uri):
        raise errors.ValidationFailed(fields={"code": ["Send code and redirect_uri, or a Google id_token."]})
    profile = await acc.social.authenticate(
        provider,
        code=code,
        redirect_uri=redirect_uri,
        state=state,
        code_verifier=code_verifier,
        id_token=id_token,
    )
    if not profile.email or not profile.email_verified:
        raise errors.SocialEmailUnverified()
    email = canonical_email(profile.email)
    now = acc.clock.now()
    created = False
    async with acc.uow() as uow:
        user = await uow.users.by_social(profile.provider, profile.subject)
        if user is None:
            user = await uow.users.by_email(email)
            if user is None:
                nickname = (profile.nickname or email.split("@")[0])[:50]
                user = await uow.users.add(
                    NewUser(email, nickname, None, LoginMethod(profile.provider), profile.avatar_url, now)
                )
                created = True
            await uow.users.link_social(user.id, profile.provider, profile.subject, now)
        pair = await _start_session(acc, uow, user, device, now)
        await uow.commit()
    return pair, created
