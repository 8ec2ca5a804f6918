"""REST: Server-Sent Events — a project's durable event log as a live `text/event-stream`."""

from __future__ import annotations

import asyncio
import re
import time
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from marshmallow import Schema, validate

from roughcut import keys
from roughcut.domain import errors, projects
from roughcut.domain.events import StoredEvent
from roughcut.domain.ports import NewsWaiter
from roughcut.http import stream_tickets
from roughcut.http.jsonutil import json_response
from roughcut.http.middlewares import REQUEST_ID_HEADER
from roughcut.http.rate_limits import RATE_HEADERS
from roughcut.http.routing import ApiRoutes, path_int, read_query
from roughcut.http.security import authenticate
from roughcut.logging import request_id
from roughcut.security.access import RevokedSessions
from roughcut.wire.fields import Id, Text
from roughcut.wire.json import dumps

routes = ApiRoutes()

KEEPALIVE_SECONDS = 15.0  # a comment this often keeps proxies from closing a quiet stream (and re-reads the log)
LIVENESS_SECONDS = 1.0  # how often a waiting stream checks its client, its token and session, and node shutdown
RETRY_MS = 3000  # the reconnect delay EventSource is told to use
WRITE_TIMEOUT_SECONDS = 10.0  # a client that cannot take a write this long is dropped (it resumes from the log)
PAGE_SIZE = 100  # events read from the log per query
LAST_EVENT_ID = "Last-Event-ID"
KEEPALIVE = b": keepalive\n\n"
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_EVENT_ID = re.compile(r"[0-9]{1,18}")


class StreamQuery(Schema):
    after = Id(
        cursor=True,
        query=True,
        metadata={"description": "Resume after this event id (the Last-Event-ID header wins when both are sent)."},
    )
    ticket = Text(
        validate=validate.Length(1, 100),
        metadata={
            "description": "A stream ticket (POST …/events/stream-tickets) instead of the token or cookie: "
            "for EventSource, which cannot send Authorization. Single-use: reconnect with a new one and `after`."
        },
    )


def _resume_after(request: web.Request, query: dict[str, Any]) -> int | None:
    """Where to resume: Last-Event-ID (what EventSource sends on reconnect) before `?after=`; None for "now"."""
    header = request.headers.get(LAST_EVENT_ID, "").strip()
    if header:
        if not _EVENT_ID.fullmatch(header):
            raise errors.ValidationFailed(fields={LAST_EVENT_ID: ["Expected a non-negative integer event id."]})
        return int(header)
    after: int | None = query.get("after")
    return after


def _frame(event: StoredEvent) -> bytes:
    """One SSE message; orjson output is a single line, so one `data:` line carries it."""
    return f"id: {event.id}\nevent: {event.type}\ndata: {dumps(event.as_dict())}\n\n".encode()


def _live_frame(event: str, payload: Any) -> bytes:
    """A live-only change (upload progress): not in the log, so no `id:` (it is never replayed)."""
    return f"event: {event}\ndata: {dumps(payload)}\n\n".encode()


