"""Partial-update commands: UNSET means "not given", None is a value; the use cases store only what was given."""

from __future__ import annotations

import re
from datetime import date

import pytest

from roughcut.domain import accounts, errors, profile
from roughcut.domain.account_model import CodePurpose, Device, UpdateMe, UpdateMemo
from roughcut.domain.accounts import Accounts
from roughcut.domain.commands import UNSET, given
from roughcut.domain.feedback_model import EditComment, UpdateThread
from roughcut.domain.project_model import ProjectStatus, UpdateProject, UpdateProjectMemo
from tests.unit.fakes import FakeClock, FakeTokens, FakeUow, Outbox, PlainHasher, Store

PW = "long enough password"


def test_given_leaves_out_unset_fields_and_the_target() -> None:
    assert given(UpdateProject(7)) == {}
    assert given(UpdateProject(7, name="New", status=ProjectStatus.REVIEW)) == {
        "name": "New",
        "status": ProjectStatus.REVIEW,
    }
    assert given(UpdateThread(3, description="")) == {"description": ""}
    assert given(UpdateMemo(1, date=date(2026, 1, 2))) == {"date": date(2026, 1, 2)}
    assert given(UpdateProjectMemo(1, 2, memo="x")) == {"memo": "x"}


def test_given_keeps_fields_given_as_null() -> None:
    assert given(EditComment(5, at_ms=None, annotation=None)) == {"at_ms": None, "annotation": None}
    assert given(UpdateMe(avatar_url=None)) == {"avatar_url": None}


def test_commands_are_frozen() -> None:
    cmd = UpdateProject(1, name="A")
    with pytest.raises(AttributeError):
        cmd.name = "B"  # type: ignore[misc]
    assert repr(UNSET) == "UNSET"


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def acc(outbox: Outbox) -> Accounts:
    store = Store()
    return Accounts(lambda: FakeUow(store), PlainHasher(), FakeTokens(), outbox, FakeClock(), b"pepper" * 8)


async def _user_id(acc: Accounts, outbox: Outbox) -> int:
    email = "a@example.com"
    await accounts.send_email_code(acc, email, CodePurpose.SIGNUP)
    match = re.search(r"\b(\d{6})\b", outbox.sent[-1][2])
    assert match
    token = await accounts.verify_email_code(acc, email, CodePurpose.SIGNUP, match.group(1))
    return (await accounts.signup(acc, email, PW, "A", token, Device())).user.id


async def test_update_me_changes_only_what_was_given(acc: Accounts, outbox: Outbox) -> None:
    user_id = await _user_id(acc, outbox)
    user = await profile.update_me(acc, user_id, UpdateMe(avatar_url="https://example.com/a.png"))
    assert (user.nickname, user.avatar_url) == ("A", "https://example.com/a.png")
    user = await profile.update_me(acc, user_id, UpdateMe(nickname="  B  "))
    assert (user.nickname, user.avatar_url) == ("B", "https://example.com/a.png")
    user = await profile.update_me(acc, user_id, UpdateMe(avatar_url=None))
    assert (user.nickname, user.avatar_url) == ("B", None)


async def test_update_me_password_needs_the_current_one(acc: Accounts, outbox: Outbox) -> None:
    user_id = await _user_id(acc, outbox)
    with pytest.raises(errors.ValidationFailed) as missing:
        await profile.update_me(acc, user_id, UpdateMe(new_password="another long password"))
    assert set(missing.value.fields) == {"current_password"}
    user = await profile.update_me(acc, user_id, UpdateMe(current_password=PW, new_password="another long password"))
    assert user.password_hash == "plain$another long password"
