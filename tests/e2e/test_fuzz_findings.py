"""What the REST and Socket.IO fuzzers found, pinned one by one on both databases.

Times without an offset, dates where a time was wanted and times a day from the ends of the calendar answered 500;
a blank project name was stored; 1 and "yes" were booleans; 1.0 was no integer although the document said it was.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, signup

API = "/api/v1"
BAD_TIMES = ["2026-05-09T10:00:00", "2026-05-09", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-01:00"]


@pytest.fixture(params=["postgresql", "sqlite"])
async def any_client(request: pytest.FixtureRequest, make_client: AppFactory) -> TestClient[Any, Any]:
    chosen: Settings = request.getfixturevalue("pg_settings" if request.param == "postgresql" else "sqlite_settings")
    return await make_client(chosen)


async def _problem(resp: Any, status: int = 422) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_times_the_database_cannot_hold_are_refused(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    owner = await signup(client, mailbox)
    h = auth(owner)
    pid = (await create_project(client, owner))["id"]
    for when in BAD_TIMES:
        body = {"name": "x", "stages": [{"stage": "filming", "start_at": when}]}
        problem = await _problem(await client.post(f"{API}/projects", json=body, headers=h))
        assert problem["code"] == "validation_failed" and "stages" in problem["errors"], when
        resp = await client.put(
            f"{API}/projects/{pid}/stages/filming", json={"start_at": when, "status": "todo"}, headers=h
        )
        assert "start_at" in (await _problem(resp))["errors"], when
    for query in ("from=2026-05-09T10:00:00", "to=0001-01-01T00:00:00%2B05:00", "from=2026-02-30"):
        resp = await client.get(f"{API}/projects?{query}", headers=h)
        assert (await _problem(resp))["code"] == "validation_failed", query
    # A time with its offset is held in UTC.
    resp = await client.put(
        f"{API}/projects/{pid}/stages/filming",
        json={"start_at": "2026-05-09T10:00:00+09:00", "status": "todo"},
        headers=h,
    )
    stage = next(s for s in (await _problem(resp, 200))["stages"] if s["stage"] == "filming")
    assert stage["start_at"] == "2026-05-09T01:00:00Z"


async def test_project_ranges_take_a_day_as_that_whole_day(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    owner = await signup(client, mailbox)
    h = auth(owner)
    stages = [{"stage": "filming", "start_at": "2026-05-09T23:00:00Z", "end_at": "2026-05-10T01:00:00Z"}]
    await create_project(client, owner, name="Night shoot", stages=stages)

    async def names(query: str) -> list[str]:
        body = await _problem(await client.get(f"{API}/projects?{query}", headers=h), 200)
        return [p["name"] for p in body["items"]]

    assert await names("from=2026-05-09&to=2026-05-09") == ["Night shoot"]  # the day's last hour counts
    assert await names("from=2026-05-10&to=2026-05-10") == ["Night shoot"]
    assert await names("from=2026-05-11") == []
    assert await names("to=2026-05-08") == []
    assert await names("from=2026-05-09T23:30:00%2B00:00&to=2026-05-09") == ["Night shoot"]


async def test_blank_names_booleans_and_integral_numbers(any_client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    client = any_client
    owner = await signup(client, mailbox)
    h = auth(owner)
    for blank in (" ", "\u3000\u00a0"):
        resp = await client.post(f"{API}/projects", json={"name": blank}, headers=h)
        assert "name" in (await _problem(resp))["errors"]  # was stored, named ""
    pid = (await create_project(client, owner))["id"]
    threads = await _problem(await client.get(f"{API}/projects/{pid}/feedback", headers=h), 200)
    fid = threads["items"][0]["id"]
    for flag in (1, "yes", "true", None):
        resp = await client.post(f"{API}/feedback/{fid}/comments", json={"text": "x", "anonymous": flag}, headers=h)
        assert "anonymous" in (await _problem(resp))["errors"], flag
    resp = await client.post(f"{API}/feedback/{fid}/comments", json={"text": "x", "at_ms": 1500.0}, headers=h)
    comment = await _problem(resp, 201)
    assert comment["at_ms"] == 1500 and isinstance(comment["at_ms"], int)
    resp = await client.post(f"{API}/comments/{comment['id']}/resolve", json={"resolved": 1}, headers=h)
    assert "resolved" in (await _problem(resp))["errors"]
    resp = await client.patch(f"{API}/projects/{pid}/members/{owner['user']['id']}", json={"role": "owner"}, headers=h)
    assert "role" in (await _problem(resp))["errors"]  # not a role one grants: the document says manager or member
