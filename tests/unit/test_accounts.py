"""Account rules on in-memory ports with a controllable clock."""

from __future__ import annotations

import re

import pytest

from roughcut.domain import accounts, errors, profile, sessions
from roughcut.domain.account_model import CodePurpose, Device, TokenPair
from roughcut.domain.accounts import Accounts, AuthPolicy
from roughcut.domain.events import SESSION_REVOKED
from tests.unit.fakes import FakeClock, FakeTokens, FakeUow, Outbox, PlainHasher, Store

PW = "long enough password"


@pytest.fixture
def acc(store: Store, clock: FakeClock, outbox: Outbox) -> Accounts:
    policy = AuthPolicy(refresh_idle_ttl=3600, refresh_absolute_ttl=3 * 3600)
    return Accounts(lambda: FakeUow(store), PlainHasher(), FakeTokens(), outbox, clock, b"pepper" * 8, policy=policy)


def _code(outbox: Outbox) -> str:
    match = re.search(r"\b(\d{6})\b", outbox.sent[-1][2])
    assert match
    return match.group(1)


async def _user(acc: Accounts, outbox: Outbox, email: str = "a@example.com") -> TokenPair:
    await accounts.send_email_code(acc, email, CodePurpose.SIGNUP)
    token = await accounts.verify_email_code(acc, email, CodePurpose.SIGNUP, _code(outbox))
    return await accounts.signup(acc, email, PW, "A", token, Device())


