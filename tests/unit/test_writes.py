"""`@writes`: every use case that commits is declared, runs one transaction, and is re-run whole on a conflict."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from types import TracebackType

import pytest

import roughcut
from roughcut.domain import errors, project_memos, transactions
from roughcut.domain.events import MEMO_CHANGED, StoredEvent
from roughcut.domain.projects import Projects
from roughcut.domain.transactions import writes, writing
from tests.unit.fakes import FakeClock, FakeUow, Outbox, RecordingPublisher, Store
from tests.unit.fakes.uow import FakeBlobs
from tests.unit.support import PUBLIC_URL, Team

PACKAGE = Path(roughcut.__file__).parent
# Modules whose functions open units of work and commit: the use cases, and the demo seeding.
SOURCES = [*sorted((PACKAGE / "domain").glob("*.py")), PACKAGE / "storage" / "seed.py"]


def _decorated(fn: ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "writes" for d in fn.decorator_list)


def _calls(fn: ast.AsyncFunctionDef, attribute: str) -> int:
    return sum(
        1
        for node in ast.walk(fn)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attribute
    )


def _use_cases() -> list[tuple[str, ast.AsyncFunctionDef]]:
    found = []
    for path in SOURCES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.AsyncFunctionDef):
                found.append((f"{path.stem}.{node.name}", node))
    return found


def test_every_use_case_that_commits_is_declared_a_write() -> None:
    committing = {name for name, fn in _use_cases() if _calls(fn, "commit")}
    assert len(committing) >= 30
    assert sorted(name for name, fn in _use_cases() if name in committing and not _decorated(fn)) == []


def test_a_write_runs_exactly_one_transaction() -> None:
    # Running the whole call again after a conflict is safe only if nothing of it committed before.
    writes_ = [(name, fn) for name, fn in _use_cases() if _decorated(fn)]
    assert sorted(name for name, fn in writes_ if _calls(fn, "uow") != 1) == []


class ConflictingUow(FakeUow):
    """A unit of work whose commit loses to a deadlock the first `fail` times (nothing kept or published)."""

    failures = 0

    def __init__(self, store: Store, publisher: RecordingPublisher, clock: FakeClock, fail: int) -> None:
        super().__init__(store, publisher, clock)
        self._fail = fail

    async def commit(self) -> list[StoredEvent]:
        if ConflictingUow.failures < self._fail:
            ConflictingUow.failures += 1
            raise errors.TransactionConflict()
        return await super().commit()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert writing()  # the unit of work sees it runs in a write
        await super().__aexit__(exc_type, exc, tb)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transactions, "RETRY_BASE_DELAY", 0.0)
    ConflictingUow.failures = 0


def _deps(store: Store, publisher: RecordingPublisher, clock: FakeClock, fail: int) -> Projects:
    return Projects(
        uow=lambda: ConflictingUow(store, publisher, clock, fail),
        clock=clock,
        blobs=FakeBlobs(),
        mailer=Outbox(),
        links_url=PUBLIC_URL,
    )


async def test_a_conflict_runs_the_use_case_again_and_publishes_once(
    store: Store, publisher: RecordingPublisher, clock: FakeClock, team: Team
) -> None:
    deps = _deps(store, publisher, clock, fail=transactions.WRITE_ATTEMPTS - 1)
    memo = await project_memos.add_project_memo(deps, team.owner, team.project_id, date(2026, 5, 1), "Shoot")
    assert ConflictingUow.failures == transactions.WRITE_ATTEMPTS - 1
    assert [m.id for m in store.project_memos.values() if m.project_id == team.project_id] == [memo.id]
    published = [c.event for c in publisher.events(MEMO_CHANGED) if isinstance(c.event, StoredEvent)]
    assert [e.data["memo_id"] for e in published] == [memo.id]


async def test_a_conflict_that_persists_is_reported_and_leaves_nothing(
    store: Store, publisher: RecordingPublisher, clock: FakeClock, team: Team
) -> None:
    deps = _deps(store, publisher, clock, fail=transactions.WRITE_ATTEMPTS)
    with pytest.raises(errors.TransactionConflict) as raised:
        await project_memos.add_project_memo(deps, team.owner, team.project_id, date(2026, 5, 1), "Shoot")
    assert raised.value.code == "transaction_conflict"
    assert ConflictingUow.failures == transactions.WRITE_ATTEMPTS
    assert [m for m in store.project_memos.values() if m.project_id == team.project_id] == []
    assert publisher.events() == []


async def test_only_conflicts_are_retried_and_only_by_the_outermost_write() -> None:
    calls: list[str] = []

    @writes
    async def inner() -> None:
        calls.append("inner")
        raise errors.TransactionConflict()

    @writes
    async def outer() -> None:
        calls.append("outer")
        await inner()

    @writes
    async def refused() -> None:
        calls.append("refused")
        raise errors.Conflict()

    assert not writing()
    with pytest.raises(errors.TransactionConflict):
        await outer()
    assert calls == ["outer", "inner"] * transactions.WRITE_ATTEMPTS
    calls.clear()
    with pytest.raises(errors.Conflict):
        await refused()
    assert calls == ["refused"] and not writing()
