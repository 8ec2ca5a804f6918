"""The worker loop: claim due jobs under a lease, run their handlers, then mark them done, retry or dead.

- Claims take at most the free concurrency slots; a claimed job's lease is renewed every third of the
  lease while its handler runs, so only a dead (or frozen) worker lets it lapse, and the job is then
  claimed again by any worker. A lease lost anyway (renewal found another claim) cancels the handler.
- A failed attempt is retried after `backoff_delay`; past the kind's `max_attempts` (or its
  `give_up_after` age, which also caps the last delay) the job is dead, kept with its last error
  (`roughcut dead-jobs` lists them). An attempt whose worker died counts too, so a job that kills its
  worker ends dead instead of killing every worker in turn. Every way to dead runs the kind's `on_dead`
  first; one that fails keeps the job pending, to run `on_dead` again later.
- Wake-up: the loop polls every `poll_interval`, and `wake()` (called by this node's unit of work after
  a commit that enqueued) claims at once.
- `stop()` claims nothing more, gives running handlers `grace` seconds, then cancels them and hands their
  jobs back (the interrupted attempt does not count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from datetime import timedelta

from roughcut.domain.clock import SystemClock
from roughcut.domain.job_model import Job
from roughcut.domain.ports import Clock, JobStore
from roughcut.jobs.registry import JobSpec, Registry, backoff_delay
from roughcut.metrics import JOB_OUTCOMES

log = logging.getLogger(__name__)

PERIODIC_KEY = "periodic"  # the key of a periodic kind's one pending job
GIVEN_UP = "\n(given up: on_dead runs again)"  # the tail of the error kept while a failed on_dead waits
RENEWALS_PER_LEASE = 3  # renew when a third of the lease is gone: two renewals may fail before it lapses


class JobRunner:
    """Runs jobs of the registry's kinds from the store, `concurrency` at a time."""

    def __init__(
        self,
        store: JobStore,
        registry: Registry,
        *,
        concurrency: int = 4,
        poll_interval: float = 1.0,
        lease: float = 30.0,
        grace: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._registry = registry
        self._concurrency = concurrency
        self._poll = poll_interval
        self._lease = timedelta(seconds=lease)
        self._grace = grace
        self._clock = clock or SystemClock()
        self._wakeup = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """A job was just enqueued on this node: claim now instead of at the next poll."""
        self._wakeup.set()

    async def start(self) -> None:
        """Schedule the periodic kinds (idempotent across nodes) and start claiming."""
        now = self._clock.now()
        try:
            for spec in self._registry.periodic():
                await self._store.schedule(spec.kind, PERIODIC_KEY, now, now)
        except Exception:
            # The node still starts (/readyz reports the database); another node or restart schedules them.
            log.exception("could not schedule the periodic jobs")
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self) -> None:
        """Stop claiming; let running jobs finish within the grace, then cancel and release the rest."""
        self._stopping = True
        self._wakeup.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        if self._running:
            _done, late = await asyncio.wait(self._running, timeout=self._grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            free = self._concurrency - len(self._running)
            claimed: list[Job] = []
            if free > 0 and self._registry.kinds:
                try:
                    now = self._clock.now()
                    claimed = await self._store.claim(self._registry.kinds, free, now, now + self._lease)
                except Exception:
                    log.exception("job claim failed")  # the database is down: try again at the next poll
            for job in claimed:
                task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
                self._running.add(task)
                task.add_done_callback(self._finished)
            # Until the next poll, a new job on this node (`wake`) or a freed slot (`_finished`) claims again.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wakeup.set()  # a slot is free

    async def _run(self, job: Job) -> None:
        spec = self._registry.get(job.kind)
        assert spec is not None  # claims name only registered kinds
        try:
            if job.attempts > spec.max_attempts:
                # Its last attempt's worker died (the lease lapsed), or its on_dead failed: it gets no more.
                last = job.last_error or ""
                stopped = "the worker running its last attempt stopped"
                await self._failed(job, spec, last.removesuffix(GIVEN_UP) if last.endswith(GIVEN_UP) else stopped)
                return
            work = asyncio.create_task(spec.run(job), name=f"job-{job.id}-handler")
            try:
                error = await self._supervise(job, spec, work)
            except asyncio.CancelledError:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                await asyncio.shield(self._store.release(job))
                raise
            if error is None:
                await self._succeeded(job, spec)
            elif error:
                await self._failed(job, spec, error)
        except Exception:
            # The database refused the outcome: the lease lapses and the job runs again (at least once).
            log.exception("job outcome not stored", extra={"job_id": job.id, "kind": job.kind})

    async def _supervise(self, job: Job, spec: JobSpec, work: asyncio.Task[None]) -> str | None:
        """Renew the lease until the handler ends: None on success, its error, or "" when the lease was lost."""
        renew_every = self._lease.total_seconds() / RENEWALS_PER_LEASE
        loop = asyncio.get_running_loop()
        deadline = loop.time() + spec.timeout
        while True:
            done, _ = await asyncio.wait({work}, timeout=min(renew_every, max(0.0, deadline - loop.time())))
            if done:
                exc = work.exception()
                if exc is None:
                    return None
                return "".join(traceback.format_exception(exc)).strip()
            if loop.time() >= deadline:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                return f"TimeoutError: the handler ran longer than {spec.timeout:g} s"
            if not await self._extend(job):
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                log.warning("job lease lost; another worker runs it", extra={"job_id": job.id, "kind": job.kind})
                return ""

    async def _extend(self, job: Job) -> bool:
        try:
            return await self._store.extend(job, self._clock.now() + self._lease)
        except Exception:
            log.exception("job lease renewal failed", extra={"job_id": job.id, "kind": job.kind})
            return True  # not lost yet: the next renewal may get through before the lease lapses

    async def _succeeded(self, job: Job, spec: JobSpec) -> None:
        JOB_OUTCOMES.labels(job.kind, "ok").inc()
        now = self._clock.now()
        next_run = now + timedelta(seconds=spec.every) if spec.every is not None else None
        if not await self._store.finish(job, now, next_run):
            log.warning("job finished after its lease was lost", extra={"job_id": job.id, "kind": job.kind})

    async def _failed(self, job: Job, spec: JobSpec, error: str) -> None:
        now = self._clock.now()
        extra = {"job_id": job.id, "kind": job.kind, "attempt": job.attempts}
        deadline = None if spec.give_up_after is None else job.created_at + timedelta(seconds=spec.give_up_after)
        if job.attempts >= spec.max_attempts or (deadline is not None and now >= deadline):
            if not await self._last_word(job, spec, error):
                return
            JOB_OUTCOMES.labels(job.kind, "dead").inc()
            await self._store.bury(job, now, error)
            if spec.every is not None:  # a periodic kind keeps its schedule past one dead run
                await self._store.schedule(job.kind, PERIODIC_KEY, now + timedelta(seconds=spec.every), now)
            log.error("job dead after its last attempt: %s", error.splitlines()[-1], extra=extra)
            return
        JOB_OUTCOMES.labels(job.kind, "failed").inc()
        delay = backoff_delay(spec, job.attempts)
        if deadline is not None:  # the last retry comes at the deadline
            delay = min(delay, (deadline - now).total_seconds())
        await self._store.retry(job, now + timedelta(seconds=delay), error)
        log.warning("job failed; retry in %.1f s: %s", delay, error.splitlines()[-1], extra=extra)

    async def _last_word(self, job: Job, spec: JobSpec, error: str) -> bool:
        """Run the kind's `on_dead`; False (the job is retried, to run it again) when it failed."""
        if spec.on_dead is None:
            return True
        try:
            async with asyncio.timeout(spec.timeout):
                await spec.on_dead(job, error)
        except Exception:
            log.exception("job on_dead failed; it runs again", extra={"job_id": job.id, "kind": job.kind})
            delay = backoff_delay(spec, job.attempts)
            await self._store.retry(job, self._clock.now() + timedelta(seconds=delay), error + GIVEN_UP)
            return False
        return True
