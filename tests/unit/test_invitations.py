"""Invitation rules: editors invite by e-mail, one pending link per address, only the invited address answers."""

from __future__ import annotations

import re

import pytest

from roughcut.domain import invitations
from roughcut.domain.events import INVITATION_CREATED, MEMBER_JOINED, StoredEvent
from roughcut.domain.project_model import InvitationStatus, Role, UpdateProject
from roughcut.domain.projects import Projects, create_project, update_project
from tests.unit.fakes import FakeClock, Outbox, RecordingPublisher, Store
from tests.unit.support import PUBLIC_URL, Team, new_project, refused, refused_quietly

GUEST = "guest@example.com"


def _token(outbox: Outbox) -> str:
    match = re.search(re.escape(PUBLIC_URL) + r"/invitations/(\S+)", outbox.sent[-1][2])
    assert match
    return match.group(1)


@pytest.fixture
def guest(store: Store) -> int:
    return store.add_user("Gus", GUEST).id


@pytest.mark.parametrize(
    ("who", "code"), [("owner", None), ("manager", None), ("member", "permission_denied"), ("outsider", "not_found")]
)
async def test_editors_invite(
    deps: Projects,
    store: Store,
    publisher: RecordingPublisher,
    outbox: Outbox,
    team: Team,
    guest: int,
    who: str,
    code: str | None,
) -> None:
    call = invitations.invite(deps, team.by_role(who), team.project_id, "  Guest@Example.com ", Role.MANAGER, "Hi!")
    if code is not None:
        await refused_quietly(call, code, store, publisher)
        assert outbox.sent == []
        return
    invitation = await call
    assert (invitation.email, invitation.role, invitation.status) == (GUEST, Role.MANAGER, InvitationStatus.PENDING)
    assert invitation.inviter is not None and invitation.inviter.id == team.by_role(who)
    assert invitation.expires_at - invitation.created_at == invitations.INVITATION_TTL
    ((to, subject, text),) = outbox.sent
    assert to == GUEST and "Launch film" in subject and '"Hi!"' in text
    created = publisher.event(INVITATION_CREATED)
    assert isinstance(created.event, StoredEvent)
    assert created.event.data == {"invitation_id": invitation.id, "role": "manager"}
    assert set(created.audience.users) == team.members  # members only: not the invited person
    assert guest not in created.audience.users


async def test_the_token_is_stored_hashed(deps: Projects, store: Store, outbox: Outbox, team: Team) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    token = _token(outbox)
    (row,) = store.invitations.values()
    assert row.token_hash != token and token not in row.token_hash


@pytest.mark.parametrize(
    ("email", "role", "field"), [("not-an-address", Role.MEMBER, "email"), (GUEST, Role.OWNER, "role")]
)
async def test_invite_validation(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team, email: str, role: Role, field: str
) -> None:
    error = await refused_quietly(
        invitations.invite(deps, team.owner, team.project_id, email, role), "validation_failed", store, publisher
    )
    assert set(error.fields) == {field}


