"""Handlers by job kind, with their retry policy; and the back-off between attempts."""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from roughcut.domain.job_model import Job

Handler = Callable[[Job], Coroutine[Any, Any, None]]
# Runs when the queue gives up on a job (its last attempt failed, timed out or lost its worker), with the
# last error, before the job is dead; if it raises, the job stays pending and it runs again later.
DeadHandler = Callable[[Job, str], Coroutine[Any, Any, None]]

DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF = 2.0  # seconds before the second attempt; doubles for each one after
DEFAULT_MAX_BACKOFF = 3600.0
DEFAULT_TIMEOUT = 600.0  # a handler running longer is cancelled and counts as a failed attempt


@dataclass(frozen=True, slots=True)
class JobSpec:
    """How one kind of job runs: its handler, attempts, back-off, time limit, and period if periodic.

    `give_up_after` (seconds since the job was enqueued) ends its retries by age as well: the last retry
    comes at that age at the latest, and a failure from then on is the last.
    """

    kind: str
    run: Handler
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: float = DEFAULT_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF
    timeout: float = DEFAULT_TIMEOUT
    every: float | None = None
    on_dead: DeadHandler | None = None
    give_up_after: float | None = None


def backoff_delay(spec: JobSpec, attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt` (1-based): exponential, capped, with jitter.

    "Equal jitter": half the exponential step is fixed and half random, so retries spread out (a
    failing dependency is not hit by every job at once) yet never come sooner than half the step.
    """
    step = min(spec.max_backoff, spec.backoff * 2.0 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not a secret


class Registry:
    """The job kinds this process runs. Build it at start-up; a worker claims only kinds listed here."""

    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}

    def add(
        self,
        kind: str,
        run: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        every: float | None = None,
        on_dead: DeadHandler | None = None,
        give_up_after: float | None = None,
    ) -> None:
        """Register the handler of a kind; `every` (seconds) makes it periodic: it enqueues itself again;
        `on_dead` runs when the queue gives up on one of its jobs."""
        if kind in self._specs:
            raise ValueError(f"job kind {kind!r} already has a handler")
        periods = (every, give_up_after)
        if max_attempts < 1 or backoff <= 0 or timeout <= 0 or any(v is not None and v <= 0 for v in periods):
            raise ValueError(f"job kind {kind!r}: attempts, back-off, timeout, period and age must be positive")
        self._specs[kind] = JobSpec(
            kind, run, max_attempts, backoff, max_backoff, timeout, every, on_dead, give_up_after
        )

    def handler(
        self,
        kind: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        timeout: float = DEFAULT_TIMEOUT,
        every: float | None = None,
        on_dead: DeadHandler | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of `add`: `@registry.handler("webhook.deliver", max_attempts=8)`."""

        def register(run: Handler) -> Handler:
            self.add(
                kind,
                run,
                max_attempts=max_attempts,
                backoff=backoff,
                max_backoff=max_backoff,
                timeout=timeout,
                every=every,
                on_dead=on_dead,
            )
            return run

        return register

    def get(self, kind: str) -> JobSpec | None:
        return self._specs.get(kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._specs)

    def periodic(self) -> list[JobSpec]:
        return [s for s in self._specs.values() if s.every is not None]
