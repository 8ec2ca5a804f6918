"""Old project endpoints: list, create (multipart), detail, stage dates, invitations."""

from __future__ import annotations

import json
import secrets
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate

from roughcut import keys
from roughcut.domain import (
    errors,
    invitations,
    memos,
    profile,
    project_files,
    project_memos,
    projects,
    sample_files,
    uploads,
)
from roughcut.domain.project_model import EDITORS, NewProject, ProjectQuery, Role, Stage, UpdateProject
from roughcut.domain.projects import ProjectDetail, Projects
from roughcut.domain.upload_model import Purpose
from roughcut.http import project_schemas as ps
from roughcut.http.invitation_routes import InvitationCreate
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy import shapes
from roughcut.http.legacy.envelope import BAD_REQUEST, FORBIDDEN, legacy
from roughcut.http.legacy.forms import OldForm, read_form
from roughcut.http.legacy.session import caller
from roughcut.http.routing import path_int, read_body
from roughcut.wire.fields import Id, Text
from roughcut.wire.validation import load

PAGE = 100  # the old list had no pages: read them all, this many at a time
SUCCESS = {"message": "success"}
ALREADY_INVITED = "이미 초대한 사용자입니다."
EDITABLE = ("name", "manager", "consumer", "description", "color")


def _deps(request: web.Request) -> Projects:
    return request.config_dict[keys.PROJECTS]


def _time(value: Any) -> Any:
    """The old app's dates: ISO strings, with an offset or (Django's UTC) without one."""
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value  # refused by the schema
        return value if parsed.tzinfo is not None else value + "+00:00"
    return value or None


def _json_field(form: Any, name: str, default: Any) -> Any:
    raw = form.get(name)
    if raw is None:
        return default
    try:
        return json.loads(raw if isinstance(raw, str) else raw.decode())
    except (ValueError, AttributeError):
        raise errors.ValidationFailed(fields={name: ["Not JSON."]}) from None


async def _all_projects(deps: Projects, user_id: int) -> list[ProjectDetail]:
    """Every project with its members: two statements per page of PAGE, whatever the projects hold."""
    found: list[ProjectDetail] = []
    after: tuple[object, int] | None = None
    while True:
        query = ProjectQuery(sort="-created_at", after=after, limit=PAGE)
        page = await projects.list_projects_with_members(deps, user_id, query)
        found.extend(page)
        if len(page) < PAGE:
            return found
        after = (page[-1].project.created_at, page[-1].project.id)


@legacy("projects/project_list", "/api/v1/projects")
async def project_list(request: web.Request) -> web.Response:
    """Every project of the caller (owned first) with the derived fields, the caller and their memos."""
    claims = await caller(request)
    deps = _deps(request)
    details = await _all_projects(deps, claims.user_id)
    details.sort(key=lambda d: d.my_role is not Role.OWNER)  # stable: owned first, each part newest first
    acc = request.config_dict[keys.ACCOUNTS]
    user = await profile.get_me(acc, claims.user_id)
    own_memos = await memos.list_memos(acc, claims.user_id, None, None, None, PAGE * 10)
    return json_response(
        {
            "result": [shapes.project(d, keyed=False) for d in details],
            "user": user.email,
            "nickname": user.nickname or user.email,
            "sample_files": [
                {"file_name": s.sample.filename, "files": s.url}
                for s in await sample_files.list_samples(request.config_dict[keys.UPLOADS])
            ],
            "user_memos": [shapes.memo(m) for m in own_memos],
        }
    )


def _stages(process: Any) -> list[dict[str, Any]]:
    if not isinstance(process, list):
        raise errors.ValidationFailed(fields={"process": ["Expected a list."]})
    stages = []
    for item in process:
        if not isinstance(item, dict) or item.get("key") not in shapes.NEW_STAGE:
            raise errors.ValidationFailed(fields={"process": ["Unknown stage."]})
        stages.append(
            {
                "stage": shapes.NEW_STAGE[item["key"]].value,
                "start_at": _time(item.get("startDate", item.get("start_date"))),
                "end_at": _time(item.get("endDate", item.get("end_date"))),
            }
        )
    return stages


@legacy("projects/create", "/api/v1/projects")
async def create(request: web.Request) -> web.Response:
    """Multipart `inputs` (JSON) and `process` (JSON stage list) → a project; 200 `{message: success}`."""
    claims = await caller(request)
    async with _form(request) as form:
        inputs = _json_field(form.fields, "inputs", {})
        if not isinstance(inputs, dict):
            raise errors.ValidationFailed(fields={"inputs": ["Expected an object."]})
        body = {k: inputs[k] for k in EDITABLE if k in inputs}
        body.setdefault("color", f"#{secrets.token_hex(3).upper()}")  # the old create picked a random colour
        body["stages"] = _stages(_json_field(form.fields, "process", []))
        data = load(ps.ProjectCreate(), body)
        stages = tuple(Stage(s["stage"], s["start_at"], s["end_at"], s["status"]) for s in data["stages"])
        new = NewProject(
            data["name"].strip(), data["manager"], data["consumer"], data["description"], data["color"], stages
        )
        created = await projects.create_project(_deps(request), claims.user_id, new)
        await _store_files(request, claims.user_id, created.project.id, form)
    return json_response(SUCCESS)


def _form(request: web.Request) -> AbstractAsyncContextManager[OldForm]:
    return read_form(request, request.config_dict[keys.UPLOADS].policy.limit(Purpose.PROJECT_FILE))


async def _store_files(request: web.Request, user_id: int, project_id: int, form: OldForm) -> None:
    """Each `files` part as a project file, through the same checks as an /api/v1 upload."""
    deps = request.config_dict[keys.UPLOADS]
    for spooled in form.files:
        await uploads.receive_upload(deps, user_id, spooled.command(project_id), spooled.path)


