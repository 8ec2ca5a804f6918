"""The job registry's rules and the back-off between attempts."""

from __future__ import annotations

import pytest

from roughcut.domain.job_model import Job
from roughcut.jobs import Registry, backoff_delay


async def _noop(_job: Job) -> None:
    return None


def test_backoff_doubles_per_attempt_with_jitter_and_a_cap() -> None:
    registry = Registry()
    registry.add("k", _noop, backoff=2.0, max_backoff=60.0)
    spec = registry.get("k")
    assert spec is not None
    for attempt, step in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (30, 60.0)]:
        delays = [backoff_delay(spec, attempt) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jittered


def test_a_kind_has_one_handler_and_a_sane_policy() -> None:
    registry = Registry()

    @registry.handler("a", max_attempts=8, every=60.0)
    async def a(_job: Job) -> None:
        return None

    registry.add("b", _noop)
    assert registry.kinds == {"a", "b"}
    assert [s.kind for s in registry.periodic()] == ["a"]
    spec = registry.get("a")
    assert spec is not None and (spec.max_attempts, spec.every, spec.run) == (8, 60.0, a)
    assert registry.get("c") is None
    with pytest.raises(ValueError, match="already"):
        registry.add("a", _noop)
    for bad in ({"max_attempts": 0}, {"backoff": 0.0}, {"timeout": -1.0}, {"every": 0.0}):
        with pytest.raises(ValueError, match="positive"):
            registry.add("c", _noop, **bad)  # type: ignore[arg-type]


async def test_the_fake_queue_keeps_jobs_only_when_committed() -> None:
    from tests.unit.fakes import FakeUow, Store

    store = Store()
    async with FakeUow(store) as uow:
        await uow.jobs.enqueue("k", {"a": 1})
    assert store.jobs == {}
    async with FakeUow(store) as uow:
        first = await uow.jobs.enqueue("k", {"a": 1}, key="x")
        assert await uow.jobs.enqueue("k", {"a": 2}, key="x") is None
        await uow.commit()
    assert [(j.id, j.payload) for j in store.jobs.values()] == [(first, {"a": 1})]
