"""The durable job queue against real PostgreSQL and SQLite: enqueue with the transaction, leases, retries."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.domain.events import Committed
from roughcut.domain.job_model import Job, JobStatus
from roughcut.jobs import PERIODIC_KEY, JobRunner, Registry
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine
from roughcut.storage.jobs import SqlJobStore
from roughcut.storage.uow import SqlUnitOfWork

WAIT = 10.0  # generous bound for anything the tests wait on; they end as soon as it happens


class NoPublisher:
    async def publish(self, batch: Sequence[Committed]) -> None:
        assert not batch


def _kind() -> str:
    return f"test.{uuid.uuid4().hex[:10]}"  # the PostgreSQL database is shared by the run: own kinds only


async def _jobs(engine: AsyncEngine, kind: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.jobs).where(t.jobs.c.kind == kind).order_by(t.jobs.c.id))
        return [dict(r) for r in rows.mappings()]


async def _enqueue(engine: AsyncEngine, kind: str, payload: dict[str, object], **kw: object) -> int | None:
    async with SqlUnitOfWork(engine, NoPublisher()) as uow:
        job_id = await uow.jobs.enqueue(kind, payload, **kw)  # type: ignore[arg-type]
        await uow.commit()
    return job_id


async def _until(check: Callable[[], Awaitable[bool]], bound: float = WAIT) -> None:
    """Wait (bounded) for a state that lives in the database or a file: read it again every 20 ms."""
    async with asyncio.timeout(bound):
        while not await check():  # noqa: ASYNC110 - the state is in another process's rows, not an awaitable
            await asyncio.sleep(0.02)


async def _until_status(engine: AsyncEngine, kind: str, status: str) -> None:
    """Wait (bounded) until the kind's first job has this status."""

    async def reached() -> bool:
        return bool((await _jobs(engine, kind))[0]["status"] == status)

    await _until(reached)


async def test_a_job_exists_iff_its_transaction_commits(engine: AsyncEngine) -> None:
    kind, woken = _kind(), []
    async with SqlUnitOfWork(engine, NoPublisher(), lambda: woken.append(1)) as uow:
        await uow.jobs.enqueue(kind, {"n": 1})
        # left without commit: rolled back
    assert await _jobs(engine, kind) == []
    assert woken == []
    async with SqlUnitOfWork(engine, NoPublisher(), lambda: woken.append(1)) as uow:
        job_id = await uow.jobs.enqueue(kind, {"n": 2})
        assert woken == []  # nobody is told before the commit
        await uow.commit()
    (row,) = await _jobs(engine, kind)
    assert (row["id"], row["payload"], row["status"], row["attempts"]) == (job_id, {"n": 2}, "pending", 0)
    assert woken == [1]


async def test_a_key_makes_enqueue_idempotent_while_pending(engine: AsyncEngine) -> None:
    kind, store = _kind(), SqlJobStore(engine)
    first = await _enqueue(engine, kind, {"v": 1}, key="k1")
    assert first is not None
    assert await _enqueue(engine, kind, {"v": 2}, key="k1") is None
    assert await _enqueue(engine, kind, {"v": 3}, key="k2") is not None
    assert await _enqueue(engine, kind, {"v": 4}) is not None and await _enqueue(engine, kind, {"v": 4}) is not None
    assert len(await _jobs(engine, kind)) == 4
    now = datetime.now(UTC)
    claimed = await store.claim({kind}, 10, now, now + timedelta(seconds=30))
    assert await _enqueue(engine, kind, {"v": 5}, key="k1") is None  # running counts as pending
    (k1,) = [j for j in claimed if j.key == "k1"]
    assert await store.finish(k1, now)
    assert await _enqueue(engine, kind, {"v": 6}, key="k1") is not None  # done: a new one may come


async def test_deferred_jobs_wait_for_run_at(engine: AsyncEngine) -> None:
    kind, store = _kind(), SqlJobStore(engine)
    now = datetime.now(UTC)
    await _enqueue(engine, kind, {}, run_at=now + timedelta(minutes=5))
    assert await store.claim({kind}, 5, now, now + timedelta(seconds=30)) == []
    later = now + timedelta(minutes=6)
    (job,) = await store.claim({kind}, 5, later, later + timedelta(seconds=30))
    assert job.attempts == 1