async def _detail(request: web.Request, user_id: int, project_id: int) -> dict[str, Any]:
    deps = _deps(request)
    detail = await projects.get_project(deps, user_id, project_id)
    found = await project_memos.list_project_memos(deps, user_id, project_id, None, None, None, PAGE * 10)
    files = await project_files.list_files(request.config_dict[keys.UPLOADS], user_id, project_id)
    return shapes.detail(detail, found, files)


@legacy("projects/detail", "/api/v1/projects/{project_id}", {errors.NotFound: (404, FORBIDDEN)})
async def detail(request: web.Request) -> web.Response:
    """200 `{result: {...project, pending_list, member_list, files, memo}}`; a non-member's is not found."""
    claims = await caller(request)
    return json_response({"result": await _detail(request, claims.user_id, path_int(request, "project_id"))})


class DateBody(Schema):
    key = Text(required=True, validate=validate.OneOf(sorted(shapes.NEW_STAGE)))
    start_date = fields.Raw(load_default=None)
    end_date = fields.Raw(load_default=None)


@legacy("projects/date_update", "/api/v1/projects/{project_id}")
async def date_update(request: web.Request) -> web.Response:
    """`{key, start_date, end_date}` schedules one stage, its status kept."""
    claims = await caller(request)
    project_id = path_int(request, "project_id")
    raw = await read_body(request, DateBody)
    name = shapes.NEW_STAGE[raw["key"]]
    current = await projects.get_project(_deps(request), claims.user_id, project_id)
    status = next(s.status for s in current.project.stages if s.stage is name)
    data = load(
        ps.StageUpdate(),
        {"start_at": _time(raw.get("start_date")), "end_at": _time(raw.get("end_date")), "status": status.value},
    )
    await projects.set_stage(
        _deps(request), claims.user_id, project_id, Stage(name, data["start_at"], data["end_at"], status)
    )
    return json_response(SUCCESS)


@legacy(
    "projects/invite_project",
    "/api/v1/projects/{project_id}/invitations",
    {errors.Conflict: (409, ALREADY_INVITED), errors.ValidationFailed: (400, BAD_REQUEST)},
)
async def invite_project(request: web.Request) -> web.Response:
    """`{email}` invites as member (owner and managers: the old "anyone can invite" is not kept)."""
    claims = await caller(request)
    data = await read_body(request, InvitationCreate)
    await invitations.invite(_deps(request), claims.user_id, path_int(request, "project_id"), data["email"])
    return json_response(SUCCESS)


class InviteId(Schema):
    pk = Id(required=True)


@legacy("projects/invite_project/delete", "/api/v1/projects/{project_id}/invitations")
async def cancel_invite(request: web.Request) -> web.Response:
    """`{pk}` withdraws a pending invitation (owner and managers); an unknown one is a no-op, as before."""
    claims = await caller(request)
    data = await read_body(request, InviteId)
    try:
        await invitations.revoke_invitation(_deps(request), claims.user_id, path_int(request, "project_id"), data["pk"])
    except (errors.NotFound, errors.Conflict):  # unknown, or no longer pending: the old row was simply gone
        await projects.get_project(_deps(request), claims.user_id, path_int(request, "project_id"))  # members only
    return json_response(SUCCESS)


@legacy("projects/detail/delete", "/api/v1/projects/{project_id}", {errors.NotFound: (404, FORBIDDEN)})
async def delete(request: web.Request) -> web.Response:
    """Delete the project (roughcut's rule: its owner only)."""
    claims = await caller(request)
    await projects.delete_project(_deps(request), claims.user_id, path_int(request, "project_id"))
    return json_response(SUCCESS)


def _ratings(members: Any) -> dict[int, Role]:
    if not isinstance(members, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), int) for m in members):
        raise errors.ValidationFailed(fields={"members": ["Expected a list of {id, rating}."]})
    return {m["id"]: Role.MANAGER if m.get("rating") == "manager" else Role.MEMBER for m in members}


@legacy("projects/detail/update", "/api/v1/projects/{project_id}", {errors.NotFound: (404, FORBIDDEN)})
async def update(request: web.Request) -> web.Response:
    """Multipart `inputs`, `process` and `members`: each part through its own use case (fields, stages, roles)."""
    claims = await caller(request)
    deps, project_id = _deps(request), path_int(request, "project_id")
    async with _form(request) as form:
        inputs = _json_field(form.fields, "inputs", {})
        if not isinstance(inputs, dict):
            raise errors.ValidationFailed(fields={"inputs": ["Expected an object."]})
        fields_ = load(ps.ProjectUpdate(), {k: inputs[k] for k in EDITABLE if k in inputs})
        stages = [load(ps.StageSchema(), s) for s in _stages(_json_field(form.fields, "process", []))]
        ratings = _ratings(_json_field(form.fields, "members", []))
        current = await projects.get_project(deps, claims.user_id, project_id)
        if form.files and current.my_role not in EDITORS:  # the old rule: owner and managers add files
            raise errors.PermissionDenied()
        await _store_files(request, claims.user_id, project_id, form)
    if fields_:
        await projects.update_project(deps, claims.user_id, UpdateProject(project_id, **fields_))
    kept = {s.stage: s.status for s in current.project.stages}
    for s in stages:
        stage = Stage(s["stage"], s["start_at"], s["end_at"], kept[s["stage"]])
        await projects.set_stage(deps, claims.user_id, project_id, stage)
    roles = {m.user_id: m.role for m in current.members}
    for user_id, role in ratings.items():
        if roles.get(user_id) not in (None, Role.OWNER, role):  # only real changes (the owner's rule applies)
            await projects.change_role(deps, claims.user_id, project_id, user_id, role)
    return json_response({"result": "result"})