async def test_codes_are_six_random_digits(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    codes = set()
    for i in range(3):
        await accounts.send_email_code(acc, f"u{i}@example.com", CodePurpose.SIGNUP)
        codes.add(_code(outbox))
    assert len(codes) == 3


async def test_code_valid_for_exactly_ten_minutes(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
    code = _code(outbox)
    clock.advance(minutes=10)
    with pytest.raises(errors.CodeInvalid):
        await accounts.verify_email_code(acc, "a@example.com", CodePurpose.SIGNUP, code)
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
    clock.advance(minutes=9, seconds=59)
    assert await accounts.verify_email_code(acc, "a@example.com", CodePurpose.SIGNUP, _code(outbox))


async def test_code_for_one_purpose_does_not_verify_another(acc: Accounts, outbox: Outbox) -> None:
    await _user(acc, outbox)
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.PASSWORD_RESET)
    with pytest.raises(errors.CodeInvalid):
        await accounts.verify_email_code(acc, "a@example.com", CodePurpose.SIGNUP, _code(outbox))


async def test_send_window_reopens_after_ten_minutes(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    for _ in range(3):
        await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
        clock.advance(minutes=1)
    with pytest.raises(errors.RateLimited) as info:
        await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
    assert info.value.retry_after == 7 * 60 + 1  # the oldest send leaves the window 7 minutes from now
    clock.advance(minutes=7, seconds=1)
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)


async def test_verification_token_expires(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
    token = await accounts.verify_email_code(acc, "a@example.com", CodePurpose.SIGNUP, _code(outbox))
    clock.advance(minutes=16)
    with pytest.raises(errors.VerificationTokenInvalid):
        await accounts.signup(acc, "a@example.com", PW, "A", token, Device())


async def test_signup_with_existing_address_mails_a_notice_not_a_code(acc: Accounts, outbox: Outbox) -> None:
    await _user(acc, outbox)
    await accounts.send_email_code(acc, "a@example.com", CodePurpose.SIGNUP)
    assert not re.search(r"\d{6}", outbox.sent[-1][1] + outbox.sent[-1][2])


async def test_refresh_idle_expiry(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    pair = await _user(acc, outbox)
    clock.advance(minutes=59)
    pair = await sessions.refresh(acc, pair.refresh_token)  # using it moves the idle deadline
    clock.advance(minutes=59)
    pair = await sessions.refresh(acc, pair.refresh_token)
    clock.advance(minutes=61)
    with pytest.raises(errors.TokenExpired):
        await sessions.refresh(acc, pair.refresh_token)


async def test_refresh_absolute_expiry(acc: Accounts, outbox: Outbox, clock: FakeClock) -> None:
    pair = await _user(acc, outbox)
    for _ in range(4):  # used every 40 minutes: never idle, but the session ends after 3 hours
        clock.advance(minutes=40)
        pair = await sessions.refresh(acc, pair.refresh_token)
    clock.advance(minutes=40)
    with pytest.raises(errors.TokenExpired):
        await sessions.refresh(acc, pair.refresh_token)


async def test_reuse_revokes_the_family_and_records_the_event(acc: Accounts, outbox: Outbox, store: Store) -> None:
    pair = await _user(acc, outbox)
    newer = await sessions.refresh(acc, pair.refresh_token)
    with pytest.raises(errors.RefreshTokenReused):
        await sessions.refresh(acc, pair.refresh_token)
    assert store.sessions[pair.session_id].revoked_at is not None
    assert [e.data["reason"] for e in store.events if e.type == SESSION_REVOKED] == ["refresh_token_reused"]
    with pytest.raises(errors.SessionRevoked):
        await sessions.refresh(acc, newer.refresh_token)


async def test_unknown_refresh_token(acc: Accounts) -> None:
    with pytest.raises(errors.TokenInvalid):
        await sessions.refresh(acc, "never-issued")


async def test_delete_me_without_password_needs_a_fresh_login(
    acc: Accounts, outbox: Outbox, clock: FakeClock, store: Store
) -> None:
    pair = await _user(acc, outbox)
    clock.advance(minutes=11)
    with pytest.raises(errors.ReauthenticationRequired):
        await profile.delete_me(acc, pair.user.id, pair.session_id, None)
    store.owned_projects[pair.user.id] = 1
    with pytest.raises(errors.Conflict):
        await profile.delete_me(acc, pair.user.id, pair.session_id, PW)
    store.owned_projects[pair.user.id] = 0
    await profile.delete_me(acc, pair.user.id, pair.session_id, PW)
    with pytest.raises(errors.NotAuthenticated):
        await profile.get_me(acc, pair.user.id)


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "a b@example.com"])
async def test_bad_addresses(acc: Accounts, email: str) -> None:
    with pytest.raises(errors.ValidationFailed):
        await accounts.send_email_code(acc, email, CodePurpose.SIGNUP)


ADDRESS = "v\u00e9@x.test"  # NFC: "é" as one code point
VARIANTS = [
    " v\u00e9@x.test",
    "\tv\u00e9@x.test",
    "v\u00e9@x.test \r\n",
    "V\u00c9@X.TEST",
    "ve\u0301@x.test",  # NFD: "e" and a combining acute accent
    "\t VE\u0301@x.Test\n",
]


def test_one_normal_form_per_address() -> None:
    assert {accounts.normalize_email(v) for v in VARIANTS} == {ADDRESS}
    assert all(accounts.normalize_email(accounts.normalize_email(v)) == ADDRESS for v in VARIANTS)


def test_control_format_and_oversized_addresses_are_refused() -> None:
    refused = [
        "v\x00@x.test",
        "v@x.test\x00",
        "v\x7f@x.test",
        "v\u200b@x.test",  # zero-width space
        "v\u202e@x.test",  # right-to-left override
        " " * accounts.EMAIL_INPUT_MAX + "v@x.test",  # padding is stripped only from a bounded input
    ]
    for email in refused:
        with pytest.raises(errors.ValidationFailed) as info:
            accounts.normalize_email(email)
        assert info.value.fields == {"email": [accounts.INVALID_EMAIL]}, repr(email)


async def test_login_accepts_every_form_of_the_address(acc: Accounts, outbox: Outbox) -> None:
    signed_up = await _user(acc, outbox, ADDRESS)
    for variant in VARIANTS:
        pair = await accounts.login(acc, variant, PW, Device())
        assert pair.user.id == signed_up.user.id
        assert pair.user.email == ADDRESS


async def test_signup_checks_the_token_before_the_address(acc: Accounts, outbox: Outbox) -> None:
    tokens = []
    for _ in range(2):  # two codes asked for before the account exists
        await accounts.send_email_code(acc, "taken@example.com", CodePurpose.SIGNUP)
        tokens.append(await accounts.verify_email_code(acc, "taken@example.com", CodePurpose.SIGNUP, _code(outbox)))
    await accounts.signup(acc, "taken@example.com", PW, "A", tokens[0], Device())
    refusals = []
    for email in ("taken@example.com", "free@example.com"):
        with pytest.raises(errors.DomainError) as info:
            await accounts.signup(acc, email, PW, "A", "bogus-token", Device())
        refusals.append((type(info.value), info.value.message, info.value.fields, info.value.details))
    assert refusals[0] == refusals[1]
    assert refusals[0][0] is errors.VerificationTokenInvalid
    # Whoever proved the address may learn that it is taken.
    with pytest.raises(errors.Conflict):
        await accounts.signup(acc, "taken@example.com", PW, "A", tokens[1], Device())
