"""Admission control for REST: a bounded number of requests in progress, a bounded FIFO of waiting ones, and a
clean 503 past either bound.

Why: on one core every request in progress shares the CPU. Unbounded, 200 concurrent callers each got 1/200
of it, so a request took ~200 times its own CPU time to finish and held its pooled connection all the while; the
tail reached seconds. Admitted requests now take about `limit` times their CPU time; the others wait in arrival
order holding nothing but a future (no connection, no token check yet). A request that cannot be served in
time is told so at once (queue full) or when its wait runs out, with `Retry-After`, instead of late.

A place is handed straight from a leaving request to the longest waiter, so a newcomer never overtakes the
queue. Only reads (GET, HEAD) are counted. Writes have their own FIFO before they take a connection (the
write slots of storage/db.py), and a write may wait on a row lock for as long as another writer holds it:
counted here, a storm of writers parked on one hot project's lock filled every place, and reads that need
no lock (GET /me, a page load) waited behind them. Long-lived and operational endpoints are not counted
either: health and metrics must answer under overload, and a Socket.IO connection, an SSE stream, a
WebSocket or a blob transfer would hold a place for minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from roughcut.http import problems
from roughcut.metrics import ADMISSIONS

RETRY_AFTER = 1  # seconds: an overload of the kind the queue absorbs passes within about its wait bound
EXEMPT_PREFIXES = (
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/",
    "/api/docs",
    "/socket.io/",
    "/ws/",  # the old app's chat WebSocket
    "/blobs/",
)
EXEMPT_SUFFIXES = ("/events/stream",)  # SSE: GET /api/v1/projects/{id}/events/stream
COUNTED_METHODS = frozenset({"GET", "HEAD"})


def counted(method: str, path: str) -> bool:
    """Whether a request goes through admission control: a read that is neither operational nor long-lived."""
    if method not in COUNTED_METHODS:
        return False
    return not (path.startswith(EXEMPT_PREFIXES) or path.rstrip("/").endswith(EXEMPT_SUFFIXES))


class Admission:
    """At most `limit` holders; at most `queue` waiters, served in arrival order, each for at most `max_wait` s."""

    def __init__(self, limit: int, queue: int, max_wait: float) -> None:
        self._limit = limit
        self._queue = queue
        self._max_wait = max_wait
        self.active = 0
        # True: a place was handed over; False: the wait ran out. Cancelled: the caller went away.
        self._waiting: deque[asyncio.Future[bool]] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a place."""
        return len(self._waiting)

    async def enter(self) -> bool:
        """Take a place, waiting in line if need be; False when the line is full or the wait ran out."""
        if self.active < self._limit and not self._waiting:
            self.active += 1
            ADMISSIONS.labels("admitted").inc()
            return True
        if len(self._waiting) >= self._queue:
            ADMISSIONS.labels("queue_full").inc()
            return False
        loop = asyncio.get_running_loop()
        place: asyncio.Future[bool] = loop.create_future()
        self._waiting.append(place)
        started = loop.time()
        expiry = loop.call_later(self._max_wait, self._expire, place)
        try:
            granted = await place
        except asyncio.CancelledError:
            if place.done() and not place.cancelled() and place.result():
                self.leave()  # handed a place just as the caller went away: pass it on
            else:
                self._forget(place)
            raise
        finally:
            expiry.cancel()
        if granted and loop.time() - started > self._max_wait:
            # Handed a place in time, but the loop ran this task too late: serve nobody late.
            self.leave()
            granted = False
        ADMISSIONS.labels("queued" if granted else "wait_expired").inc()
        return granted

    def leave(self) -> None:
        """Give a place back: to the longest waiter still waiting, else to the pool of free places."""
        while self._waiting:
            place = self._waiting.popleft()
            if not place.done():
                place.set_result(True)  # the place passes on; `active` stays as it is
                return
        self.active -= 1

    def _expire(self, place: asyncio.Future[bool]) -> None:
        if not place.done():
            self._forget(place)
            place.set_result(False)

    def _forget(self, place: asyncio.Future[bool]) -> None:
        with contextlib.suppress(ValueError):  # already taken off the line by leave()
            self._waiting.remove(place)


ADMISSION = web.AppKey("admission", Admission)


def admission_control(gate: Admission) -> Middleware:
    """The middleware that admits every counted read through `gate` (kept in app[ADMISSION])."""

    @web.middleware
    def middleware(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if not counted(request.method, request.path):
            return handler(request)  # handed on, no frame of ours kept while it runs (http/middlewares.py)
        return admitted(request, handler)

    async def admitted(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not await gate.enter():
            return problems.problem(
                503,
                "service_unavailable",
                "The server is busy; try again shortly.",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        try:
            return await handler(request)
        finally:
            gate.leave()

    return middleware
