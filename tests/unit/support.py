"""Helpers the unit tests share: the team a project starts with, refusals, and snapshots of the store."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roughcut.domain import errors
from roughcut.domain.project_model import NewProject, Stage, StageName, StageStatus
from tests.unit.fakes import RecordingPublisher, Store

PUBLIC_URL = "https://app.example.com"
ROLES = ("owner", "manager", "member", "outsider")
DAY = timedelta(days=1)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Team:
    """A project with one user per role, an outsider, and the project's first feedback thread."""

    project_id: int
    thread_id: int
    owner: int
    manager: int
    member: int
    outsider: int

    def by_role(self, who: str) -> int:
        return {"owner": self.owner, "manager": self.manager, "member": self.member, "outsider": self.outsider}[who]

    @property
    def members(self) -> set[int]:
        return {self.owner, self.manager, self.member}


def new_project(name: str = "Launch film") -> NewProject:
    return NewProject(name, "Mina", "Acme", "", "#112233", ())


def stage(
    name: StageName, start: datetime | None = None, days: int = 1, status: StageStatus = StageStatus.TODO
) -> Stage:
    """A stage scheduled for `days` from `start`, or unscheduled."""
    return Stage(name, start, start + days * DAY if start else None, status)


def tables(store: Store) -> dict[str, Any]:
    """Every table's committed content (not the id counter), for 'nothing changed' checks."""
    return {k: v for k, v in store.copy().__dict__.items() if k != "ids"}


async def refused(call: Awaitable[Any], code: str) -> errors.DomainError:
    """Await a use case that must fail with `code`; the error, for its fields."""
    with pytest.raises(errors.DomainError) as info:
        await call
    assert info.value.code == code, info.value
    return info.value


async def refused_quietly(
    call: Awaitable[Any], code: str, store: Store, publisher: RecordingPublisher
) -> errors.DomainError:
    """Like `refused`, and the refusal changed no table and published nothing."""
    before = tables(store)
    error = await refused(call, code)
    assert tables(store) == before
    assert publisher.committed == []
    return error
