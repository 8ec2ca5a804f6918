"""The unit tier's world: one in-memory store, a controllable clock, and the use-case bundles wired to fakes."""

from __future__ import annotations

import pytest

from roughcut.domain import projects
from roughcut.domain.chat import Chat, RoomMembers
from roughcut.domain.project_model import Role
from roughcut.domain.projects import Projects
from tests.unit.fakes import FakeBlobs, FakeChatWriter, FakeClock, FakeUow, Outbox, RecordingPublisher, Store
from tests.unit.support import PUBLIC_URL, Team, new_project


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def blobs() -> FakeBlobs:
    return FakeBlobs()


@pytest.fixture
def deps(store: Store, clock: FakeClock, publisher: RecordingPublisher, blobs: FakeBlobs, outbox: Outbox) -> Projects:
    return Projects(
        uow=lambda: FakeUow(store, publisher, clock), clock=clock, blobs=blobs, mailer=outbox, links_url=PUBLIC_URL
    )


@pytest.fixture
def writer(store: Store, clock: FakeClock, publisher: RecordingPublisher) -> FakeChatWriter:
    return FakeChatWriter(store, publisher, clock)


@pytest.fixture
def chat(store: Store, clock: FakeClock, publisher: RecordingPublisher, writer: FakeChatWriter) -> Chat:
    return Chat(
        uow=lambda: FakeUow(store, publisher, clock),
        writer=writer,
        clock=clock,
        members=RoomMembers(clock),
        publisher=publisher,
    )


@pytest.fixture
async def team(deps: Projects, store: Store, publisher: RecordingPublisher) -> Team:
    owner, manager, member, outsider = (store.add_user(n) for n in ("Olga", "Mads", "Mia", "Otto"))
    detail = await projects.create_project(deps, owner.id, new_project())
    pid = detail.project.id
    store.join(pid, manager.id, Role.MANAGER)
    store.join(pid, member.id, Role.MEMBER)
    (thread_id,) = store.thread_ids(pid)
    publisher.clear()
    return Team(pid, thread_id, owner.id, manager.id, member.id, outsider.id)
