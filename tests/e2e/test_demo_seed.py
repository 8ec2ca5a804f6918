"""The embedded default's demo account opens on a demo project: a schedule, a thread with comments, a chat."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from roughcut.config import Settings
from roughcut.storage.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_PROJECT
from tests.conftest import AppFactory

API = "/api/v1"


async def _get(client: TestClient[Any, Any], url: str, token: str) -> Any:
    resp = await client.get(f"{API}{url}", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _first_screen(client: TestClient[Any, Any]) -> dict[str, Any]:
    """What the demo account sees: its projects, and the first one's thread, comments and chat."""
    resp = await client.post(f"{API}/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
    assert resp.status == 200, await resp.text()
    token = (await resp.json())["access_token"]
    listed = (await _get(client, "/projects", token))["items"]
    threads = (await _get(client, f"/projects/{listed[0]['id']}/feedback", token))["items"]
    fid = threads[0]["id"]
    return {
        "projects": listed,
        "threads": threads,
        "comments": (await _get(client, f"/feedback/{fid}/comments", token))["items"],
        "messages": (await _get(client, f"/feedback/{fid}/messages", token))["items"],
        "events": (await _get(client, f"/projects/{listed[0]['id']}/events", token))["items"],
    }


async def test_demo_project_is_seeded_once(make_client: AppFactory, sqlite_settings: Settings) -> None:
    first = await make_client(sqlite_settings, demo_user=True)
    seen = await _first_screen(first)
    (project,) = seen["projects"]
    assert (project["name"], project["my_role"], project["current_stage"]) == (DEMO_PROJECT, "owner", "storyboard")
    assert {s["stage"]: s["status"] for s in project["stages"] if s["status"] != "todo"} == {
        "basic_plan": "done",
        "storyboard": "in_progress",
    }
    assert len(seen["threads"]) == 1 and seen["threads"][0]["comment_count"] == 2
    assert [c["at_ms"] for c in seen["comments"]] == [4_000, 42_000]  # time-coded, in video order
    assert [m["seq"] for m in seen["messages"]] == [1, 2, 3]
    # Made through the use cases: the same events as the API's writes.
    kinds = [e["type"] for e in seen["events"]]
    assert kinds[:1] == ["feedback.created"] and kinds.count("comment.created") == 2
    await first.close()

    restarted = await make_client(sqlite_settings, demo_user=True)  # the same data folder: a restart
    again = await _first_screen(restarted)
    assert [p["id"] for p in again["projects"]] == [project["id"]]
    assert [c["id"] for c in again["comments"]] == [c["id"] for c in seen["comments"]]
    assert [m["id"] for m in again["messages"]] == [m["id"] for m in seen["messages"]]
