"""The job worker in the server process (woken by its own node's commits) and as `roughcut worker`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from roughcut import keys
from roughcut.app import SERVICES
from roughcut.config import Settings
from roughcut.domain.job_model import Job
from roughcut.jobs.housekeeping import PRUNE_KIND
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from tests.conftest import AppFactory

WAIT = 10.0
START_TIMEOUT = 60.0


async def test_the_server_runs_jobs_its_own_commits_enqueue_at_once(
    make_client: AppFactory, sqlite_settings: Settings
) -> None:
    # Polling once a minute: only the wake after commit can run the job within the test's bound.
    client = await make_client(sqlite_settings, job_worker=True, job_poll_interval=60.0)
    svc = client.app[SERVICES]
    ran = asyncio.Event()
    seen: list[dict[str, object]] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload)
        ran.set()

    svc.jobs.add("test.ping", handle)
    async with client.app[keys.UOW]() as uow:
        await uow.jobs.enqueue("test.ping", {"hello": "world"})
        await uow.commit()
    async with asyncio.timeout(WAIT):
        await ran.wait()
    assert seen == [{"hello": "world"}]


async def test_no_worker_runs_in_the_server_when_turned_off(make_client: AppFactory, sqlite_settings: Settings) -> None:
    assert Settings().job_worker  # on by default; the tests' settings turn it off
    client = await make_client(sqlite_settings, job_worker=False)
    async with client.app[keys.ENGINE].connect() as conn:
        rows = (await conn.execute(select(t.jobs.c.kind))).scalars().all()
    assert rows == []  # not even the periodic prune was scheduled


@pytest.mark.usefixtures("empty_job_queue")  # the worker must not run other tests' jobs
async def test_roughcut_worker_runs_the_queue_and_stops_on_sigterm(pg_url: str, tmp_path: Path) -> None:
    started_at = datetime.now(UTC)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "SMTP_", "JOB_"))}
    env.update(DATABASE_URL=pg_url, DATA_DIR=str(tmp_path / "var"), JOB_POLL_MS="50", LOG_JSON="false")
    prefix = f"w{uuid.uuid4().hex[:8]}"
    env["REDIS_PREFIX"] = prefix
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "roughcut",
        "worker",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    engine = make_engine(pg_url)
    try:
        # An earlier test's server may have run the hourly prune already: make its next run due now.
        async with engine.begin() as conn:
            pending = (t.jobs.c.kind == PRUNE_KIND) & (t.jobs.c.status == "pending")
            await conn.execute(update(t.jobs).where(pending).values(run_at=started_at))
        line = await asyncio.wait_for(proc.stdout.readline(), START_TIMEOUT)
        assert line.decode().strip() == "roughcut worker running"

        async def pruned() -> bool:
            # No server runs now (tests run one at a time): only this worker can have run it.
            async with engine.connect() as conn:
                q = select(t.jobs.c.finished_at).where(t.jobs.c.kind == PRUNE_KIND, t.jobs.c.status == "done")
                return any(at >= started_at for at in (await conn.execute(q)).scalars())

        async with asyncio.timeout(WAIT):
            while not await pruned():  # noqa: ASYNC110 - the state is in the worker process's rows
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await engine.dispose()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
