"""The JobQueue port over the fake store: enqueued jobs commit (or vanish) with their unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.unit.fakes.store import Store


@dataclass(frozen=True, slots=True)
class EnqueuedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    key: str | None
    run_at: datetime


class FakeJobs:
    def __init__(self, s: Store) -> None:
        self.s = s

    async def enqueue(
        self, kind: str, payload: dict[str, Any], *, key: str | None = None, run_at: datetime | None = None
    ) -> int | None:
        if key is not None and any(j.kind == kind and j.key == key for j in self.s.jobs.values()):
            return None  # the fake never runs jobs: every stored one is pending
        job = EnqueuedJob(next(self.s.ids), kind, orjson.loads(orjson.dumps(payload)), key, run_at or datetime.now(UTC))
        self.s.jobs[job.id] = job
        return job.id