async def test_a_lapsed_lease_is_claimed_again_and_the_old_claim_is_void(engine: AsyncEngine) -> None:
    kind, store = _kind(), SqlJobStore(engine)
    job_id = await _enqueue(engine, kind, {"x": 1})
    t0 = datetime.now(UTC)
    (first,) = await store.claim({kind}, 5, t0, t0 + timedelta(seconds=30))
    assert (first.id, first.attempts) == (job_id, 1)
    assert await store.claim({kind}, 5, t0 + timedelta(seconds=29), t0 + timedelta(seconds=59)) == []
    t1 = t0 + timedelta(seconds=31)  # the first worker died: its lease lapsed
    (second,) = await store.claim({kind}, 5, t1, t1 + timedelta(seconds=30))
    assert (second.id, second.attempts) == (job_id, 2) and second.token != first.token
    assert not await store.extend(first, t1 + timedelta(seconds=60))  # the old claim changes nothing
    assert not await store.finish(first, t1)
    assert not await store.retry(first, t1, "late")
    assert await store.finish(second, t1)
    (row,) = await _jobs(engine, kind)
    assert (row["status"], row["attempts"], row["locked_until"]) == ("done", 2, None)


async def test_claims_name_only_the_worker_kinds(engine: AsyncEngine) -> None:
    mine, other, store = _kind(), _kind(), SqlJobStore(engine)
    await _enqueue(engine, other, {})
    now = datetime.now(UTC)
    assert await store.claim({mine}, 5, now, now + timedelta(seconds=30)) == []


async def test_failures_retry_with_backoff_then_the_job_is_dead(engine: AsyncEngine) -> None:
    kind, store, registry = _kind(), SqlJobStore(engine), Registry()
    attempts: list[tuple[int, float]] = []
    done = asyncio.Event()

    async def flaky(job: Job) -> None:
        attempts.append((job.attempts, asyncio.get_running_loop().time()))
        if job.attempts == 3:
            done.set()
        raise RuntimeError(f"boom {job.attempts}")

    registry.add(kind, flaky, max_attempts=3, backoff=0.2)
    runner = JobRunner(store, registry, poll_interval=0.02)
    job_id = await _enqueue(engine, kind, {"p": 1})
    await runner.start()
    try:
        async with asyncio.timeout(WAIT):
            await done.wait()

        await _until_status(engine, kind, "dead")
    finally:
        await runner.stop()
    assert [a for a, _ in attempts] == [1, 2, 3]
    # Back-off after attempt n is in [b·2^(n-1)/2, b·2^(n-1)]: 0.1-0.2 s, then 0.2-0.4 s (plus polling).
    gap1, gap2 = attempts[1][1] - attempts[0][1], attempts[2][1] - attempts[1][1]
    assert 0.1 <= gap1 < 0.2 + 0.5 and 0.2 <= gap2 < 0.4 + 0.5
    (row,) = await _jobs(engine, kind)
    assert row["attempts"] == 3 and "RuntimeError: boom 3" in str(row["last_error"])
    listed = [j for j in await store.dead(1000) if j.id == job_id]
    assert [(j.status, j.kind, j.payload) for j in listed] == [(JobStatus.DEAD, kind, {"p": 1})]


async def test_a_job_whose_last_attempt_lost_its_worker_ends_dead_unrun(engine: AsyncEngine) -> None:
    kind, store, registry = _kind(), SqlJobStore(engine), Registry()
    ran: list[int] = []

    async def handle(job: Job) -> None:
        ran.append(job.attempts)

    registry.add(kind, handle, max_attempts=1)
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    await _enqueue(engine, kind, {}, run_at=t0)
    assert await store.claim({kind}, 5, t0, t0 + timedelta(seconds=1))  # a worker claimed it and died
    runner = JobRunner(store, registry, poll_interval=0.02)
    await runner.start()
    try:
        await _until_status(engine, kind, "dead")
    finally:
        await runner.stop()
    assert ran == []


