"""The permission matrix: every project endpoint x {owner, manager, member, non-member, anonymous}."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import Mailbox, auth, create_project, join, signup

ROLES = ("owner", "manager", "member", "outsider", "anonymous")
CODES = {401: "token_missing", 403: "permission_denied", 404: "not_found"}


@dataclass(frozen=True)
class Row:
    method: str
    # {p} project, {m} a second plain member, {inv} an invitation, {memo} a project memo,
    # {f} a feedback thread (not the project's first), {c} a comment on it written by the owner
    path: str
    body: dict[str, Any] | None
    expect: tuple[int, int, int, int, int]  # owner, manager, member, outsider, anonymous


STAGE = {"start_at": "2026-03-01T00:00:00Z", "end_at": "2026-03-02T00:00:00Z", "status": "in_progress"}
MATRIX = [
    Row("GET", "/projects/{p}", None, (200, 200, 200, 404, 401)),
    Row("PATCH", "/projects/{p}", {"color": "#112233"}, (200, 200, 403, 404, 401)),
    Row("DELETE", "/projects/{p}", None, (204, 403, 403, 404, 401)),
    Row("PUT", "/projects/{p}/stages/filming", STAGE, (200, 200, 403, 404, 401)),
    Row("GET", "/projects/{p}/members", None, (200, 200, 200, 404, 401)),
    Row("PATCH", "/projects/{p}/members/{m}", {"role": "manager"}, (200, 403, 403, 404, 401)),
    Row("DELETE", "/projects/{p}/members/{m}", None, (204, 204, 403, 404, 401)),
    Row("POST", "/projects/{p}/transfer", {"user_id": "{m}"}, (200, 403, 403, 404, 401)),
    Row("GET", "/projects/{p}/events", None, (200, 200, 200, 404, 401)),
    Row("GET", "/projects/{p}/metadata", None, (200, 200, 200, 404, 401)),
    Row("GET", "/projects/{p}/events/stream", None, (200, 200, 200, 404, 401)),
    Row("POST", "/projects/{p}/invitations", {"email": "{new}"}, (201, 201, 403, 404, 401)),
    Row("GET", "/projects/{p}/invitations", None, (200, 200, 403, 404, 401)),
    Row("DELETE", "/projects/{p}/invitations/{inv}", None, (204, 204, 403, 404, 401)),
    Row("POST", "/projects/{p}/invitations/{inv}/resend", None, (200, 200, 403, 404, 401)),
    Row("GET", "/projects/{p}/memos", None, (200, 200, 200, 404, 401)),
    Row("POST", "/projects/{p}/memos", {"date": "2026-03-01", "memo": "call the client"}, (201, 201, 403, 404, 401)),
    Row("PATCH", "/projects/{p}/memos/{memo}", {"memo": "edited"}, (200, 200, 403, 404, 401)),
    Row("DELETE", "/projects/{p}/memos/{memo}", None, (204, 204, 403, 404, 401)),
    Row("GET", "/projects/{p}/feedback", None, (200, 200, 200, 404, 401)),
    Row("POST", "/projects/{p}/feedback", {"title": "Cut 2"}, (201, 201, 403, 404, 401)),
    Row("GET", "/feedback/{f}", None, (200, 200, 200, 404, 401)),
    Row("PATCH", "/feedback/{f}", {"status": "resolved"}, (200, 200, 403, 404, 401)),
    Row("DELETE", "/feedback/{f}", None, (204, 204, 403, 404, 401)),
    Row("GET", "/feedback/{f}/comments", None, (200, 200, 200, 404, 401)),
    Row("POST", "/feedback/{f}/comments", {"text": "Tighten this", "at_ms": 1000}, (201, 201, 201, 404, 401)),
    Row("PATCH", "/comments/{c}", {"text": "edited"}, (200, 403, 403, 404, 401)),
    Row("DELETE", "/comments/{c}", None, (204, 403, 403, 404, 401)),
    Row("POST", "/comments/{c}/resolve", {"resolved": True}, (200, 200, 403, 404, 401)),
]


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        for key, replacement in ids.items():
            if value == "{" + key + "}":
                return replacement
            value = value.replace("{" + key + "}", str(replacement))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


async def test_permission_matrix(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    people = {role: await signup(client, mailbox) for role in ("owner", "manager", "member", "outsider")}
    second = await signup(client, mailbox)
    failures: list[str] = []
    for row in MATRIX:
        for role, expected in zip(ROLES, row.expect, strict=True):
            # A fresh project per call: the calls change state (delete, transfer, remove).
            project = await create_project(client, people["owner"])
            pid = project["id"]
            await join(client, pid, people["manager"]["user"]["id"], "manager")
            await join(client, pid, people["member"]["user"]["id"], "member")
            await join(client, pid, second["user"]["id"], "member")
            owner_h = auth(people["owner"])
            inv = await (
                await client.post(
                    f"/api/v1/projects/{pid}/invitations",
                    json={"email": f"inv-{uuid.uuid4().hex[:8]}@example.com"},
                    headers=owner_h,
                )
            ).json()
            memo = await (
                await client.post(
                    f"/api/v1/projects/{pid}/memos", json={"date": "2026-03-01", "memo": "x"}, headers=owner_h
                )
            ).json()
            thread = await (
                await client.post(f"/api/v1/projects/{pid}/feedback", json={"title": "Cut 2"}, headers=owner_h)
            ).json()
            comment = await (
                await client.post(f"/api/v1/feedback/{thread['id']}/comments", json={"text": "x"}, headers=owner_h)
            ).json()
            ids = {
                "p": pid,
                "f": thread["id"],
                "c": comment["id"],
                "m": second["user"]["id"],
                "inv": inv["id"],
                "memo": memo["id"],
                "new": f"new-{uuid.uuid4().hex[:8]}@example.com",
            }
            headers = {} if role == "anonymous" else auth(people[role])
            path = "/api/v1" + _fill(row.path, ids)
            body = _fill(row.body, ids) if row.body is not None else None
            async with client.request(row.method, path, json=body, headers=headers) as resp:
                status = resp.status
                code = (await resp.json()).get("code") if status >= 400 else None
            if status != expected or (status in CODES and code != CODES[status]):
                failures.append(f"{row.method} {row.path} as {role}: {status} {code}, expected {expected}")
    assert failures == []


async def test_project_lists_are_per_user(client: TestClient[Any, Any], mailbox: Mailbox) -> None:
    a, b = await signup(client, mailbox), await signup(client, mailbox)
    await create_project(client, a, name="A's")
    listed = await (await client.get("/api/v1/projects", headers=auth(b))).json()
    assert listed["items"] == []
    assert (await client.get("/api/v1/projects")).status == 401
    assert (await client.post("/api/v1/projects", json={"name": "x"})).status == 401