def _disconnected(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@dataclass(slots=True)
class _Stream:
    """One open stream: sends what the log holds after `cursor`, then waits for news about the project."""

    request: web.Request
    response: web.StreamResponse
    sub: NewsWaiter
    deps: projects.Projects
    user_id: int
    project_id: int
    expires_at: int
    cursor: int
    session_id: int
    revoked: RevokedSessions

    def _over(self) -> bool:
        """The node stops, the client left, the token expired, or its session ended (logout)."""
        return (
            self.sub.closed
            or _disconnected(self.request)
            or time.time() >= self.expires_at
            or self.session_id in self.revoked
        )

    async def run(self) -> None:
        """Send and wait until the caller may no longer read, goes away, its token expires, or the node stops."""
        await self._write(f"retry: {RETRY_MS}\n\n".encode())
        while await self._send_new():
            news = await self._idle()
            if news is None:
                return
            if not news:
                await self._write(KEEPALIVE)

    async def _write(self, data: bytes) -> None:
        """Write, or drop a client too slow to read it: its buffer must not grow without bound."""
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                await self.response.write(data)
        except TimeoutError:
            if self.request.transport is not None:
                self.request.transport.abort()
            raise ConnectionResetError("SSE client too slow; dropped") from None

    async def _send_new(self) -> bool:
        """Write the live changes that came meanwhile, then every event after the cursor; False once the caller
        is no longer a member or the project is gone."""
        live = self.sub.take_live(self.user_id)
        if live:
            await self._write(b"".join(_live_frame(event, payload) for event, payload in live))
        while True:
            try:  # one short transaction per page: no database connection is held while the stream waits
                page = await projects.project_events(self.deps, self.user_id, self.project_id, self.cursor, PAGE_SIZE)
            except errors.NotFound:
                return False
            if page.events:
                await self._write(b"".join(_frame(e) for e in page.events))
                self.cursor = page.events[-1].id
            if not page.events or self.cursor >= page.last_id:
                return True

    async def _idle(self) -> bool | None:
        """Wait for news (True) or a quiet keepalive period (False); None when the stream must end."""
        loop = asyncio.get_running_loop()
        quiet_until = loop.time() + KEEPALIVE_SECONDS
        while not self._over():
            left = quiet_until - loop.time()
            if left <= 0:
                return False
            try:
                async with asyncio.timeout(min(left, LIVENESS_SECONDS)):
                    await self.sub.wait()
            except TimeoutError:
                continue
            return True
        return None


@routes.route(
    "GET",
    "/projects/{project_id}/events/stream",
    op="streamProjectEvents",
    summary="Live project events as text/event-stream (SSE): `id:` is the event id, resume with Last-Event-ID",
    tags=("projects",),
    query=StreamQuery,
    responses={200: "text/event-stream"},
    errors=(404,),
)
async def stream_events(request: web.Request) -> web.StreamResponse:
    query = read_query(request, StreamQuery)
    project_id = path_int(request, "project_id")
    ticket = query.get("ticket")
    claims = authenticate(request) if ticket is None else await stream_tickets.redeem(request, ticket, project_id)
    after = _resume_after(request, query)
    deps = request.config_dict[keys.PROJECTS]
    async with request.config_dict[keys.NOTIFIER].listen(project_id) as sub:
        # Listening starts before this first read, so nothing committed after it goes unnoticed. The read checks
        # membership before the response starts (non-members get a 404 problem) and gives the log's last id.
        last = (await projects.project_events(deps, claims.user_id, project_id, after=0, limit=0)).last_id
        headers = {**STREAM_HEADERS, **request.get(RATE_HEADERS, {}), REQUEST_ID_HEADER: request_id.get()}
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        stream = _Stream(
            request=request,
            response=response,
            sub=sub,
            deps=deps,
            user_id=claims.user_id,
            project_id=project_id,
            expires_at=claims.expires_at,
            cursor=last if after is None else after,
            session_id=claims.session_id,
            revoked=request.config_dict[keys.ACCESS].revoked,
        )
        with suppress(ConnectionResetError):  # the client went away (or was dropped): nothing to report
            await stream.run()
    return response


@routes.route(
    "POST",
    "/projects/{project_id}/events/stream-tickets",
    op="createStreamTicket",
    summary="A single-use ticket (30 s) that opens this project's event stream without a token in the URL",
    tags=("projects",),
    responses={201: stream_tickets.StreamTicketSchema},
    errors=(404,),
)
async def create_stream_ticket(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = path_int(request, "project_id")
    await projects.member_role(request.config_dict[keys.PROJECTS], claims.user_id, project_id)
    body = await stream_tickets.issue(request, claims, project_id)
    return json_response(body, 201, headers={"Cache-Control": "no-store"})