async def test_on_dead_runs_on_every_way_to_dead_and_again_until_it_succeeds(engine: AsyncEngine) -> None:
    kind, store, registry = _kind(), SqlJobStore(engine), Registry()
    last_words: list[tuple[str, int, str]] = []

    async def handle(job: Job) -> None:
        if job.payload["how"] == "hangs":
            await asyncio.sleep(60)
        raise RuntimeError("poison")

    async def on_dead(job: Job, error: str) -> None:
        last_words.append((str(job.payload["how"]), job.attempts, error.splitlines()[-1]))
        if job.payload["how"] == "flaky" and job.attempts == 2:
            raise ConnectionError("database down while recording the failure")

    registry.add(kind, handle, max_attempts=2, backoff=0.05, timeout=0.3, on_dead=on_dead)
    for how in ("raises", "hangs", "flaky"):
        await _enqueue(engine, kind, {"how": how})
    t0 = datetime.now(UTC) - timedelta(minutes=1)
    await _enqueue(engine, kind, {"how": "killed"}, run_at=t0)
    for _ in range(2):  # two workers claimed it and died
        assert await store.claim({kind}, 1, t0, t0 + timedelta(seconds=1))
        t0 += timedelta(seconds=2)
    runner = JobRunner(store, registry, poll_interval=0.02)
    await runner.start()
    try:

        async def all_dead() -> bool:
            return all(j["status"] == "dead" for j in await _jobs(engine, kind))

        await _until(all_dead)
    finally:
        await runner.stop()
    assert sorted(last_words) == [
        ("flaky", 2, "RuntimeError: poison"),
        ("flaky", 3, "RuntimeError: poison"),  # its on_dead failed: the job stayed pending and it ran again
        ("hangs", 2, "TimeoutError: the handler ran longer than 0.3 s"),
        ("killed", 3, "the worker running its last attempt stopped"),
        ("raises", 2, "RuntimeError: poison"),
    ]


async def test_a_handler_past_its_timeout_fails_the_attempt(engine: AsyncEngine) -> None:
    kind, store, registry = _kind(), SqlJobStore(engine), Registry()

    async def hangs(_job: Job) -> None:
        await asyncio.Event().wait()

    registry.add(kind, hangs, max_attempts=1, timeout=0.3)
    runner = JobRunner(store, registry, poll_interval=0.02)
    await _enqueue(engine, kind, {})
    await runner.start()
    try:
        await _until_status(engine, kind, "dead")
    finally:
        await runner.stop()
    (row,) = await _jobs(engine, kind)
    assert "TimeoutError" in str(row["last_error"])


async def test_a_slow_handler_keeps_its_lease_against_another_worker(engine: AsyncEngine) -> None:
    kind, store = _kind(), SqlJobStore(engine)
    runs: list[int] = []

    async def slow(job: Job) -> None:
        runs.append(job.attempts)
        await asyncio.sleep(1.5)  # 2.5 leases: only renewals keep the other worker off it

    registries = [Registry(), Registry()]
    for registry in registries:
        registry.add(kind, slow)
    runners = [JobRunner(store, r, poll_interval=0.02, lease=0.6) for r in registries]
    await _enqueue(engine, kind, {})
    for r in runners:
        await r.start()
    try:
        await _until_status(engine, kind, "done")
    finally:
        for r in runners:
            await r.stop()
    (row,) = await _jobs(engine, kind)
    assert runs == [1] and row["attempts"] == 1


