"""Projects over REST: create, read, update, schedule, list with filters and pages, members, delete."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import Secret, Settings
from roughcut.domain.project_model import SORTS
from tests.conftest import AppFactory
from tests.helpers import Mailbox, auth, count_statements, create_project, join, signup

Client = TestClient[Any, Any]

STAGES = [
    "basic_plan",
    "storyboard",
    "filming",
    "video_edit",
    "post_work",
    "video_preview",
    "confirmation",
    "video_delivery",
]


async def test_create_read_and_first_feedback_thread(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    project = await create_project(
        client,
        owner,
        manager="Kim",
        consumer="ACME",
        color="#ff8800",
        stages=[
            {
                "stage": "filming",
                "start_at": "2026-03-01T09:00:00Z",
                "end_at": "2026-03-03T18:00:00Z",
                "status": "in_progress",
            }
        ],
    )
    assert project["my_role"] == "owner"
    assert project["owner"] == {"id": owner["user"]["id"], "nickname": "Tester"}
    assert project["member_count"] == 1
    assert project["status"] == "planning"
    assert [s["stage"] for s in project["stages"]] == STAGES
    filming = project["stages"][2]
    assert filming == {
        "stage": "filming",
        "start_at": "2026-03-01T09:00:00Z",
        "end_at": "2026-03-03T18:00:00Z",
        "status": "in_progress",
    }
    assert project["invitations"] == []
    events = await (await client.get(f"/api/v1/projects/{project['id']}/events", headers=auth(owner))).json()
    assert [e["type"] for e in events["items"]] == ["feedback.created"]


async def test_validation(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    for body, field in [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "a", "color": "not a colour!"}, "color"),
        (
            {
                "name": "a",
                "stages": [{"stage": "filming", "start_at": "2026-03-02T00:00:00Z", "end_at": "2026-03-01T00:00:00Z"}],
            },
            "stages",
        ),
        ({"name": "a", "stages": [{"stage": "nope"}]}, "stages"),
        ({"name": "a", "owner": 5}, "owner"),
    ]:
        resp = await client.post("/api/v1/projects", json=body, headers=auth(owner))
        assert resp.status == 422, body
        assert field in (await resp.json())["errors"], body


async def test_patch_only_listed_fields(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    p = await create_project(client, owner)
    url = f"/api/v1/projects/{p['id']}"
    resp = await client.patch(url, json={"name": " Renamed ", "status": "in_progress"}, headers=auth(owner))
    assert resp.status == 200
    body = await resp.json()
    assert (body["name"], body["status"]) == ("Renamed", "in_progress")
    for forbidden in (
        {"owner": 1},
        {"id": 99},
        {"my_role": "member"},
        {"current_stage": "filming"},
        {"member_count": 5},
        {"status": "archived"},
    ):
        resp = await client.patch(url, json=forbidden, headers=auth(owner))
        assert resp.status == 422, forbidden
    events = (await (await client.get(f"{url}/events", headers=auth(owner))).json())["items"]
    assert events[-1]["type"] == "project.updated"
    assert events[-1]["data"]["changes"] == {"name": "Renamed", "status": "in_progress"}


async def test_stage_schedule_moves_the_current_stage(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    p = await create_project(client, owner)
    url = f"/api/v1/projects/{p['id']}/stages"
    body = {"start_at": "2026-02-01T00:00:00Z", "end_at": "2026-02-02T00:00:00Z", "status": "done"}
    resp = await client.put(f"{url}/basic_plan", json=body, headers=auth(owner))
    assert resp.status == 200
    assert (await resp.json())["current_stage"] == "storyboard"
    bad = await client.put(f"{url}/storyboard", json={**body, "end_at": "2026-01-01T00:00:00Z"}, headers=auth(owner))
    assert bad.status == 422
    assert "end_at" in (await bad.json())["errors"]
    assert (await client.put(f"{url}/editing", json=body, headers=auth(owner))).status == 404
    events = (await (await client.get(f"/api/v1/projects/{p['id']}/events", headers=auth(owner))).json())["items"]
    changed = [e for e in events if e["type"] == "stage.changed"]
    assert len(changed) == 1
    assert changed[0]["data"]["stage"] == "basic_plan"
    assert changed[0]["data"]["current_stage"] == "storyboard"
    assert changed[0]["actor"] == owner["user"]["id"]


async def test_etag_and_metadata(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner = await signup(client, mailbox)
    p = await create_project(client, owner, description="A spring ad")
    url = f"/api/v1/projects/{p['id']}"
    first = await client.get(url, headers=auth(owner))
    tag = first.headers["ETag"]
    assert (await client.get(url, headers={**auth(owner), "If-None-Match": tag})).status == 304
    await client.patch(url, json={"color": "#000000"}, headers=auth(owner))
    assert (await client.get(url, headers={**auth(owner), "If-None-Match": tag})).status == 200
    meta = await (await client.get(f"{url}/metadata", headers=auth(owner))).json()
    assert meta["title"] == "Spring campaign"
    assert meta["description"] == "A spring ad"
    assert meta["updated_at"].endswith("Z")


@pytest.fixture(params=["postgres", "sqlite"])
async def any_backend(request: pytest.FixtureRequest, make_client: AppFactory, sqlite_settings: Settings) -> Client:
    """A node on PostgreSQL (the page and its stages in one statement) or SQLite (two)."""
    return await (make_client() if request.param == "postgres" else make_client(sqlite_settings))


async def test_list_filters_sort_and_pages(any_backend: Client, mailbox: Mailbox) -> None:
    client = any_backend
    me = await signup(client, mailbox)
    other = await signup(client, mailbox)
    a = await create_project(client, me, name="Alpha Teaser", consumer="Blue Bank")
    b = await create_project(
        client,
        me,
        name="Beta launch",
        manager="Park",
        stages=[
            {
                "stage": "basic_plan",
                "start_at": "2026-05-01T00:00:00Z",
                "end_at": "2026-05-10T00:00:00Z",
                "status": "done",
            }
        ],
    )
    c = await create_project(client, other, name="Gamma", consumer="blue sky")
    await join(client, c["id"], me["user"]["id"], "manager")
    await create_project(client, other, name="Hidden blue")  # not mine: never listed

    async def names(query: str) -> list[str]:
        resp = await client.get(f"/api/v1/projects?{query}", headers=auth(me))
        assert resp.status == 200, await resp.text()
        return [i["name"] for i in (await resp.json())["items"]]

    assert await names("sort=name") == ["Alpha Teaser", "Beta launch", "Gamma"]
    assert await names("sort=-name") == ["Gamma", "Beta launch", "Alpha Teaser"]
    assert set(await names("q=BLUE")) == {"Alpha Teaser", "Gamma"}
    assert await names("q=park") == ["Beta launch"]
    assert await names("q=%25") == []  # a literal percent sign matches nothing here
    assert await names("role=manager") == ["Gamma"]
    assert set(await names("role=owner")) == {"Alpha Teaser", "Beta launch"}
    assert await names("stage=storyboard") == ["Beta launch"]
    assert await names("from=2026-05-09T00:00:00Z&to=2026-06-01T00:00:00Z") == ["Beta launch"]
    assert await names("from=2026-05-11T00:00:00Z") == []
    assert await names("sort=-created_at") == ["Gamma", "Beta launch", "Alpha Teaser"]
    gamma = (await (await client.get("/api/v1/projects?role=manager", headers=auth(me))).json())["items"][0]
    assert gamma["my_role"] == "manager"
    assert gamma["member_count"] == 2
    assert gamma["owner"]["id"] == other["user"]["id"]

    seen: list[int] = []
    url = "/api/v1/projects?limit=2&sort=-updated_at"
    while url:
        page = await (await client.get(url, headers=auth(me))).json()
        seen += [i["id"] for i in page["items"]]
        url = f"/api/v1/projects?limit=2&sort=-updated_at&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert sorted(seen) == sorted([a["id"], b["id"], c["id"]])
    assert len(seen) == 3
    for bad in (
        "limit=0",
        "limit=101",
        "sort=owner",
        "stage=nope",
        "role=boss",
        "cursor=%%%",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ):
        resp = await client.get(f"/api/v1/projects?{bad}", headers=auth(me))
        assert resp.status == 422, bad


async def test_a_cursor_is_refused_under_another_sort_order(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    me = await signup(client, mailbox)
    for name in ("One", "Two", "Three"):
        await create_project(client, me, name=name)
    first = await (await client.get("/api/v1/projects?limit=1", headers=auth(me))).json()
    cursors = {}
    for sort in SORTS:
        page = await (await client.get(f"/api/v1/projects?limit=1&sort={sort}", headers=auth(me))).json()
        cursors[sort] = page["next_cursor"]
    # The default order is -updated_at: its cursor goes on without naming it.
    resp = await client.get(f"/api/v1/projects?limit=1&cursor={cursors['-updated_at']}", headers=auth(me))
    assert resp.status == 200, await resp.text()
    for made, cur in cursors.items():
        for used in SORTS:
            resp = await client.get(f"/api/v1/projects?limit=1&sort={used}&cursor={cur}", headers=auth(me))
            if used == made:
                assert resp.status == 200, await resp.text()
                continue
            body = await resp.json()
            assert (resp.status, body["code"]) == (422, "validation_failed"), (made, used)
            assert list(body["errors"]) == ["cursor"], (made, used)
    for name in ("가" * 100, "나" * 100):  # the longest names, three bytes a character: still a usable cursor
        await create_project(client, me, name=name)
    page = await (await client.get("/api/v1/projects?limit=1&sort=-name", headers=auth(me))).json()
    resp = await client.get(f"/api/v1/projects?limit=4&sort=-name&cursor={page['next_cursor']}", headers=auth(me))
    assert resp.status == 200, await resp.text()
    assert [p["name"] for p in page["items"] + (await resp.json())["items"]] == [
        "나" * 100,
        "가" * 100,
        "Two",
        "Three",
        "One",
    ]
    memos = f"/api/v1/projects/{first['items'][0]['id']}/memos"
    for day in ("2026-01-01", "2026-01-02"):
        assert (await client.post(memos, json={"date": day, "memo": day}, headers=auth(me))).status == 201
    memo_cursor = (await (await client.get(f"{memos}?limit=1", headers=auth(me))).json())["next_cursor"]
    resp = await client.get(f"/api/v1/projects?cursor={memo_cursor}", headers=auth(me))  # another list's cursor
    assert (resp.status, (await resp.json())["code"]) == (422, "validation_failed")


async def test_list_runs_a_constant_number_of_statements(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    me = await signup(client, mailbox)
    extra = [await signup(client, mailbox) for _ in range(3)]
    ids = [(await create_project(client, me, name=f"P{i}"))["id"] for i in range(6)]
    for pid in ids[:3]:
        for user in extra:
            await join(client, pid, user["user"]["id"])
    counts = []
    for limit in (1, 3, 6):
        with count_statements(client) as seen:
            resp = await client.get(f"/api/v1/projects?limit={limit}", headers=auth(me))
            assert len((await resp.json())["items"]) == limit
        counts.append(len(seen))
    assert counts == [1, 1, 1]  # on PostgreSQL the page comes with its stages (SQLite reads them in a second)


def _first_lines(seen: list[str]) -> list[str]:
    return [statement.split("\n", 1)[0].strip() for statement in seen]


async def test_writes_answer_from_their_own_transaction(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    me = await signup(client, mailbox)
    pid = (await create_project(client, me))["id"]
    with count_statements(client) as read:
        assert (await client.get(f"/api/v1/projects/{pid}", headers=auth(me))).status == 200
    writes = {
        "change": ("PATCH", f"/api/v1/projects/{pid}", {"name": "Renamed", "status": "review"}),
        "no-op": ("PATCH", f"/api/v1/projects/{pid}", {"name": "Renamed"}),
        "stage": ("PUT", f"/api/v1/projects/{pid}/stages/filming", {"status": "done"}),
    }
    counts = {}
    for name, (method, path, body) in writes.items():
        with count_statements(client) as seen:
            resp = await client.request(method, path, json=body, headers=auth(me))
            assert resp.status == 200, await resp.text()
            answer = await resp.json()
        # One unit of work: the caller's role is looked up once and the answer is read inside it.
        role_lookups = [line for line in _first_lines(seen) if line.startswith("SELECT project_members.role")]
        assert len(role_lookups) == 1, name
        counts[name] = len(seen)
        assert answer == await (await client.get(f"/api/v1/projects/{pid}", headers=auth(me))).json(), name
    # A change that changes nothing reads exactly what GET reads.
    assert counts["no-op"] == len(read)


async def test_members_roles_leave_and_transfer(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, manager, member, outsider = [await signup(client, mailbox) for _ in range(4)]
    p = await create_project(client, owner)
    pid = p["id"]
    await join(client, pid, manager["user"]["id"], "manager")
    await join(client, pid, member["user"]["id"], "member")
    members = f"/api/v1/projects/{pid}/members"

    detail = await (await client.get(f"/api/v1/projects/{pid}", headers=auth(member))).json()
    assert "invitations" not in detail  # plain members do not see invitations
    assert {m["role"] for m in detail["members"]} == {"owner", "manager", "member"}

    uid = member["user"]["id"]
    assert (await client.patch(f"{members}/{uid}", json={"role": "manager"}, headers=auth(manager))).status == 403
    resp = await client.patch(f"{members}/{uid}", json={"role": "owner"}, headers=auth(owner))
    assert resp.status == 422
    resp = await client.patch(f"{members}/{owner['user']['id']}", json={"role": "member"}, headers=auth(owner))
    assert resp.status == 409
    resp = await client.patch(f"{members}/{outsider['user']['id']}", json={"role": "member"}, headers=auth(owner))
    assert resp.status == 404
    resp = await client.delete(f"{members}/{manager['user']['id']}", headers=auth(member))
    assert resp.status == 403
    resp = await client.delete(f"{members}/{owner['user']['id']}", headers=auth(owner))
    assert resp.status == 409  # the owner cannot leave

    # The manager removes the member; the member is then out.
    assert (await client.delete(f"{members}/{uid}", headers=auth(manager))).status == 204
    assert (await client.get(f"/api/v1/projects/{pid}", headers=auth(member))).status == 404
    # The manager leaves on their own.
    assert (await client.delete(f"{members}/{manager['user']['id']}", headers=auth(manager))).status == 204

    await join(client, pid, outsider["user"]["id"])
    resp = await client.post(
        f"/api/v1/projects/{pid}/transfer", json={"user_id": outsider["user"]["id"]}, headers=auth(owner)
    )
    assert resp.status == 200
    roles = {m["user_id"]: m["role"] for m in (await resp.json())["items"]}
    assert roles == {owner["user"]["id"]: "manager", outsider["user"]["id"]: "owner"}
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=auth(owner))).status == 403
    types = [
        e["type"]
        for e in (await (await client.get(f"/api/v1/projects/{pid}/events?limit=500", headers=auth(outsider))).json())[
            "items"
        ]
    ]
    assert types.count("member.left") == 2
    assert types[-2:] == ["member.role_changed", "member.role_changed"]


async def test_delete_removes_everything_and_the_blobs(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    owner, member = await signup(client, mailbox), await signup(client, mailbox)
    p = await create_project(client, owner)
    pid = p["id"]
    await join(client, pid, member["user"]["id"], "manager")
    blobs = client.app[keys.BLOBS]
    await blobs.put(f"projects/{pid}/files/cut-1.mp4", b"video")
    await blobs.put(f"projects/{pid + 100000}/files/keep.mp4", b"other project")
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=auth(member))).status == 403
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=auth(owner))).status == 204
    assert not await blobs.exists(f"projects/{pid}/files/cut-1.mp4")
    assert await blobs.exists(f"projects/{pid + 100000}/files/keep.mp4")
    assert await blobs.delete_prefix(f"projects/{pid}/") == 0  # idempotent
    for user in (owner, member):
        assert (await client.get(f"/api/v1/projects/{pid}", headers=auth(user))).status == 404
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=auth(owner))).status == 404


async def test_delete_on_s3_removes_the_objects(make_client: Any, mailbox: Mailbox, s3_endpoint: str) -> None:
    import boto3

    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    ).create_bucket(Bucket=bucket)
    client = await make_client(
        s3_bucket=bucket, s3_endpoint_url=s3_endpoint, s3_access_key_id="k", s3_secret_access_key=Secret("s")
    )
    assert (await (await client.get("/readyz")).json())["checks"]["storage"] == "ok"
    owner = await signup(client, mailbox)
    pid = (await create_project(client, owner))["id"]
    await client.app[keys.BLOBS].put(f"projects/{pid}/files/a.mov", b"movie")
    assert (await client.delete(f"/api/v1/projects/{pid}", headers=auth(owner))).status == 204
    assert not await client.app[keys.BLOBS].exists(f"projects/{pid}/files/a.mov")


async def test_every_sort_pages_through_the_whole_list_in_order(any_backend: Client, mailbox: Mailbox) -> None:
    me = await signup(any_backend, mailbox)
    for name in ("Delta", "alpha", "Charlie", "bravo", "Echo"):
        await create_project(any_backend, me, name=name)
    for sort in SORTS:
        whole = await (await any_backend.get(f"/api/v1/projects?limit=50&sort={sort}", headers=auth(me))).json()
        assert len(whole["items"]) == 5 and whole["next_cursor"] is None, sort
        walked, url = [], f"/api/v1/projects?limit=2&sort={sort}"
        while url:
            page = await (await any_backend.get(url, headers=auth(me))).json()
            walked += [p["id"] for p in page["items"]]
            url = f"/api/v1/projects?limit=2&sort={sort}&cursor={page['next_cursor']}" if page["next_cursor"] else ""
        assert walked == [p["id"] for p in whole["items"]], sort
