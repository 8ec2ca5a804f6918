"""Feedback threads and time-coded comments on the real app: CRUD, rules, ordering, paging, events, statements."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import insert, update

from roughcut import keys
from roughcut.storage import tables as t
from tests.helpers import Mailbox, auth, count_statements, create_project, join, signup

Client = TestClient[Any, Any]
Pair = dict[str, Any]
API = "/api/v1"
RECT = {"kind": "rect", "points": [[0.1, 0.2], [0.5, 0.6]], "color": "#FF0000", "width": 3}


async def code_of(resp: Any) -> str:
    code: str = (await resp.json())["code"]
    return code


def raw_cursor(text: str) -> str:
    """A cursor made by hand, as a client tampering with one would."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json() if status != 204 else None


async def team(client: Client, mailbox: Mailbox) -> tuple[Pair, Pair, Pair, int, int]:
    """Owner, manager, member, their project and its first thread."""
    owner, manager, member = [await signup(client, mailbox) for _ in range(3)]
    pid: int = (await create_project(client, owner))["id"]
    await join(client, pid, manager["user"]["id"], "manager")
    await join(client, pid, member["user"]["id"])
    threads = await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(member)))
    return owner, manager, member, pid, threads["items"][0]["id"]


async def comment(client: Client, pair: Pair, fid: int, **body: Any) -> dict[str, Any]:
    body.setdefault("text", "Looks good")
    found: dict[str, Any] = await ok(
        await client.post(f"{API}/feedback/{fid}/comments", json=body, headers=auth(pair)), 201
    )
    return found


async def events(client: Client, pair: Pair, pid: int, prefix: str) -> list[dict[str, Any]]:
    items = (await ok(await client.get(f"{API}/projects/{pid}/events?limit=500", headers=auth(pair))))["items"]
    return [e for e in items if e["type"].startswith(prefix)]


async def add_version(client: Client, fid: int, number: int) -> int:
    async with client.app[keys.ENGINE].begin() as conn:
        q = insert(t.feedback_versions).values(
            feedback_id=fid, number=number, status="ready", duration_ms=60_000, created_at=datetime.now(UTC)
        )
        return int((await conn.execute(q.returning(t.feedback_versions.c.id))).scalar_one())


