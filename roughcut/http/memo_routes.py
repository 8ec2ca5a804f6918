"""REST: project memos and the calendar."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema, fields

from roughcut import keys
from roughcut.domain import project_memos
from roughcut.domain.calendar import MAX_RANGE_DAYS, calendar
from roughcut.domain.project_model import ProjectMemo, StageName, StageStatus, UpdateProjectMemo
from roughcut.domain.projects import Projects
from roughcut.http import cursor
from roughcut.http import memo_schemas as s
from roughcut.http.jsonutil import etag_response, json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate
from roughcut.wire.fields import Timestamp
from roughcut.wire.schemas import UserRefSchema

routes = ApiRoutes()
TAGS = ("projects",)
CALENDAR_TAGS = ("calendar",)
MEMO_CURSOR = "project_memos"


class ProjectMemoSchema(Schema):
    id = fields.Int(required=True)
    date = fields.Date(required=True)
    memo = fields.Str(required=True)
    author = fields.Nested(UserRefSchema, allow_none=True, required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class ProjectMemoPage(Schema):
    items = fields.List(fields.Nested(ProjectMemoSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class CalendarQuery(Schema):
    from_ = fields.Date(data_key="from", required=True)
    to = fields.Date(required=True, metadata={"description": f"Not before `from`, and {MAX_RANGE_DAYS} days at most."})


class CalendarStageSchema(Schema):
    project_id = fields.Int(required=True)
    project_name = fields.Str(required=True)
    color = fields.Str(required=True)
    stage = fields.Enum(StageName, by_value=True, required=True, attribute="stage.stage")
    start_at = Timestamp(required=True, attribute="stage.start_at")
    end_at = Timestamp(required=True, attribute="stage.end_at")
    status = fields.Enum(StageStatus, by_value=True, required=True, attribute="stage.status")


class CalendarMemoSchema(ProjectMemoSchema):
    project_id = fields.Int(required=True)


class CalendarSchema(Schema):
    stages = fields.List(fields.Nested(CalendarStageSchema), required=True)
    memos = fields.List(fields.Nested(CalendarMemoSchema), required=True)
    personal_memos = fields.List(fields.Nested(s.MemoSchema), required=True)


def _deps(request: web.Request) -> Projects:
    return request.config_dict[keys.PROJECTS]


def _memo(memo: ProjectMemo) -> dict[str, Any]:
    body: dict[str, Any] = ProjectMemoSchema().dump(memo)
    return body


@routes.route(
    "GET",
    "/projects/{project_id}/memos",
    op="listProjectMemos",
    summary="A project's memos in a date range",
    tags=TAGS,
    query=s.MemoQuery,
    responses={200: ProjectMemoPage},
    errors=(404,),
)
async def list_memos(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, s.MemoQuery)
    limit = q["limit"]
    found = await project_memos.list_project_memos(
        _deps(request),
        claims.user_id,
        path_int(request, "project_id"),
        q.get("from_"),
        q.get("to"),
        cursor.decode_day(q.get("cursor"), MEMO_CURSOR),
        limit + 1,
    )
    page, more = found[:limit], len(found) > limit
    nxt = cursor.encode_day(MEMO_CURSOR, page[-1].date, page[-1].id) if more else None
    return json_response({"items": [_memo(m) for m in page], "next_cursor": nxt})


@routes.route(
    "POST",
    "/projects/{project_id}/memos",
    op="createProjectMemo",
    summary="Add a memo to a project (owner and managers)",
    tags=TAGS,
    body=s.MemoCreate,
    responses={201: ProjectMemoSchema},
    errors=(403, 404),
)
async def create_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MemoCreate)
    memo = await project_memos.add_project_memo(
        _deps(request), claims.user_id, path_int(request, "project_id"), data["date"], data["memo"]
    )
    return json_response(_memo(memo), 201)


@routes.route(
    "PATCH",
    "/projects/{project_id}/memos/{memo_id}",
    op="updateProjectMemo",
    summary="Change a project memo (owner and managers)",
    tags=TAGS,
    body=s.MemoUpdate,
    responses={200: ProjectMemoSchema},
    errors=(403, 404),
)
async def update_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MemoUpdate)
    cmd = UpdateProjectMemo(path_int(request, "project_id"), path_int(request, "memo_id"), **data)
    memo = await project_memos.update_project_memo(_deps(request), claims.user_id, cmd)
    return json_response(_memo(memo))


@routes.route(
    "DELETE",
    "/projects/{project_id}/memos/{memo_id}",
    op="deleteProjectMemo",
    summary="Delete a project memo (owner and managers)",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await project_memos.delete_project_memo(
        _deps(request), claims.user_id, path_int(request, "project_id"), path_int(request, "memo_id")
    )
    return web.Response(status=204)


@routes.route(
    "GET",
    "/calendar",
    op="getCalendar",
    summary="Stages and memos of the caller's projects and personal memos in a date range",
    tags=CALENDAR_TAGS,
    query=CalendarQuery,
    responses={200: CalendarSchema, 304: None},
)
async def get_calendar(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, CalendarQuery)
    found = await calendar(_deps(request), claims.user_id, q["from_"], q["to"])
    return etag_response(request, CalendarSchema().dump(found))
