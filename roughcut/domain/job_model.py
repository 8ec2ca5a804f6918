"""Background jobs: what a worker claimed from the durable queue (roughcut/jobs, storage/jobs.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"  # waiting for `run_at`, or running under a lease
    DONE = "done"
    DEAD = "dead"  # failed its last attempt; kept for an operator to read


@dataclass(frozen=True, slots=True)
class Job:
    """One job row. `attempts` counts claims, this one included; `token` names the claim holding the lease."""

    id: int
    kind: str
    payload: dict[str, Any]
    key: str | None
    status: JobStatus
    attempts: int
    run_at: datetime
    created_at: datetime
    token: str | None = None
    last_error: str | None = None
    finished_at: datetime | None = None