async def test_threads_crud_permissions_and_events(client: Client, mailbox: Mailbox) -> None:
    owner, manager, member, pid, first = await team(client, mailbox)
    outsider = await signup(client, mailbox)
    url = f"{API}/projects/{pid}/feedback"
    body = await ok(await client.get(f"{API}/feedback/{first}", headers=auth(member)))
    assert {k: body[k] for k in ("id", "project_id", "title", "status", "versions", "comment_count")} == {
        "id": first,
        "project_id": pid,
        "title": "Review",
        "status": "open",
        "versions": [],
        "comment_count": 0,
    }
    assert (body["last_message_seq"], body["my_read_seq"]) == (0, 0)
    assert body["created_at"].endswith("Z")

    made = await ok(
        await client.post(url, json={"title": "  Cut 2 ", "description": "Second pass"}, headers=auth(manager)), 201
    )
    assert (made["title"], made["description"], made["status"]) == ("Cut 2", "Second pass", "open")
    resp = await client.post(url, json={"title": "Mine"}, headers=auth(member))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    for bad in ({"title": "   "}, {"title": "x" * 201}, {}, {"title": "ok", "status": "open"}):
        resp = await client.post(url, json=bad, headers=auth(owner))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), bad

    fid = made["id"]
    page = await ok(await client.get(f"{url}?limit=1", headers=auth(member)))
    assert [x["id"] for x in page["items"]] == [first]
    rest = await ok(await client.get(f"{url}?limit=1&cursor={page['next_cursor']}", headers=auth(member)))
    for doctored in (raw_cursor(f'["feedback", {2**70}]'), raw_cursor('["feedback", "1"]'), "garbage!"):
        resp = await client.get(f"{url}?cursor={doctored}", headers=auth(member))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), doctored
    assert ([x["id"] for x in rest["items"]], rest["next_cursor"]) == ([fid], None)

    resp = await client.get(f"{API}/feedback/{fid}", headers=auth(member))
    etag = resp.headers["ETag"]
    assert (await client.get(f"{API}/feedback/{fid}", headers={**auth(member), "If-None-Match": etag})).status == 304

    changed = await ok(
        await client.patch(f"{API}/feedback/{fid}", json={"status": "resolved", "title": "Cut 2b"}, headers=auth(owner))
    )
    assert (changed["status"], changed["title"]) == ("resolved", "Cut 2b")
    assert (await client.get(f"{API}/feedback/{fid}", headers={**auth(member), "If-None-Match": etag})).status == 200
    for bad in ({"status": "done"}, {"title": ""}, {"project_id": 1}):
        resp = await client.patch(f"{API}/feedback/{fid}", json=bad, headers=auth(owner))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), bad
    resp = await client.patch(f"{API}/feedback/{fid}", json={"status": "closed"}, headers=auth(member))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    for method in ("get", "patch", "delete"):
        resp = await getattr(client, method)(f"{API}/feedback/{fid}", json={"title": "x"}, headers=auth(outsider))
        assert (resp.status, await code_of(resp)) == (404, "not_found"), method
    resp = await client.get(url, headers=auth(outsider))
    assert (resp.status, await code_of(resp)) == (404, "not_found")

    resp = await client.delete(f"{API}/feedback/{fid}", headers=auth(member))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    await ok(await client.delete(f"{API}/feedback/{fid}", headers=auth(manager)), 204)
    resp = await client.get(f"{API}/feedback/{fid}", headers=auth(owner))
    assert (resp.status, await code_of(resp)) == (404, "not_found")
    for missing in ("999999999", "0", "x"):
        assert (await client.get(f"{API}/feedback/{missing}", headers=auth(owner))).status == 404

    logged = await events(client, member, pid, "feedback.")
    assert [(e["type"], e["data"]["feedback_id"], e["actor"]) for e in logged] == [
        ("feedback.created", first, owner["user"]["id"]),
        ("feedback.created", fid, manager["user"]["id"]),
        ("feedback.updated", fid, owner["user"]["id"]),
        ("feedback.deleted", fid, manager["user"]["id"]),
    ]
    assert logged[2]["data"]["changes"] == {"status": "resolved", "title": "Cut 2b"}


async def test_thread_counters_come_from_comments_and_chat(client: Client, mailbox: Mailbox) -> None:
    owner, _, member, _, fid = await team(client, mailbox)
    await comment(client, member, fid)
    await comment(client, owner, fid, at_ms=10)
    version = await add_version(client, fid, 1)
    async with client.app[keys.ENGINE].begin() as conn:
        await conn.execute(update(t.feedback_threads).where(t.feedback_threads.c.id == fid).values(last_seq=7))
        await conn.execute(
            insert(t.chat_reads).values(
                feedback_id=fid, user_id=member["user"]["id"], read_seq=5, updated_at=datetime.now(UTC)
            )
        )
    mine = await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(member)))
    assert (mine["comment_count"], mine["last_message_seq"], mine["my_read_seq"]) == (2, 7, 5)
    assert [(v["id"], v["number"], v["duration_ms"]) for v in mine["versions"]] == [(version, 1, 60_000)]
    theirs = await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(owner)))
    assert (theirs["comment_count"], theirs["last_message_seq"], theirs["my_read_seq"]) == (2, 7, 0)


