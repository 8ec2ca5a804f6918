"""The queue's own periodic job: finished jobs are deleted after a while (dead ones are kept)."""

from __future__ import annotations

import logging
from datetime import timedelta

from roughcut.domain.job_model import Job
from roughcut.domain.ports import Clock, JobStore
from roughcut.jobs.registry import Registry

log = logging.getLogger(__name__)

PRUNE_KIND = "jobs.prune"
PRUNE_EVERY = 3600.0
DONE_RETENTION = timedelta(days=7)  # long enough to look into what ran last week


def register_housekeeping(registry: Registry, store: JobStore, clock: Clock) -> None:
    """Add the hourly prune of done jobs older than DONE_RETENTION."""

    async def prune(_job: Job) -> None:
        removed = await store.prune(clock.now() - DONE_RETENTION)
        if removed:
            log.info("pruned finished jobs", extra={"count": removed})

    registry.add(PRUNE_KIND, prune, every=PRUNE_EVERY)
