"""A job worker process for tests/integration/test_jobs.py: `python -m tests.job_worker_proc DB_URL KIND DIR`.

It runs one JobRunner (lease 2 s) whose handler of KIND touches DIR/started-{job id}-{attempt}, then
waits forever on its first attempt (the test kills the process there) and finishes on later ones.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from roughcut.domain.job_model import Job
from roughcut.jobs import JobRunner, Registry
from roughcut.storage.db import make_engine
from roughcut.storage.jobs import SqlJobStore

LEASE = 2.0


async def main(url: str, kind: str, folder: Path) -> None:
    engine = make_engine(url)
    registry = Registry()

    async def handle(job: Job) -> None:
        (folder / f"started-{job.id}-{job.attempts}").touch()
        if job.attempts == 1:
            await asyncio.Event().wait()

    registry.add(kind, handle, backoff=0.05)
    runner = JobRunner(SqlJobStore(engine), registry, poll_interval=0.05, lease=LEASE)
    await runner.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