async def test_comment_fields_and_validation(client: Client, mailbox: Mailbox) -> None:
    owner, _, member, pid, fid = await team(client, mailbox)
    other = await ok(await client.post(f"{API}/projects/{pid}/feedback", json={"title": "B"}, headers=auth(owner)), 201)
    foreign = await comment(client, owner, other["id"])
    made = await comment(
        client, member, fid, text=" Cut here ", at_ms=1500, until_ms=2500, title="T1", section="S2", annotation=[RECT]
    )
    assert made["text"] == "Cut here"
    assert (made["at_ms"], made["until_ms"], made["title"], made["section"]) == (1500, 2500, "T1", "S2")
    assert made["annotation"] == [{**RECT, "width": 3.0, "text": None}]
    assert made["author"] == {"id": member["user"]["id"], "nickname": "Tester"}
    assert (made["mine"], made["anonymous"], made["resolved"], made["resolved_at"]) == (True, False, False, None)
    assert (made["parent_id"], made["version_id"], made["feedback_id"]) == (None, None, fid)
    point = await comment(client, member, fid, at_ms=0)
    assert (point["at_ms"], point["until_ms"], point["annotation"]) == (0, None, None)

    shape = {"kind": "freehand", "points": [[0.5, 0.5]], "color": "#00ff00", "width": 2}
    bad_shapes: list[Any] = [
        [{**shape, "points": [[0.5, 0.5]] * 501}],
        [shape] * 51,
        [{**shape, "points": [[1.5, 0.5]]}],
        [{**shape, "points": [[-0.1, 0.5]]}],
        [{**shape, "points": []}],
        [{**shape, "color": "red"}],
        [{**shape, "width": 0}],
        [{**shape, "width": 21}],
        [{**shape, "kind": "star"}],
        [{**shape, "text": "x" * 201}],
        [{**RECT, "points": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}],
        [{**shape, "kind": "text"}],
        [{**shape, "extra": 1}],
        # Within the shape and point counts but over 32 KB of JSON.
        [{**shape, "points": [[0.123456789012345, 0.987654321098765]] * 25}] * 50,
        "a circle",
    ]
    bad_bodies: list[dict[str, Any]] = [
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 5001},
        {"at_ms": -1},
        {"at_ms": "12"},
        {"at_ms": 1.5},
        {"until_ms": 10},
        {"at_ms": 20, "until_ms": 10},
        {"title": "x" * 201},
        {"section": "x" * 201},
        {"parent_id": foreign["id"]},
        {"parent_id": 999_999_999},
        {"version_id": 999_999_999},
        {"anonymous": "maybe"},
        *({"annotation": a} for a in bad_shapes),
    ]
    for bad in bad_bodies:
        resp = await client.post(f"{API}/feedback/{fid}/comments", json={"text": "x", **bad}, headers=auth(member))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), bad
    too_big = await client.post(
        f"{API}/feedback/{fid}/comments", json={"text": "x", "annotation": bad_shapes[-2]}, headers=auth(member)
    )
    assert "annotation" in (await too_big.json())["errors"]
    label = {**shape, "kind": "text", "text": "note", "points": [[0.25, 0.75]]}
    busy = [label, {**shape, "points": [[0.1, 0.2]] * 500}]
    assert len((await comment(client, member, fid, annotation=busy))["annotation"][1]["points"]) == 500


