"""SSE: project events stream live to members, resume after Last-Event-ID, and end when access ends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import Settings
from roughcut.http import event_stream_routes
from roughcut.security.tokens import JwtTokens
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, create_project, join, signup

WAIT = 5.0
SCHEDULE = {"start_at": "2026-03-01T00:00:00Z", "end_at": "2026-03-05T00:00:00Z", "status": "in_progress"}


def _url(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/events/stream"


async def _frame(resp: ClientResponse) -> dict[str, str] | None:
    """The next SSE message as field → value (comments skipped); None when the server ended the stream."""
    fields: dict[str, str] = {}
    while True:
        raw = await asyncio.wait_for(resp.content.readline(), WAIT)
        if not raw:
            assert not fields, f"stream ended inside a message: {fields}"
            return None
        line = raw.decode().rstrip("\n")
        if not line:
            if fields:
                return fields
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def _event(resp: ClientResponse) -> tuple[int, str, dict[str, Any]]:
    """The next event's id, type and data (checking that `id:` matches the payload)."""
    frame = await _frame(resp)
    assert frame is not None, "the stream ended"
    data: dict[str, Any] = json.loads(frame["data"])
    assert int(frame["id"]) == data["id"]
    return int(frame["id"]), frame["event"], data


async def _open(
    client: TestClient[Any, Any], project_id: int, headers: dict[str, str], query: str = ""
) -> ClientResponse:
    resp = await client.get(_url(project_id) + query, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert await _frame(resp) == {"retry": "3000"}
    return resp


async def _set_stage(client: TestClient[Any, Any], owner: dict[str, Any], project_id: int, stage: str) -> None:
    resp = await client.put(f"/api/v1/projects/{project_id}/stages/{stage}", json=SCHEDULE, headers=auth(owner))
    assert resp.status == 200, await resp.text()


async def _team(client: TestClient[Any, Any], mailbox: Mailbox) -> tuple[dict[str, Any], dict[str, Any], int]:
    """An owner, a second member and their project."""
    owner, member = await signup(client, mailbox), await signup(client, mailbox)
    project_id: int = (await create_project(client, owner))["id"]
    await join(client, project_id, member["user"]["id"])
    return owner, member, project_id


async def _until(check: Callable[[], bool]) -> None:
    """Poll server state that changes on the server's own schedule (it checks clients every second)."""
    async with asyncio.timeout(WAIT):
        while not check():  # noqa: ASYNC110 - no event to await from the test's side
            await asyncio.sleep(0.05)


async def _log_ids(client: TestClient[Any, Any], pair: dict[str, Any], project_id: int, after: int) -> list[int]:
    resp = await client.get(f"/api/v1/projects/{project_id}/events?after={after}", headers=auth(pair))
    assert resp.status == 200, await resp.text()
    return [e["id"] for e in (await resp.json())["items"]]


async def test_a_stage_change_reaches_another_members_stream(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    await _set_stage(client, owner, project_id, "filming")
    event_id, kind, data = await _event(resp)
    assert kind == "stage.changed"
    assert data["project_id"] == project_id
    assert data["actor"] == owner["user"]["id"]
    assert data["data"]["stage"] == "filming"
    assert data["data"]["status"] == "in_progress"
    assert data["data"]["start_at"] == "2026-03-01T00:00:00Z"
    assert await _log_ids(client, member, project_id, event_id - 1) == [event_id]
    resp.close()
    # The server notices the client left and forgets its listener.
    await _until(lambda: client.app[keys.NOTIFIER].listeners(project_id) == 0)


async def test_last_event_id_resumes_without_loss_or_duplicates(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    await _set_stage(client, owner, project_id, "basic_plan")
    seen, _, _ = await _event(resp)
    resp.close()
    for stage in ("storyboard", "filming", "video_edit"):
        await _set_stage(client, owner, project_id, stage)
    missed = await _log_ids(client, member, project_id, seen)
    assert len(missed) == 3

    resp = await _open(client, project_id, {**auth(member), "Last-Event-ID": str(missed[0])})
    resumed = [await _event(resp) for _ in range(2)]
    assert [(i, d["data"]["stage"]) for i, _, d in resumed] == [(missed[1], "filming"), (missed[2], "video_edit")]
    await _set_stage(client, owner, project_id, "post_work")
    after_id, _, after = await _event(resp)  # the next thing is the new change, not a repeat
    assert after_id > missed[2]
    assert after["data"]["stage"] == "post_work"
    resp.close()

    # Clients that cannot set headers use ?after=; the header (sent by EventSource on reconnect) wins.
    resp = await _open(client, project_id, auth(member), f"?after={missed[1]}")
    assert (await _event(resp))[0] == missed[2]
    resp.close()
    resp = await _open(client, project_id, {**auth(member), "Last-Event-ID": str(missed[2])}, "?after=0")
    assert (await _event(resp))[0] == after_id
    resp.close()


async def test_a_quiet_stream_gets_keepalive_comments(
    client: TestClient[Any, Any], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_stream_routes, "KEEPALIVE_SECONDS", 0.2)
    _, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == b": keepalive\n"
    assert await asyncio.wait_for(resp.content.readline(), WAIT) == b"\n"
    resp.close()


async def test_bad_resume_point_is_a_validation_error(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, member, project_id = await _team(client, mailbox)
    resp = await client.get(_url(project_id), headers={**auth(member), "Last-Event-ID": "x1"})
    assert resp.status == 422
    assert (await resp.json())["code"] == "validation_failed"
    resp = await client.get(_url(project_id) + "?after=-1", headers=auth(member))
    assert resp.status == 422


async def test_non_members_and_anonymous_callers_get_no_stream(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, _, project_id = await _team(client, mailbox)
    outsider = await signup(client, mailbox)
    resp = await client.get(_url(project_id), headers=auth(outsider))
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert (await resp.json())["code"] == "not_found"
    resp = await client.get(_url(project_id))
    assert resp.status == 401
    assert client.app[keys.NOTIFIER].listeners(project_id) == 0


async def test_a_removed_member_sees_the_stream_end(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    gone = await client.delete(f"/api/v1/projects/{project_id}/members/{member['user']['id']}", headers=auth(owner))
    assert gone.status == 204, await gone.text()
    assert await _frame(resp) is None
    await _until(lambda: client.app[keys.NOTIFIER].listeners(project_id) == 0)


async def test_the_stream_ends_when_the_access_token_expires(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, member, project_id = await _team(client, mailbox)
    tokens = client.app[keys.TOKENS]
    short, _ = JwtTokens(tokens.ring, "roughcut", "roughcut", ttl=2).issue_access(member["user"]["id"], 1, 0)
    resp = await _open(client, project_id, {"Authorization": f"Bearer {short}"})
    assert await _frame(resp) is None


async def test_the_stream_ends_at_logout(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    assert (await client.post("/api/v1/auth/logout", headers=auth(member))).status == 204
    assert await _frame(resp) is None  # the token is still signed and unexpired, but its session ended


async def test_node_shutdown_ends_open_streams(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    _, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, auth(member))
    await client.app.shutdown()  # what aiohttp runs before it waits for open requests
    assert await _frame(resp) is None


async def test_embedded_default_streams_with_the_cookie(
    make_client: AppFactory, sqlite_settings: Settings, mailbox: Mailbox
) -> None:
    client = await make_client(sqlite_settings)
    owner, member, project_id = await _team(client, mailbox)
    resp = await _open(client, project_id, {"Cookie": f"__Host-access_token={member['access_token']}"})
    await _set_stage(client, owner, project_id, "filming")
    _, kind, data = await _event(resp)
    assert kind == "stage.changed"
    assert data["data"]["stage"] == "filming"
    resp.close()
