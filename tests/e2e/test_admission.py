"""REST admission control under real concurrency (http/admission.py), and reads that hold no transaction open.

Reads are held in progress by a real PostgreSQL table lock the test takes: an owner's project read ends
with the project's pending invitations, so it waits in the database, admitted, until the lock goes. Writes
are held the same way by a row lock on the project, which a rename (`@writes`) takes first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from roughcut.http.admission import ADMISSION
from tests.conftest import AppFactory
from tests.e2e.test_sse import _open
from tests.helpers import Mailbox, auth, create_project, signup

WAIT = 10.0  # seconds any awaited condition may take before the test fails
POLL = 0.01


def _dsn(pg_url: str) -> str:
    return pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 - the state is in PostgreSQL and the gate, not an awaitable
            await asyncio.sleep(POLL)


@contextlib.asynccontextmanager
async def _locked(pg_url: str, sql: str, *args: Any) -> AsyncIterator[asyncpg.Connection]:
    """Hold the lock `sql` takes, in a transaction of the test's own, until the block ends; yield another
    connection to watch pg_stat_activity with (a transaction sees one snapshot of it, taken at first look)."""
    holder = await asyncpg.connect(_dsn(pg_url))
    observer = await asyncpg.connect(_dsn(pg_url))
    try:
        async with holder.transaction():
            await holder.execute(sql, *args)
            yield observer
    finally:
        await holder.close()
        await observer.close()


async def _waiting_on_locks(conn: asyncpg.Connection) -> int:
    found: int = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return found


def _request(client: TestClient[Any, Any], method: str, path: str, **kw: Any) -> asyncio.Task[int]:
    async def run() -> int:
        resp = await client.request(method, path, **kw)
        await resp.read()
        return resp.status

    return asyncio.create_task(run())


async def _assert_busy(resp: Any) -> None:
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert (await resp.json())["code"] == "service_unavailable"


# An owner's project read ends with the pending invitations: a lock on that table holds it, admitted.
HOLD_READS = "LOCK TABLE invitations IN ACCESS EXCLUSIVE MODE"


async def test_past_the_queue_reads_are_refused_while_admitted_ones_complete(
    make_client: AppFactory, mailbox: Mailbox, pg_url: str
) -> None:
    client = await make_client(api_concurrency=2, api_queue=2, api_queue_timeout=WAIT * 3, response_cache=False)
    gate = client.app[ADMISSION]
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    async with _locked(pg_url, HOLD_READS) as lock:
        reads = [_request(client, "GET", f"/api/v1/projects/{pid}", headers=auth(pair)) for _ in range(4)]

        async def two_held_and_two_waiting() -> bool:
            return await _waiting_on_locks(lock) == 2 and gate.waiting == 2

        await _until(two_held_and_two_waiting)
        await _assert_busy(await client.get("/api/v1/projects", headers=auth(pair)))
        # Writes are not counted: a change of nickname goes through while every read place is taken.
        renamed = await client.patch("/api/v1/me", json={"nickname": "Renamed"}, headers=auth(pair))
        assert renamed.status == 200, await renamed.text()
        # Operational and long-lived endpoints are not counted: they answer while the API is full.
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/metrics")).status == 200
        assert (await client.get("/socket.io/?EIO=4&transport=polling")).status == 200
        stream = await _open(client, pid, auth(pair))
        stream.close()
        assert (gate.active, gate.waiting) == (2, 2)
    assert await asyncio.wait_for(asyncio.gather(*reads), WAIT) == [200] * 4
    assert (gate.active, gate.waiting) == (0, 0)
    resp = await client.get("/api/v1/me", headers=auth(pair))
    assert (await resp.json())["nickname"] == "Renamed"


async def test_a_read_that_waited_past_the_bound_is_refused_not_served_late(
    make_client: AppFactory, mailbox: Mailbox, pg_url: str
) -> None:
    client = await make_client(api_concurrency=1, api_queue=4, api_queue_timeout=0.2, response_cache=False)
    gate = client.app[ADMISSION]
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    async with _locked(pg_url, HOLD_READS) as lock:
        read = _request(client, "GET", f"/api/v1/projects/{pid}", headers=auth(pair))

        async def held() -> bool:
            return await _waiting_on_locks(lock) == 1

        await _until(held)
        # The only place stays taken until the lock goes, so this request can only time out in the queue.
        await _assert_busy(await client.get("/api/v1/me", headers=auth(pair)))
        assert (gate.active, gate.waiting) == (1, 0)
    assert await asyncio.wait_for(read, WAIT) == 200


async def test_writers_parked_on_a_row_lock_do_not_hold_up_reads(
    make_client: AppFactory, mailbox: Mailbox, pg_url: str
) -> None:
    """The storm that a gate counting writes failed: more renames than read places wait on one project's
    row lock, and reads that need no lock still answer at once."""
    client = await make_client(api_concurrency=2, api_queue=0, api_queue_timeout=WAIT, response_cache=False)
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    async with _locked(pg_url, "SELECT 1 FROM projects WHERE id = $1 FOR UPDATE", pid) as lock:
        renames = [
            _request(client, "PATCH", f"/api/v1/projects/{pid}", json={"name": f"R{n}"}, headers=auth(pair))
            for n in range(4)
        ]

        async def writers_parked() -> bool:
            return await _waiting_on_locks(lock) >= 2

        await _until(writers_parked)
        for _ in range(3):
            me = await client.get("/api/v1/me", headers=auth(pair))
            assert me.status == 200, await me.text()
        assert (await client.get("/api/v1/projects", headers=auth(pair))).status == 200
    assert await asyncio.wait_for(asyncio.gather(*renames), WAIT) == [200] * 4


async def test_a_read_runs_each_statement_in_its_own_transaction(
    make_client: AppFactory, mailbox: Mailbox, pg_url: str
) -> None:
    """An owner's project read ends with the pending invitations: blocked there, behind a table lock, its
    connection shows whether a transaction spans its earlier statements (the old BEGIN ... ROLLBACK did)."""
    client = await make_client(response_cache=False)
    pair = await signup(client, mailbox)
    pid = (await create_project(client, pair))["id"]
    async with _locked(pg_url, "LOCK TABLE invitations IN ACCESS EXCLUSIVE MODE") as lock:
        read = asyncio.create_task(client.get(f"/api/v1/projects/{pid}", headers=auth(pair)))
        blocked: list[asyncpg.Record] = []

        async def read_blocked() -> bool:
            blocked[:] = await lock.fetch(
                "SELECT xact_start, query_start, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return len(blocked) == 1

        await _until(read_blocked)
        assert "invitations" in blocked[0]["query"]
        # Its transaction began with this statement: the role, project, stages and members reads before it
        # ran (and ended) on their own, so the connection never sat idle inside a transaction between them.
        assert blocked[0]["xact_start"] == blocked[0]["query_start"]
        idle_in_transaction = await lock.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%' AND query NOT LIKE 'LOCK TABLE%'"  # not the lock's holder
        )
        assert idle_in_transaction == 0
    resp = await asyncio.wait_for(read, WAIT)
    assert resp.status == 200
    assert (await resp.json())["id"] == pid