async def test_stop_hands_running_jobs_back_uncounted(engine: AsyncEngine) -> None:
    kind, store, registry = _kind(), SqlJobStore(engine), Registry()
    started = asyncio.Event()

    async def forever(_job: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    registry.add(kind, forever)
    runner = JobRunner(store, registry, poll_interval=0.02, grace=0.05)
    await _enqueue(engine, kind, {})
    await runner.start()
    async with asyncio.timeout(WAIT):
        await started.wait()
    await runner.stop()
    (row,) = await _jobs(engine, kind)
    assert (row["status"], row["attempts"], row["locked_until"]) == ("pending", 0, None)


async def test_periodic_kinds_keep_one_pending_job(engine: AsyncEngine) -> None:
    kind, store = _kind(), SqlJobStore(engine)
    runs = asyncio.Event()
    registries = [Registry(), Registry()]

    async def tick(job: Job) -> None:
        assert job.key == PERIODIC_KEY
        runs.set()

    for registry in registries:
        registry.add(kind, tick, every=3600)
    runners = [JobRunner(store, r, poll_interval=0.02) for r in registries]
    for r in runners:
        await r.start()  # both nodes schedule it: one job
    try:
        async with asyncio.timeout(WAIT):
            await runs.wait()

        async def rescheduled() -> bool:
            return [r["status"] for r in await _jobs(engine, kind)] == ["done", "pending"]

        await _until(rescheduled)
    finally:
        for r in runners:
            await r.stop()
    done, pending = await _jobs(engine, kind)
    assert pending["key"] == PERIODIC_KEY
    assert timedelta(minutes=59) < pending["run_at"] - done["finished_at"] <= timedelta(hours=1)  # type: ignore[operator]


async def test_a_worker_killed_mid_job_leaves_it_to_run_again(engine: AsyncEngine, tmp_path: Path) -> None:
    kind = _kind()
    job_id = await _enqueue(engine, kind, {"clip": 1})
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.job_worker_proc", url, kind, str(tmp_path), env=env
    )
    try:

        async def started() -> bool:
            return (tmp_path / f"started-{job_id}-1").exists()

        await _until(started, bound=30)  # the process imports the app first
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    (row,) = await _jobs(engine, kind)
    assert (row["status"], row["attempts"]) == ("pending", 1)  # claimed, never finished
    # Another worker takes it over once the dead one's lease (2 s) lapses, and completes it.
    registry, finished = Registry(), asyncio.Event()

    async def handle(job: Job) -> None:
        assert job.payload == {"clip": 1}
        finished.set()

    registry.add(kind, handle)
    runner = JobRunner(SqlJobStore(engine), registry, poll_interval=0.05)
    await runner.start()
    try:
        async with asyncio.timeout(WAIT):
            await finished.wait()

        await _until_status(engine, kind, "done")
    finally:
        await runner.stop()
    (row,) = await _jobs(engine, kind)
    assert row["attempts"] == 2


async def test_two_workers_never_run_the_same_job_at_once(pg_url: str) -> None:
    """PostgreSQL: separate engines (pools) stand for separate worker processes."""
    kind, count = _kind(), 60
    engines = [make_engine(pg_url) for _ in range(3)]
    running: set[int] = set()
    runs: dict[int, int] = {}
    all_done = asyncio.Event()

    async def handle(job: Job) -> None:
        assert job.id not in running, f"job {job.id} runs twice at once"
        running.add(job.id)
        await asyncio.sleep(0.01)
        running.discard(job.id)
        runs[job.id] = runs.get(job.id, 0) + 1
        if len(runs) == count:
            all_done.set()

    try:
        for i in range(count):
            await _enqueue(engines[0], kind, {"i": i})
        # Concurrent claims on three connections: SKIP LOCKED hands each job to one claimer.
        now = datetime.now(UTC)
        batches = await asyncio.gather(
            *(SqlJobStore(e).claim({kind}, 25, now, now) for e in engines)  # leases that lapse at once
        )
        ids = [j.id for batch in batches for j in batch]
        assert len(ids) == len(set(ids)) == count
        runners = []
        for e in engines:  # the runners race for every job again
            registry = Registry()
            registry.add(kind, handle)
            runners.append(JobRunner(SqlJobStore(e), registry, concurrency=8, poll_interval=0.02, lease=5.0))
        for r in runners:
            await r.start()
        try:
            async with asyncio.timeout(WAIT):
                await all_done.wait()
        finally:
            for r in runners:
                await r.stop()
        assert runs == dict.fromkeys(ids, 1)
        rows = await _jobs(engines[0], kind)
        assert {(r["status"], r["attempts"]) for r in rows} == {("done", 2)}
    finally:
        for e in engines:
            await e.dispose()
