"""The old single-page app's calls (LEGACY.md §5.1) replayed against the compatibility layer."""

from __future__ import annotations

import json
import re
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from roughcut import keys
from roughcut.config import Settings
from roughcut.security.tokens import JwtTokens, load_keyring
from tests.fuzz_world import mailed_tokens
from tests.helpers import PASSWORD, Mailbox, auth, signup, unique_email

Client = TestClient[Any, Any]
ORIGIN = "https://vlanet.net"
EXPIRED_TTL = -600  # well past the verifier's clock-skew leeway


@pytest.fixture(params=["postgres", "sqlite"])
async def old_app(
    request: pytest.FixtureRequest, make_client: Any, sqlite_settings: Settings, pg_settings: Settings
) -> Client:
    settings = sqlite_settings if request.param == "sqlite" else pg_settings
    client: Client = await make_client(settings, cors_origins=(ORIGIN,))
    return client


async def old_login(client: Client, email: str, path: str = "/users/login") -> dict[str, str]:
    """The old Login page: JSON body; the cookie is the credential."""
    resp = await client.post(path, json={"email": email, "password": PASSWORD})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["message"] == "success"
    assert body["user"] == email
    assert body["vridge_session"] == resp.cookies["vridge_session"].value
    assert resp.cookies["vridge_session"]["samesite"] == "None"
    return {
        "vridge_session": resp.cookies["vridge_session"].value,
        "vridge_refresh": resp.cookies["vridge_refresh"].value,
    }


def cookie_header(cookies: dict[str, str]) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()), "Origin": ORIGIN}


def deprecated(resp: Any, successor: str) -> None:
    assert re.fullmatch(r"@\d+", resp.headers["Deprecation"])
    assert resp.headers["Sunset"].endswith(" GMT")
    assert resp.headers["Link"] == f'<{successor}>; rel="successor-version"'