async def test_inviting_a_member_or_a_pending_address_conflicts(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    member_email = store.users[team.member].email
    await refused_quietly(
        invitations.invite(deps, team.owner, team.project_id, member_email), "conflict", store, publisher
    )
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    publisher.clear()
    await refused_quietly(invitations.invite(deps, team.manager, team.project_id, GUEST), "conflict", store, publisher)


async def test_a_lapsed_invitation_makes_room_for_a_new_one(
    deps: Projects, store: Store, clock: FakeClock, outbox: Outbox, team: Team
) -> None:
    first = await invitations.invite(deps, team.owner, team.project_id, GUEST)
    old_token = _token(outbox)
    clock.advance(days=7)
    second = await invitations.invite(deps, team.owner, team.project_id, GUEST)
    assert store.invitations[first.id].status is InvitationStatus.EXPIRED
    assert store.invitations[second.id].status is InvitationStatus.PENDING
    preview = await invitations.preview_invitation(deps, old_token)
    assert preview["status"] is InvitationStatus.EXPIRED


async def test_mail_subject_stays_on_one_line(deps: Projects, outbox: Outbox, team: Team) -> None:
    await update_project(deps, team.owner, UpdateProject(team.project_id, name="Two\r\nlines"))
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    subject = outbox.sent[-1][1]
    assert "\n" not in subject and "\r" not in subject and "Two lines" in subject


async def test_list_shows_pending_unexpired_invitations_to_editors(
    deps: Projects, clock: FakeClock, team: Team
) -> None:
    old = await invitations.invite(deps, team.owner, team.project_id, "old@example.com")
    clock.advance(days=6)
    a = await invitations.invite(deps, team.owner, team.project_id, "a@example.com")
    b = await invitations.invite(deps, team.manager, team.project_id, "b@example.com")
    await invitations.revoke_invitation(deps, team.owner, team.project_id, b.id)
    listed = await invitations.list_invitations(deps, team.manager, team.project_id, None, 20)
    assert [i.id for i in listed] == [old.id, a.id]
    clock.advance(days=1)
    assert [i.id for i in await invitations.list_invitations(deps, team.owner, team.project_id, None, 20)] == [a.id]
    await refused(invitations.list_invitations(deps, team.member, team.project_id, None, 20), "permission_denied")


async def test_revoke_stops_the_link_and_records_no_event(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    invitation = await invitations.invite(deps, team.owner, team.project_id, GUEST)
    token = _token(outbox)
    publisher.clear()
    await invitations.revoke_invitation(deps, team.manager, team.project_id, invitation.id)
    assert store.invitations[invitation.id].status is InvitationStatus.REVOKED
    assert publisher.committed == []
    await refused_quietly(invitations.accept_invitation(deps, guest, token), "conflict", store, publisher)
    await refused(invitations.revoke_invitation(deps, team.owner, team.project_id, invitation.id), "conflict")


async def test_invitations_of_another_project_are_not_found(
    deps: Projects, store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    other = await create_project(deps, team.outsider, new_project("Other"))
    foreign = await invitations.invite(deps, team.outsider, other.project.id, GUEST)
    publisher.clear()
    await refused_quietly(
        invitations.revoke_invitation(deps, team.owner, team.project_id, foreign.id), "not_found", store, publisher
    )
    await refused_quietly(
        invitations.resend_invitation(deps, team.owner, team.project_id, foreign.id), "not_found", store, publisher
    )
    await refused(invitations.revoke_invitation(deps, team.member, team.project_id, foreign.id), "permission_denied")


async def test_resend_renews_link_and_expiry(
    deps: Projects, store: Store, clock: FakeClock, outbox: Outbox, team: Team, guest: int
) -> None:
    invitation = await invitations.invite(deps, team.owner, team.project_id, GUEST)
    old_token = _token(outbox)
    clock.advance(days=8)  # lapsed, still pending: it may be sent again
    renewed = await invitations.resend_invitation(deps, team.manager, team.project_id, invitation.id)
    new_token = _token(outbox)
    assert new_token != old_token and len(outbox.sent) == 2
    assert renewed.expires_at == clock.now() + invitations.INVITATION_TTL
    await refused(invitations.preview_invitation(deps, old_token), "not_found")
    assert await invitations.accept_invitation(deps, guest, new_token) == team.project_id
    await refused(invitations.resend_invitation(deps, team.owner, team.project_id, invitation.id), "conflict")
    assert store.role_of(team.project_id, guest) is Role.MEMBER


async def test_preview_needs_no_login(deps: Projects, outbox: Outbox, team: Team) -> None:
    await invitations.invite(deps, team.manager, team.project_id, GUEST)
    preview = await invitations.preview_invitation(deps, _token(outbox))
    assert preview["project_name"] == "Launch film"
    assert preview["inviter"] is not None and preview["inviter"].nickname == "Mads"
    assert (preview["email"], preview["status"]) == (GUEST, InvitationStatus.PENDING)
    await refused(invitations.preview_invitation(deps, "forged"), "not_found")


async def test_accept_joins_with_the_invited_role_and_tells_every_member(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST, Role.MANAGER)
    publisher.clear()
    assert await invitations.accept_invitation(deps, guest, _token(outbox)) == team.project_id
    assert store.role_of(team.project_id, guest) is Role.MANAGER
    (row,) = store.invitations.values()
    assert row.status is InvitationStatus.ACCEPTED and row.responded_at is not None
    joined = publisher.event(MEMBER_JOINED)
    assert isinstance(joined.event, StoredEvent)
    assert joined.event.data == {"user_id": guest, "nickname": "Gus", "role": "manager"}
    assert joined.event.actor_id == guest
    assert set(joined.audience.users) == team.members | {guest}


async def test_only_the_invited_address_answers(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    token = _token(outbox)
    publisher.clear()
    await refused_quietly(
        invitations.accept_invitation(deps, team.outsider, token), "permission_denied", store, publisher
    )
    await refused_quietly(
        invitations.decline_invitation(deps, team.outsider, token), "permission_denied", store, publisher
    )
    await refused_quietly(invitations.accept_invitation(deps, guest, "forged"), "not_found", store, publisher)


async def test_a_link_works_once(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    token = _token(outbox)
    await invitations.accept_invitation(deps, guest, token)
    publisher.clear()
    error = await refused_quietly(invitations.accept_invitation(deps, guest, token), "conflict", store, publisher)
    assert "accepted" in error.message
    await refused_quietly(invitations.decline_invitation(deps, guest, token), "conflict", store, publisher)


async def test_an_expired_link_is_refused(
    deps: Projects,
    store: Store,
    publisher: RecordingPublisher,
    clock: FakeClock,
    outbox: Outbox,
    team: Team,
    guest: int,
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    clock.advance(days=7)
    publisher.clear()
    await refused_quietly(invitations.accept_invitation(deps, guest, _token(outbox)), "conflict", store, publisher)
    assert store.role_of(team.project_id, guest) is None


async def test_decline_closes_the_invitation_quietly(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST)
    token = _token(outbox)
    publisher.clear()
    await invitations.decline_invitation(deps, guest, token)
    (row,) = store.invitations.values()
    assert row.status is InvitationStatus.DECLINED
    assert publisher.committed == [] and store.role_of(team.project_id, guest) is None
    await refused(invitations.accept_invitation(deps, guest, token), "conflict")


async def test_accepting_when_already_a_member_records_no_join(
    deps: Projects, store: Store, publisher: RecordingPublisher, outbox: Outbox, team: Team, guest: int
) -> None:
    await invitations.invite(deps, team.owner, team.project_id, GUEST, Role.MANAGER)
    store.join(team.project_id, guest, Role.MEMBER)  # joined meanwhile by another way
    publisher.clear()
    await invitations.accept_invitation(deps, guest, _token(outbox))
    assert store.role_of(team.project_id, guest) is Role.MEMBER
    assert publisher.committed == []
