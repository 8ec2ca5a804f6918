"""Write use cases: declared with `@writes`, run again as a whole when their transaction hits a conflict.

A use case that changes state is decorated `@writes`. That does two things:

- Its unit of work knows it writes (`writing()`): it queues for a write slot before it takes a pooled
  connection (storage/db.py: one slot on the embedded SQLite database, which then BEGINs IMMEDIATE;
  half the pool on PostgreSQL), so read-only use cases never wait for writers. On PostgreSQL its first
  role lookup locks the project row (`require_role`), so every writer takes its project lock before
  anything under the project: one global lock order.
- When the database still reports a deadlock or serialization failure (the unit of work raises
  `TransactionConflict` for SQLSTATE 40P01/40001), the whole call runs again, a bounded number of
  times with a short jittered back-off. That is safe because such a failure leaves nothing behind:
  the transaction rolled back and the unit of work publishes only after a successful COMMIT. Every
  `@writes` use case therefore runs exactly one transaction (tests/unit/test_writes.py checks it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from roughcut.domain import errors

log = logging.getLogger(__name__)

# The first try and up to three more: a conflict needs two transactions racing on the same rows; after
# the winner commits, the retry finds the rows free, so a third conflict in a row means real overload.
WRITE_ATTEMPTS = 4
# Back-off before retry n is uniform in [0, RETRY_BASE_DELAY * 2**n) seconds ("full jitter"), so
# the transactions that lost a deadlock do not collide again in lockstep.
RETRY_BASE_DELAY = 0.01

P = ParamSpec("P")
T = TypeVar("T")

_writing: ContextVar[bool] = ContextVar("roughcut_writing", default=False)


def writing() -> bool:
    """Whether the current call runs inside a `@writes` use case (its units of work write)."""
    return _writing.get()


def writes(use_case: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
    """Declare a use case that writes: queued for the write slot, and re-run on a transaction conflict."""

    @functools.wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        if _writing.get():
            return await use_case(*args, **kwargs)  # called from another write: the outermost call retries
        token = _writing.set(True)
        try:
            attempt = 1
            while True:
                try:
                    return await use_case(*args, **kwargs)
                except errors.TransactionConflict:
                    if attempt >= WRITE_ATTEMPTS:
                        log.warning("transaction conflict persisted", extra={"use_case": use_case.__name__})
                        raise
                    await asyncio.sleep(random.uniform(0, RETRY_BASE_DELAY * 2**attempt))  # noqa: S311 (jitter)
                    attempt += 1
        finally:
            _writing.reset(token)

    return run
