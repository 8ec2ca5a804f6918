"""In-memory adapters of every domain port, for the unit tier (no database, no sockets)."""

from __future__ import annotations

from tests.unit.fakes.accounts import (
    FakeCodes,
    FakeMemos,
    FakeSessions,
    FakeTokens,
    FakeUsers,
    Outbox,
    PlainHasher,
)
from tests.unit.fakes.feedback import FakeChatRooms, FakeFeedback
from tests.unit.fakes.projects import (
    ConstraintViolation,
    FakeEventLog,
    FakeInvitations,
    FakeProjectMemos,
    FakeProjects,
)
from tests.unit.fakes.store import FakeClock, Store
from tests.unit.fakes.uow import FakeBlobs, FakeChatWriter, FakeUow, RecordingPublisher, payload_of

__all__ = [
    "ConstraintViolation",
    "FakeBlobs",
    "FakeChatRooms",
    "FakeChatWriter",
    "FakeClock",
    "FakeCodes",
    "FakeEventLog",
    "FakeFeedback",
    "FakeInvitations",
    "FakeMemos",
    "FakeProjectMemos",
    "FakeProjects",
    "FakeSessions",
    "FakeTokens",
    "FakeUow",
    "FakeUsers",
    "Outbox",
    "PlainHasher",
    "RecordingPublisher",
    "Store",
    "payload_of",
]
