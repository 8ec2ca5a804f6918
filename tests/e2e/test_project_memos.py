"""/projects/{id}/memos and /calendar on the real app."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import Mailbox, auth, count_statements, create_project, join, signup

Client = TestClient[Any, Any]


def memos_url(project_id: int, memo_id: int | None = None) -> str:
    base = f"/api/v1/projects/{project_id}/memos"
    return base if memo_id is None else f"{base}/{memo_id}"


async def named(client: Client, mailbox: Mailbox, nickname: str) -> dict[str, Any]:
    pair = await signup(client, mailbox)
    resp = await client.patch("/api/v1/me", json={"nickname": nickname}, headers=auth(pair))
    assert resp.status == 200
    return pair


async def add_memo(client: Client, pair: dict[str, Any], project_id: int, day: str, memo: str) -> dict[str, Any]:
    resp = await client.post(memos_url(project_id), json={"date": day, "memo": memo}, headers=auth(pair))
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def code_of(resp: Any) -> str:
    code: str = (await resp.json())["code"]
    return code


async def test_owner_and_manager_write_and_author_is_shown(client: Client, mailbox: Mailbox) -> None:
    owner = await named(client, mailbox, "Olive")
    manager = await named(client, mailbox, "Mina")
    project = await create_project(client, owner)
    pid = project["id"]
    await join(client, pid, manager["user"]["id"], "manager")

    mine = await add_memo(client, owner, pid, "2026-04-02", "  Shoot day  ")
    assert mine["memo"] == "Shoot day"
    assert mine["date"] == "2026-04-02"
    assert mine["author"] == {"id": owner["user"]["id"], "nickname": "Olive"}
    assert mine["created_at"].endswith("Z")
    theirs = await add_memo(client, manager, pid, "2026-04-03", "Edit review")
    assert theirs["author"] == {"id": manager["user"]["id"], "nickname": "Mina"}

    resp = await client.patch(
        memos_url(pid, mine["id"]), json={"memo": "Shoot moved", "date": "2026-04-05"}, headers=auth(manager)
    )
    assert resp.status == 200
    edited = await resp.json()
    assert (edited["memo"], edited["date"]) == ("Shoot moved", "2026-04-05")
    assert edited["author"]["id"] == owner["user"]["id"]

    assert (await client.delete(memos_url(pid, theirs["id"]), headers=auth(owner))).status == 204
    resp = await client.get(memos_url(pid), headers=auth(manager))
    assert resp.status == 200
    body = await resp.json()
    assert [m["id"] for m in body["items"]] == [mine["id"]]
    assert body["next_cursor"] is None

    resp = await client.post(memos_url(pid), json={"date": "2026-04-02", "memo": "   "}, headers=auth(owner))
    assert (resp.status, await code_of(resp)) == (422, "validation_failed")
    resp = await client.post(memos_url(pid), json={"date": "April", "memo": "x"}, headers=auth(owner))
    assert (resp.status, await code_of(resp)) == (422, "validation_failed")
    resp = await client.patch(memos_url(pid, theirs["id"]), json={"memo": "gone"}, headers=auth(owner))
    assert (resp.status, await code_of(resp)) == (404, "not_found")
    assert (await client.get(memos_url(pid))).status == 401


async def test_memo_of_another_project_is_not_found(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    first = (await create_project(client, owner, name="First"))["id"]
    second = (await create_project(client, owner, name="Second"))["id"]
    memo = await add_memo(client, owner, first, "2026-05-01", "Belongs to the first")
    for method in ("patch", "delete"):
        resp = await getattr(client, method)(memos_url(second, memo["id"]), json={"memo": "x"}, headers=auth(owner))
        assert (resp.status, await code_of(resp)) == (404, "not_found")
    items = (await (await client.get(memos_url(first), headers=auth(owner))).json())["items"]
    assert [(m["id"], m["memo"]) for m in items] == [(memo["id"], "Belongs to the first")]


async def test_member_reads_and_outsider_sees_nothing(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    member = await signup(client, mailbox)
    outsider = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    await join(client, pid, member["user"]["id"])
    memo = await add_memo(client, owner, pid, "2026-06-01", "Kickoff")

    resp = await client.get(memos_url(pid), headers=auth(member))
    assert resp.status == 200
    assert [m["id"] for m in (await resp.json())["items"]] == [memo["id"]]
    writes = (
        ("post", memos_url(pid), {"date": "2026-06-02", "memo": "mine"}),
        ("patch", memos_url(pid, memo["id"]), {"memo": "mine"}),
        ("delete", memos_url(pid, memo["id"]), None),
    )
    for method, url, body in writes:
        resp = await getattr(client, method)(url, json=body, headers=auth(member))
        assert (resp.status, await code_of(resp)) == (403, "permission_denied"), (method, url)

    resp = await client.get(memos_url(pid), headers=auth(outsider))
    assert (resp.status, await code_of(resp)) == (404, "not_found")
    for method, url, body in writes:
        resp = await getattr(client, method)(url, json=body, headers=auth(outsider))
        assert (resp.status, await code_of(resp)) == (404, "not_found"), (method, url)

    items = (await (await client.get(memos_url(pid), headers=auth(owner))).json())["items"]
    assert [(m["id"], m["memo"]) for m in items] == [(memo["id"], "Kickoff")]


async def test_date_range_and_cursor_paging(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    h = auth(owner)
    for day, text in (
        ("2026-01-05", "before"),
        ("2026-01-10", "a"),
        ("2026-01-10", "b"),
        ("2026-01-20", "c"),
        ("2026-01-31", "d"),
        ("2026-02-01", "after"),
    ):
        await add_memo(client, owner, pid, day, text)

    seen: list[str] = []
    url = f"{memos_url(pid)}?from=2026-01-10&to=2026-01-31&limit=3"
    resp = await client.get(url, headers=h)
    page = await resp.json()
    seen += [m["memo"] for m in page["items"]]
    assert page["next_cursor"] is not None
    resp = await client.get(f"{url}&cursor={page['next_cursor']}", headers=h)
    page = await resp.json()
    seen += [m["memo"] for m in page["items"]]
    assert page["next_cursor"] is None
    assert seen == ["a", "b", "c", "d"]

    all_items = (await (await client.get(f"{memos_url(pid)}?limit=100", headers=h)).json())["items"]
    assert [m["memo"] for m in all_items] == ["before", "a", "b", "c", "d", "after"]

    for query in ("from=2026-02-01&to=2026-01-01", "cursor=garbage!", "limit=0", "limit=101", "from=yesterday"):
        resp = await client.get(f"{memos_url(pid)}?{query}", headers=h)
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), query


async def test_writes_are_logged_as_memo_changed(client: Client, mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    h = auth(owner)
    memo = await add_memo(client, owner, pid, "2026-07-01", "Draft")
    assert (await client.patch(memos_url(pid, memo["id"]), json={"date": "2026-07-02"}, headers=h)).status == 200
    assert (await client.delete(memos_url(pid, memo["id"]), headers=h)).status == 204

    resp = await client.get(f"/api/v1/projects/{pid}/events", headers=h)
    assert resp.status == 200
    changes = [e for e in (await resp.json())["items"] if e["type"] == "memo.changed"]
    assert [(e["data"]["action"], e["data"]["memo_id"], e["data"]["date"]) for e in changes] == [
        ("created", memo["id"], "2026-07-01"),
        ("updated", memo["id"], "2026-07-02"),
        ("deleted", memo["id"], "2026-07-02"),
    ]
    assert {(e["project_id"], e["actor"]) for e in changes} == {(pid, owner["user"]["id"])}


async def set_stage(client: Client, pair: dict[str, Any], pid: int, stage: str, start: str, end: str) -> None:
    body = {"start_at": start, "end_at": end, "status": "in_progress"}
    resp = await client.put(f"/api/v1/projects/{pid}/stages/{stage}", json=body, headers=auth(pair))
    assert resp.status == 200, await resp.text()


async def test_calendar_shows_only_the_callers_entries_in_range(client: Client, mailbox: Mailbox) -> None:
    me = await signup(client, mailbox)
    colleague = await signup(client, mailbox)
    stranger = await signup(client, mailbox)
    mine = (await create_project(client, me, name="Mine", color="#112233"))["id"]
    shared = (await create_project(client, colleague, name="Shared"))["id"]
    await join(client, shared, me["user"]["id"])
    foreign = (await create_project(client, stranger, name="Foreign"))["id"]

    await set_stage(client, me, mine, "basic_plan", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z")  # spans
    await set_stage(client, me, mine, "storyboard", "2026-02-01T00:00:00Z", "2026-02-28T23:59:59Z")  # ends before
    await set_stage(client, me, mine, "filming", "2026-03-05T09:00:00Z", "2026-03-07T18:00:00Z")  # inside
    await set_stage(client, me, mine, "video_edit", "2026-03-10T23:30:00Z", "2026-03-12T00:00:00Z")  # last day
    await set_stage(client, me, mine, "post_work", "2026-03-11T00:00:00Z", "2026-03-20T00:00:00Z")  # after
    await set_stage(client, colleague, shared, "filming", "2026-02-20T00:00:00Z", "2026-03-01T00:00:00Z")  # edge
    await set_stage(client, stranger, foreign, "filming", "2026-03-02T00:00:00Z", "2026-03-04T00:00:00Z")

    in_mine = await add_memo(client, me, mine, "2026-03-01", "first day")
    await add_memo(client, me, mine, "2026-02-28", "too early")
    last_day = await add_memo(client, me, mine, "2026-03-10", "last day")
    in_shared = await add_memo(client, colleague, shared, "2026-03-05", "shared memo")
    await add_memo(client, stranger, foreign, "2026-03-05", "not for me")
    for pair, day, text in ((me, "2026-03-03", "dentist"), (me, "2026-03-11", "later"), (stranger, "2026-03-03", "x")):
        resp = await client.post("/api/v1/me/memos", json={"date": day, "memo": text}, headers=auth(pair))
        assert resp.status == 201

    resp = await client.get("/api/v1/calendar?from=2026-03-01&to=2026-03-10", headers=auth(me))
    assert resp.status == 200
    body = await resp.json()
    stages = {(s["project_id"], s["stage"]) for s in body["stages"]}
    assert stages == {(mine, "basic_plan"), (mine, "filming"), (mine, "video_edit"), (shared, "filming")}
    filming = next(s for s in body["stages"] if (s["project_id"], s["stage"]) == (mine, "filming"))
    assert filming == {
        "project_id": mine,
        "project_name": "Mine",
        "color": "#112233",
        "stage": "filming",
        "start_at": "2026-03-05T09:00:00Z",
        "end_at": "2026-03-07T18:00:00Z",
        "status": "in_progress",
    }
    memos = {(m["project_id"], m["id"], m["memo"]) for m in body["memos"]}
    assert memos == {
        (mine, in_mine["id"], "first day"),
        (mine, last_day["id"], "last day"),
        (shared, in_shared["id"], "shared memo"),
    }
    assert all(m["author"]["id"] in (me["user"]["id"], colleague["user"]["id"]) for m in body["memos"])
    assert [(m["date"], m["memo"]) for m in body["personal_memos"]] == [("2026-03-03", "dentist")]

    resp = await client.get("/api/v1/calendar?from=2026-03-11&to=2026-03-11", headers=auth(stranger))
    assert resp.status == 200
    assert (await resp.json()) == {"stages": [], "memos": [], "personal_memos": []}


async def test_calendar_runs_three_statements_whatever_it_holds(client: Client, mailbox: Mailbox) -> None:
    me = await signup(client, mailbox)
    url = "/api/v1/calendar?from=2026-08-01&to=2026-08-31"
    counts = []
    for round_ in range(3):
        for i in range(round_ * 2):
            pid = (await create_project(client, me, name=f"P{round_}{i}"))["id"]
            await set_stage(client, me, pid, "filming", "2026-08-10T00:00:00Z", "2026-08-12T00:00:00Z")
            await add_memo(client, me, pid, "2026-08-11", f"memo {i}")
            resp = await client.post("/api/v1/me/memos", json={"date": "2026-08-11", "memo": "x"}, headers=auth(me))
            assert resp.status == 201
        with count_statements(client) as seen:
            resp = await client.get(url, headers=auth(me))
            assert resp.status == 200
        counts.append(len(seen))
    assert len((await resp.json())["stages"]) == 6
    assert counts == [3, 3, 3]


async def test_calendar_rejects_bad_ranges(client: Client, mailbox: Mailbox) -> None:
    h = auth(await signup(client, mailbox))
    for query in (
        "from=2026-03-10&to=2026-03-01",
        "from=2026-01-01&to=2027-01-02",
        "from=2026-01-01",
        "to=2026-01-01",
        "",
        "from=march&to=2026-01-01",
    ):
        resp = await client.get(f"/api/v1/calendar?{query}", headers=h)
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), query
    assert (await client.get("/api/v1/calendar?from=2024-01-01&to=2024-12-31", headers=h)).status == 200
    assert (await client.get("/api/v1/calendar?from=2026-01-01&to=2026-01-01")).status == 401


async def test_openapi_describes_memos_and_calendar(client: Client) -> None:
    spec = await (await client.get("/api/v1/openapi.json")).json()
    ops = {op["operationId"]: op for path in spec["paths"].values() for op in path.values()}
    for op_id in ("listProjectMemos", "createProjectMemo", "updateProjectMemo", "deleteProjectMemo", "getCalendar"):
        assert op_id in ops, op_id
    assert ops["getCalendar"]["tags"] == ["calendar"]
    assert "403" in ops["createProjectMemo"]["responses"]
