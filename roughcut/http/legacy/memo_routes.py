"""Old memo endpoints: personal (/users/memo) and project (/projects/memo/<project_id>) calendar memos."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from marshmallow import Schema

from roughcut import keys
from roughcut.domain import errors, memos, project_memos
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy.envelope import legacy
from roughcut.http.legacy.session import caller
from roughcut.http.routing import path_int, read_body
from roughcut.wire.fields import Id, Text

SUCCESS = {"message": "success"}
NO_MEMO = "메모를 찾을 수  없습니다."


class MemoBody(Schema):
    date = Text(load_default="")
    memo = Text(multiline=True, load_default="")


class MemoId(Schema):
    memo_id = Id(required=True)


def old_date(value: str) -> date:
    """The calendar's unpadded `2023-7-5` (Django's DateField took it), or an ISO date."""
    try:
        year, month, day = (int(part) for part in value.split("-"))
        return date(year, month, day)
    except ValueError:
        raise errors.ValidationFailed(fields={"date": ["Not a date."]}) from None


@legacy("users/memo", "/api/v1/me/memos")
async def add_user_memo(request: web.Request) -> web.Response:
    """`{date, memo}`; without both, nothing happens (still success, as before)."""
    claims = await caller(request)
    data = await read_body(request, MemoBody)
    if data["date"] and data["memo"].strip():
        await memos.add_memo(request.config_dict[keys.ACCOUNTS], claims.user_id, old_date(data["date"]), data["memo"])
    return json_response(SUCCESS)


@legacy("users/memo/delete", "/api/v1/me/memos/{memo_id}", {errors.NotFound: (404, NO_MEMO)})
async def delete_user_memo(request: web.Request) -> web.Response:
    claims = await caller(request)
    await memos.delete_memo(request.config_dict[keys.ACCOUNTS], claims.user_id, path_int(request, "memo_id"))
    return json_response(SUCCESS)


@legacy("projects/memo", "/api/v1/projects/{project_id}/memos")
async def add_project_memo(request: web.Request) -> web.Response:
    """`{date, memo}` (owner and managers); without both, nothing happens."""
    claims = await caller(request)
    data = await read_body(request, MemoBody)
    if data["date"] and data["memo"].strip():
        deps = request.config_dict[keys.PROJECTS]
        day = old_date(data["date"])
        await project_memos.add_project_memo(deps, claims.user_id, path_int(request, "project_id"), day, data["memo"])
    return json_response(SUCCESS)


@legacy("projects/memo/delete", "/api/v1/projects/{project_id}/memos", {errors.NotFound: (404, NO_MEMO)})
async def delete_project_memo(request: web.Request) -> web.Response:
    """`{memo_id}` (owner and managers)."""
    claims = await caller(request)
    data = await read_body(request, MemoId)
    deps = request.config_dict[keys.PROJECTS]
    await project_memos.delete_project_memo(deps, claims.user_id, path_int(request, "project_id"), data["memo_id"])
    return json_response(SUCCESS)
