"""The unit-of-work contract the use cases rely on, as the fake keeps it: commit or nothing, audiences fixed inside."""

from __future__ import annotations

from datetime import timedelta

import pytest

from roughcut.domain import profile, projects
from roughcut.domain.accounts import Accounts
from roughcut.domain.events import MEMBER_LEFT, PROJECT_UPDATED, USER_DELETED, DomainEvent, StoredEvent
from roughcut.domain.project_model import Role, UpdateProject
from roughcut.domain.projects import Projects
from tests.unit.fakes import FakeClock, FakeTokens, FakeUow, Outbox, PlainHasher, RecordingPublisher, Store
from tests.unit.support import Team, refused, tables


async def test_nothing_is_kept_or_published_when_the_block_fails(
    store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    before = tables(store)

    async def fails_midway() -> None:
        async with FakeUow(store, publisher) as uow:
            await uow.projects.remove_member(team.project_id, team.member)
            uow.record(DomainEvent(MEMBER_LEFT, project_id=team.project_id, leaving=(team.member,)))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fails_midway()
    assert tables(store) == before and publisher.committed == []


async def test_an_unserialisable_payload_fails_the_commit(store: Store, publisher: RecordingPublisher) -> None:
    async def record_a_set() -> None:
        async with FakeUow(store, publisher) as uow:
            uow.record(DomainEvent("odd.event", {"values": {1, 2}}))
            await uow.commit()

    with pytest.raises(TypeError):
        await record_a_set()
    assert publisher.committed == [] and store.events == []


async def test_audiences_are_read_after_the_transactions_own_changes(
    store: Store, publisher: RecordingPublisher, team: Team
) -> None:
    async with FakeUow(store, publisher) as uow:
        uow.record(DomainEvent(PROJECT_UPDATED, project_id=team.project_id))
        await uow.projects.remove_member(team.project_id, team.member)
        uow.record(DomainEvent(MEMBER_LEFT, project_id=team.project_id, leaving=(team.member,)))
        await uow.commit()
    updated, left = publisher.committed
    # Both events see the member gone: the audience is fixed at commit, as the committed rows stand.
    assert set(updated.audience.users) == {team.owner, team.manager}
    assert set(left.audience.users) == team.members and left.audience.threads == (team.thread_id,)
    assert [e.id for e in store.events[-2:]] == [
        c.event.id for c in (updated, left) if isinstance(c.event, StoredEvent)
    ]


@pytest.fixture
def acc(store: Store, clock: FakeClock, outbox: Outbox, publisher: RecordingPublisher) -> Accounts:
    return Accounts(lambda: FakeUow(store, publisher, clock), PlainHasher(), FakeTokens(), outbox, clock, b"p" * 48)


async def test_deleting_an_account_ends_its_sessions_and_leaves_its_projects(
    acc: Accounts, deps: Projects, store: Store, clock: FakeClock, publisher: RecordingPublisher, team: Team
) -> None:
    async with FakeUow(store) as uow:
        first = await uow.sessions.create(team.owner, clock.now(), clock.now() + timedelta(days=1), clock.now(), "", "")
        second = await uow.sessions.create(
            team.owner, clock.now(), clock.now() + timedelta(days=1), clock.now(), "", ""
        )
        await uow.commit()
    await refused(profile.delete_me(acc, team.owner, first.id, None), "conflict")  # still owns the project
    await projects.transfer_ownership(deps, team.owner, team.project_id, team.manager)
    publisher.clear()
    await profile.delete_me(acc, team.owner, first.id, None)
    deleted = publisher.event(USER_DELETED)
    assert deleted.audience.sessions == (first.id, second.id) and deleted.audience.users == ()
    assert store.role_of(team.project_id, team.owner) is None
    await projects.update_project(deps, team.manager, UpdateProject(team.project_id, name="Without Olga"))
    assert set(publisher.event(PROJECT_UPDATED).audience.users) == {team.manager, team.member}
    assert store.role_of(team.project_id, team.manager) is Role.OWNER