async def test_order_by_position_then_creation_with_paging(client: Client, mailbox: Mailbox) -> None:
    owner, _, member, _, fid = await team(client, mailbox)
    positions = [5000, None, 1000, 5000, None, 0, 1000]
    made = [
        await comment(client, member if i % 2 else owner, fid, text=f"c{i}", at_ms=p) for i, p in enumerate(positions)
    ]
    expected = [made[i]["id"] for i in (5, 2, 6, 0, 3, 1, 4)]
    url = f"{API}/feedback/{fid}/comments"
    full = await ok(await client.get(url, headers=auth(member)))
    assert ([c["id"] for c in full["items"]], full["next_cursor"]) == (expected, None)

    seen: list[int] = []
    cursor = ""
    for _ in range(len(expected)):
        page = await ok(await client.get(f"{url}?limit=2{cursor}", headers=auth(owner)))
        seen += [c["id"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == expected
    doctored = (
        raw_cursor('["comments", null, "2026-01-01T00:00:00", 1]'),  # no time zone
        raw_cursor(f'["comments", 0, "2026-01-01T00:00:00Z", {2**70}]'),  # past BIGINT
        raw_cursor('["comments", "0", "2026-01-01T00:00:00Z", 1]'),
        raw_cursor('["comments", 0, "yesterday", 1]'),
        raw_cursor('["feedback", 1]'),  # another list's
    )
    queries = ("limit=0", "limit=101", "cursor=garbage!", "cursor=WzFd", "version=0", "version=x")
    for query in (*queries, *(f"cursor={c}" for c in doctored)):
        resp = await client.get(f"{url}?{query}", headers=auth(member))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), query


async def test_version_filter_and_replies(client: Client, mailbox: Mailbox) -> None:
    owner, manager, member, pid, fid = await team(client, mailbox)
    other = await ok(await client.post(f"{API}/projects/{pid}/feedback", json={"title": "B"}, headers=auth(owner)), 201)
    v1, v2, elsewhere = (
        await add_version(client, fid, 1),
        await add_version(client, fid, 2),
        await add_version(client, other["id"], 1),
    )
    on_v1 = await comment(client, member, fid, version_id=v1, at_ms=100)
    on_v2 = await comment(client, owner, fid, version_id=v2, at_ms=50)
    loose = await comment(client, owner, fid)
    resp = await client.post(
        f"{API}/feedback/{fid}/comments", json={"text": "x", "version_id": elsewhere}, headers=auth(member)
    )
    assert (resp.status, await code_of(resp)) == (422, "validation_failed")
    url = f"{API}/feedback/{fid}/comments"
    assert [c["id"] for c in (await ok(await client.get(f"{url}?version={v1}", headers=auth(member))))["items"]] == [
        on_v1["id"]
    ]
    assert [c["id"] for c in (await ok(await client.get(f"{url}?version={v2}", headers=auth(member))))["items"]] == [
        on_v2["id"]
    ]
    assert on_v1["version_id"] == v1

    reply = await comment(client, manager, fid, parent_id=on_v1["id"], text="Agreed")
    nested = await comment(client, owner, fid, parent_id=reply["id"], text="Me too")
    assert (reply["parent_id"], nested["parent_id"]) == (on_v1["id"], reply["id"])
    await ok(await client.delete(f"{API}/comments/{on_v1['id']}", headers=auth(member)), 204)
    left = [c["id"] for c in (await ok(await client.get(url, headers=auth(member))))["items"]]
    assert left == [on_v2["id"], loose["id"]]
    deleted = (await events(client, member, pid, "comment.deleted"))[-1]["data"]
    assert deleted == {
        "feedback_id": fid,
        "comment_id": on_v1["id"],
        "deleted_ids": [on_v1["id"], reply["id"], nested["id"]],
    }


async def test_only_the_author_edits_and_deletes(client: Client, mailbox: Mailbox) -> None:
    owner, manager, member, _, fid = await team(client, mailbox)
    outsider = await signup(client, mailbox)
    mine = await comment(client, member, fid, at_ms=100, until_ms=200)
    url = f"{API}/comments/{mine['id']}"
    for pair in (owner, manager):
        for method in ("patch", "delete"):
            resp = await getattr(client, method)(url, json={"text": "hijack"}, headers=auth(pair))
            assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    for method in ("patch", "delete"):
        resp = await getattr(client, method)(url, json={"text": "x"}, headers=auth(outsider))
        assert (resp.status, await code_of(resp)) == (404, "not_found")

    edited = await ok(
        await client.patch(
            url, json={"text": "Better", "at_ms": 150, "section": "Intro", "annotation": [RECT]}, headers=auth(member)
        )
    )
    assert (edited["text"], edited["at_ms"], edited["until_ms"], edited["section"]) == ("Better", 150, 200, "Intro")
    assert edited["updated_at"] > mine["updated_at"]
    assert edited["created_at"] == mine["created_at"]
    cleared = await ok(await client.patch(url, json={"until_ms": None, "annotation": None}, headers=auth(member)))
    assert (cleared["until_ms"], cleared["annotation"]) == (None, None)
    for bad in (
        {"at_ms": 500, "until_ms": 400},
        {"at_ms": None, "until_ms": 5},
        {"anonymous": True},
        {"parent_id": 1},
        {"text": ""},
    ):
        resp = await client.patch(url, json=bad, headers=auth(member))
        assert (resp.status, await code_of(resp)) == (422, "validation_failed"), bad
    await ok(await client.delete(url, headers=auth(member)), 204)
    resp = await client.patch(url, json={"text": "gone"}, headers=auth(member))
    assert (resp.status, await code_of(resp)) == (404, "not_found")


async def test_owner_and_managers_resolve_and_reopen(client: Client, mailbox: Mailbox) -> None:
    owner, manager, member, pid, fid = await team(client, mailbox)
    made = await comment(client, member, fid)
    url = f"{API}/comments/{made['id']}/resolve"
    resp = await client.post(url, headers=auth(member))
    assert (resp.status, await code_of(resp)) == (403, "permission_denied")
    done = await ok(await client.post(url, headers=auth(manager)))
    assert done["resolved"] is True
    assert done["resolved_at"].endswith("Z")
    assert done["author"] == {"id": member["user"]["id"], "nickname": "Tester"}
    again = await ok(await client.post(url, json={"resolved": True}, headers=auth(owner)))
    assert (again["resolved_at"], again["updated_at"]) == (done["resolved_at"], done["updated_at"])  # no change
    reopened = await ok(await client.post(url, json={"resolved": False}, headers=auth(owner)))
    assert (reopened["resolved"], reopened["resolved_at"]) == (False, None)
    # Resolving and reopening are changes of the comment: each moves updated_at, as the list shows too.
    moved = [datetime.fromisoformat(c["updated_at"]) for c in (made, done, reopened)]
    assert moved[0] < moved[1] < moved[2]
    listed = await ok(await client.get(f"{API}/feedback/{fid}/comments", headers=auth(member)))
    assert [c["updated_at"] for c in listed["items"] if c["id"] == made["id"]] == [reopened["updated_at"]]
    resp = await client.post(url, json={"resolved": "maybe"}, headers=auth(owner))
    assert (resp.status, await code_of(resp)) == (422, "validation_failed")

    logged = await events(client, member, pid, "comment.")
    assert [(e["type"], e["actor"]) for e in logged] == [
        ("comment.created", member["user"]["id"]),
        ("comment.resolved", manager["user"]["id"]),
        ("comment.resolved", owner["user"]["id"]),
    ]
    assert logged[0]["data"]["comment"] == {k: v for k, v in made.items() if k != "mine"}
    assert (logged[0]["data"]["feedback_id"], logged[0]["data"]["comment_id"]) == (fid, made["id"])
    assert [e["data"]["resolved"] for e in logged[1:]] == [True, False]


async def test_edit_is_logged_with_the_new_body(client: Client, mailbox: Mailbox) -> None:
    _, _, member, pid, fid = await team(client, mailbox)
    made = await comment(client, member, fid)
    edited = await ok(await client.patch(f"{API}/comments/{made['id']}", json={"text": "Edited"}, headers=auth(member)))
    update_event = (await events(client, member, pid, "comment.updated"))[-1]
    assert update_event["actor"] == member["user"]["id"]
    assert update_event["data"]["comment"] == {k: v for k, v in edited.items() if k != "mine"}


async def test_lists_run_a_constant_number_of_statements(client: Client, mailbox: Mailbox) -> None:
    owner, manager, member, pid, fid = await team(client, mailbox)
    comments_url, threads_url = f"{API}/feedback/{fid}/comments", f"{API}/projects/{pid}/feedback"

    async def statements(url: str) -> int:
        with count_statements(client) as seen:
            await ok(await client.get(url, headers=auth(member)))
        return len(seen)

    await comment(client, owner, fid)
    few_comments, few_threads = await statements(comments_url), await statements(threads_url)
    for i, pair in enumerate((owner, manager, member) * 3):
        await comment(client, pair, fid, at_ms=i * 10, anonymous=i % 2 == 0, annotation=[RECT])
    for title in ("B", "C", "D"):
        made = await ok(await client.post(threads_url, json={"title": title}, headers=auth(owner)), 201)
        await add_version(client, made["id"], 1)
        await comment(client, member, made["id"])
    assert await statements(comments_url) == few_comments
    assert await statements(threads_url) == few_threads
