"""The durable job queue: background work that survives restarts, runs once it commits, and retries.

Enqueue inside a unit of work (the job exists iff its transaction commits)::

    async with uow:
        ...
        await uow.jobs.enqueue("webhook.deliver", {"delivery_id": 7}, key="delivery:7", run_at=None)
        await uow.commit()

- `kind` names the handler; `payload` is JSON (a dict); `key` makes it idempotent: while a job of the
  same kind and key is pending (waiting or running), another enqueue does nothing (answers None; else
  the new job id). `run_at` (aware datetime) defers it. A commit that enqueued wakes this node's worker.

Handle a kind: register it on the node's `Registry` in services.py (`build_services`)::

    services.jobs.add("webhook.deliver", deliver, max_attempts=8, backoff=5.0, timeout=30.0)
    # or: @registry.handler("webhook.deliver", max_attempts=8)
    async def deliver(job: Job) -> None:  # domain.job_model.Job: id, kind, payload, key, attempts, ...
        ...  # raise to fail the attempt; return to mark it done

- Delivery is at least once: a handler may run again after its worker died mid-job, so make it
  idempotent (check state in its own unit of work). A raised exception retries the job after an
  exponential back-off with jitter (`backoff` · 2^(attempt-1), capped at `max_backoff`); after
  `max_attempts` (or `give_up_after` seconds after it was enqueued) it is dead: kept with its last error,
  listed by `roughcut dead-jobs`, run again by `roughcut replay-jobs ID`.
- `on_dead=hook` (`async def hook(job, error)`) runs whenever the queue gives up on a job of the kind, on
  every path (last attempt failed or timed out, or its worker died), before it is dead; a hook that
  raises keeps the job pending, to run the hook again after a back-off.
- `every=seconds` makes a kind periodic: one pending job per kind (key "periodic"), enqueued at start and
  again when each run ends.
- The worker (`JobRunner`, runner.py) runs in process with the server (JOB_WORKER=true, the default) and as
  `roughcut worker` on any number of machines; workers claim with a lease (FOR UPDATE SKIP LOCKED on
  PostgreSQL, the one write slot on SQLite), so a job runs on one worker at a time.
"""

from __future__ import annotations

from roughcut.jobs.registry import Handler, JobSpec, Registry, backoff_delay
from roughcut.jobs.runner import PERIODIC_KEY, JobRunner

__all__ = ["PERIODIC_KEY", "Handler", "JobRunner", "JobSpec", "Registry", "backoff_delay"]