def multipart(inputs: dict[str, Any], process: list[dict[str, Any]]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("inputs", json.dumps(inputs, ensure_ascii=False))
    form.add_field("process", json.dumps(process))
    return form


PROCESS = [
    {
        "key": "basic_plan",
        "startDate": "2026-07-01T00:00:00.000Z",
        "endDate": "2026-07-03T00:00:00.000Z",
        "text": "기획",
    },
    {
        "key": "story_board",
        "startDate": "2026-07-04T00:00:00.000Z",
        "endDate": "2026-07-06T00:00:00.000Z",
        "text": "콘티",
    },
    {
        "key": "video_delivery",
        "startDate": "2026-08-01T00:00:00.000Z",
        "endDate": "2026-08-02T00:00:00.000Z",
        "text": "납품",
    },
]


async def test_the_old_spa_sequence(old_app: Client, mailbox: Mailbox) -> None:
    client = old_app
    owner_email, member_email = unique_email("owner"), unique_email("member")
    await signup(client, mailbox, owner_email)
    member = await signup(client, mailbox, member_email)

    # 1. login, then the dashboard's project list (empty)
    cookies = await old_login(client, owner_email)
    h = cookie_header(cookies)
    resp = await client.get("/projects/project_list", headers=h)
    assert resp.status == 200
    deprecated(resp, "/api/v1/projects")
    listed = await resp.json()
    assert (listed["result"], listed["user"], listed["user_memos"]) == ([], owner_email, [])
    assert all(set(s) == {"file_name", "files"} for s in listed["sample_files"])  # global: other tests' too

    # 2. create with multipart inputs/process: no id comes back, the list shows it
    form = multipart({"name": "봄 캠페인", "manager": "김", "consumer": "브랜드", "description": "설명"}, PROCESS)
    resp = await client.post("/projects/create", data=form, headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"}), await resp.text()
    resp = await client.get(
        "/api/projects/project_list/", headers={"Authorization": f"Bearer {cookies['vridge_session']}"}
    )
    (project,) = (await resp.json())["result"]
    pid = project["id"]
    assert (project["name"], project["owner_email"], project["member_list"]) == ("봄 캠페인", owner_email, [])
    assert re.fullmatch(r"#[0-9A-F]{6}", project["color"])
    assert project["first_date"] == "2026-07-01T00:00:00Z"
    assert project["end_date"] == "2026-08-02T00:00:00Z"
    assert project["story_board"] == {"start_date": "2026-07-04T00:00:00Z", "end_date": "2026-07-06T00:00:00Z"}
    assert project["filming"] == {"start_date": None, "end_date": None}

    # 3. invite (owner), then the member joins through /api/v1 (the old token link is not kept)
    resp = await client.post(f"/projects/invite_project/{pid}", json={"email": member_email}, headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    resp = await client.post(f"/projects/invite_project/{pid}", json={"email": member_email}, headers=h)
    assert (resp.status, (await resp.json())["message"]) == (409, "이미 초대한 사용자입니다.")
    (token,) = mailed_tokens(mailbox, member_email)
    resp = await client.post(f"/api/v1/invitations/{token}/accept", headers=auth(member))
    assert resp.status in (200, 204), await resp.text()

    # 4. detail, with the member and the derived fields
    resp = await client.get(f"/projects/detail/{pid}/", headers=h)
    assert resp.status == 200
    deprecated(resp, f"/api/v1/projects/{pid}")
    detail = (await resp.json())["result"]
    assert detail["member_list"] == [
        {"id": member["user"]["id"], "rating": "normal", "email": member_email, "nickname": "Tester"}
    ]
    assert detail["basic_plan"]["key"] == "basic_plan"
    assert (detail["pending_list"], detail["files"], detail["memo"]) == ([], [], [])

    # 5. date update (snake_case dates), seen by the next read
    body = {"key": "filming", "start_date": "2026-07-10T09:00:00.000Z", "end_date": "2026-07-11T18:00:00.000Z"}
    resp = await client.post(f"/api/projects/date_update/{pid}", json=body, headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    resp = await client.get(f"/projects/detail/{pid}", headers=h)
    assert (await resp.json())["result"]["filming"]["start_date"] == "2026-07-10T09:00:00Z"

    # 5b. the edit page: fields, stage dates and member ratings in one multipart POST
    form = multipart(
        {"name": "봄 캠페인 2", "consumer": "브랜드"},
        [{"key": "post_work", "startDate": "2026-07-20T00:00:00.000Z", "endDate": "2026-07-22T00:00:00.000Z"}],
    )
    form.add_field("members", json.dumps([{"id": member["user"]["id"], "rating": "manager"}]))
    resp = await client.post(f"/projects/detail/{pid}", data=form, headers=h)
    assert (resp.status, await resp.json()) == (200, {"result": "result"}), await resp.text()
    edited = (await (await client.get(f"/projects/detail/{pid}", headers=h)).json())["result"]
    assert edited["name"] == "봄 캠페인 2"
    assert edited["post_work"]["start_date"] == "2026-07-20T00:00:00Z"
    assert edited["member_list"][0]["rating"] == "manager"
    form = multipart({}, [])
    form.add_field("members", json.dumps([{"id": member["user"]["id"], "rating": "normal"}]))
    assert (await client.post(f"/projects/detail/{pid}", data=form, headers=h)).status == 200

    # 6. comments: anonymous one from the member, a timed one from the owner
    member_h = cookie_header(await old_login(client, member_email, "/api/users/login/"))
    comment = {"secret": "true", "title": "", "section": "05:30", "contents": "컷 편집 필요"}
    resp = await client.put(f"/feedbacks/{pid}", json=comment, headers=member_h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    comment = {"secret": "false", "title": "색보정", "section": "인트로", "contents": "Warmer"}
    resp = await client.put(f"/feedbacks/{pid}", json=comment, headers=h)
    assert resp.status == 200
    resp = await client.get(f"/feedbacks/{pid}", headers=h)
    result = (await resp.json())["result"]
    newest, oldest = result["feedback"]
    assert (newest["text"], newest["section"], newest["email"], newest["security"]) == (
        "Warmer",
        "인트로",
        owner_email,
        False,
    )
    # The old API named the author of an anonymous comment to everyone; only its author sees it now.
    assert (oldest["section"], oldest["security"], oldest["email"], oldest["nickname"]) == ("05:30", True, "", "")
    resp = await client.get(f"/feedbacks/{pid}", headers=member_h)
    assert (await resp.json())["result"]["feedback"][1]["email"] == member_email

    # 7. holes that stay closed: a normal member cannot invite, a stranger sees nothing
    resp = await client.post(f"/projects/invite_project/{pid}", json={"email": unique_email()}, headers=member_h)
    assert (resp.status, await resp.json()) == (403, {"message": "권한이 없습니다."})
    stranger_email = unique_email("stranger")
    await signup(client, mailbox, stranger_email)
    stranger_h = cookie_header(await old_login(client, stranger_email))
    resp = await client.get(f"/projects/detail/{pid}", headers=stranger_h)
    assert (resp.status, await resp.json()) == (404, {"message": "권한이 없습니다."})

    metrics = await (await client.get("/metrics")).text()
    assert re.search(r'roughcut_legacy_calls_total\{route="projects/detail"\} [1-9]', metrics)


async def test_old_errors_cookies_and_csrf(old_app: Client, mailbox: Mailbox) -> None:
    client = old_app
    email = unique_email("old")
    await signup(client, mailbox, email)
    resp = await client.get("/projects/project_list")
    assert (resp.status, await resp.json()) == (401, {"message": "NEED_ACCESS_TOKEN"})
    deprecated(resp, "/api/v1/projects")
    resp = await client.post("/users/login", json={"email": email, "password": "not-the-password"})
    assert (resp.status, await resp.json()) == (403, {"message": "존재하지 않는 사용자입니다."})
    cookies = await old_login(client, email)
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    resp = await client.options("/api/projects/create/", headers=preflight)
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"

    # An unsafe call carried by the cookie alone must come from an allowed origin (no CSRF from elsewhere).
    form = multipart({"name": "x"}, [])
    resp = await client.post(
        "/projects/create", data=form, headers={**cookie_header(cookies), "Origin": "https://evil.example"}
    )
    assert resp.status == 403
    resp = await client.post("/projects/create", data=multipart({"name": ""}, []), headers=cookie_header(cookies))
    assert (resp.status, await resp.json()) == (400, {"message": "잘못된 요청입니다."})

    # An expired access cookie is renewed from the refresh cookie, and the new pair handed out.
    settings = client.app[keys.SETTINGS]
    stale, _ = JwtTokens(load_keyring(settings), settings.jwt_issuer, settings.jwt_audience, EXPIRED_TTL).issue_access(
        1, 1, 0
    )
    resp = await client.get("/projects/project_list", headers=cookie_header({**cookies, "vridge_session": stale}))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["user"] == email
    assert resp.cookies["vridge_session"].value not in (stale, cookies["vridge_session"])
    resp = await client.get("/projects/project_list", headers=cookie_header({"vridge_session": stale}))
    assert (resp.status, await resp.json()) == (401, {"message": "NEED_ACCESS_TOKEN"})


async def test_onlines_are_public_and_the_layer_switches_off(make_client: Any, sqlite_settings: Settings) -> None:
    client = await make_client(sqlite_settings)
    resp = await client.get("/onlines/")
    assert (resp.status, await resp.json()) == (200, {"result": []})
    deprecated(resp, "/api/v1/learning-links")
    off = await make_client(sqlite_settings, legacy_api=False)
    for path in ("/onlines/", "/projects/project_list", "/api/users/login/"):
        resp = await off.request("GET" if "login" not in path else "POST", path)
        assert resp.status == 404, path


async def test_memos_cancelled_invites_deleted_comments_and_projects(old_app: Client, mailbox: Mailbox) -> None:
    client = old_app
    email, other_email = unique_email("owner"), unique_email("other")
    await signup(client, mailbox, email)
    await signup(client, mailbox, other_email)
    h = cookie_header(await old_login(client, email))
    other_h = cookie_header(await old_login(client, other_email))
    resp = await client.post("/projects/create", data=multipart({"name": "Memo test"}, []), headers=h)
    assert resp.status == 200
    (project,) = (await (await client.get("/projects/project_list", headers=h)).json())["result"]
    pid = project["id"]

    # Calendar memos: the unpadded dates the old calendar sends; a half-filled memo is a silent no-op.
    assert (await client.post("/users/memo", json={"date": "2026-7-5", "memo": "촬영 준비"}, headers=h)).status == 200
    assert (await client.post("/users/memo", json={"date": "2026-7-6"}, headers=h)).status == 200
    listed = await (await client.get("/projects/project_list", headers=h)).json()
    (memo,) = listed["user_memos"]
    assert (memo["date"], memo["memo"]) == ("2026-07-05", "촬영 준비")
    resp = await client.delete(f"/users/memo/{memo['id']}", headers=other_h)
    assert (resp.status, await resp.json()) == (404, {"message": "메모를 찾을 수  없습니다."})
    assert (await client.delete(f"/users/memo/{memo['id']}/", headers=h)).status == 200
    assert (await (await client.get("/projects/project_list", headers=h)).json())["user_memos"] == []

    assert (
        await client.post(f"/projects/memo/{pid}", json={"date": "2026-7-10", "memo": "편집 회의"}, headers=h)
    ).status == 200
    detail = (await (await client.get(f"/projects/detail/{pid}", headers=h)).json())["result"]
    (project_memo,) = detail["memo"]
    assert project_memo["date"] == "2026-07-10"
    resp = await client.delete(f"/projects/memo/{pid}", json={"memo_id": project_memo["id"]}, headers=h)
    assert resp.status == 200
    assert (await (await client.get(f"/projects/detail/{pid}", headers=h)).json())["result"]["memo"] == []

    # Invitations show as pending until cancelled; cancelling an unknown one is the old no-op.
    invitee = unique_email("invitee")
    assert (await client.post(f"/projects/invite_project/{pid}", json={"email": invitee}, headers=h)).status == 200
    (pending,) = (await (await client.get(f"/projects/detail/{pid}", headers=h)).json())["result"]["pending_list"]
    assert pending["email"] == invitee
    assert (await client.delete(f"/projects/invite_project/{pid}", json={"pk": pending["id"]}, headers=h)).status == 200
    assert (await client.delete(f"/projects/invite_project/{pid}", json={"pk": pending["id"]}, headers=h)).status == 200
    assert (await (await client.get(f"/projects/detail/{pid}", headers=h)).json())["result"]["pending_list"] == []
    resp = await client.delete(f"/projects/invite_project/{pid}", json={"pk": pending["id"]}, headers=other_h)
    assert resp.status == 404

    # Comments: only their author deletes them.
    assert (
        await client.put(f"/feedbacks/{pid}/", json={"secret": "false", "contents": "cut"}, headers=h)
    ).status == 200
    (comment,) = (await (await client.get(f"/feedbacks/{pid}", headers=h)).json())["result"]["feedback"]
    assert (await client.delete(f"/feedbacks/{comment['id']}", headers=other_h)).status == 404
    resp = await client.delete(f"/feedbacks/{comment['id']}", headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    deprecated(resp, f"/api/v1/comments/{comment['id']}")
    assert (await (await client.get(f"/feedbacks/{pid}", headers=h)).json())["result"]["feedback"] == []

    resp = await client.delete(f"/projects/detail/{pid}", headers=h)
    assert (resp.status, await resp.json()) == (200, {"message": "success"})
    resp = await client.get(f"/projects/detail/{pid}", headers=h)
    assert (resp.status, await resp.json()) == (404, {"message": "권한이 없습니다."})
