"""REST: /projects — list, create, read, update, delete, stages, members, transfer, event log, metadata."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import errors, projects
from roughcut.domain.project_model import (
    NewProject,
    Project,
    ProjectQuery,
    ProjectSummary,
    Role,
    Stage,
    UpdateProject,
    UserRef,
)
from roughcut.domain.projects import ProjectDetail
from roughcut.domain.read_cache import CacheKey, project_scope, user_scope
from roughcut.http import cursor
from roughcut.http import project_schemas as ps
from roughcut.http.cached_reads import cached_read
from roughcut.http.common_schemas import PageQuery
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate

routes = ApiRoutes()
TAGS = ("projects",)
# Schema instances are built once: building one deep-copies its fields, which costs more than the dump.
MEMBERS = ps.MemberSchema(many=True)
INVITATIONS = ps.InvitationSchema(many=True)
METADATA = ps.MetadataSchema()
MEMBER_CURSOR = "members"


def project_body(project: Project, owner: UserRef, role: str, member_count: int) -> dict[str, Any]:
    """The wire shape of ProjectSchema, built directly.

    Lists serialise many projects with eight stages each; marshmallow took ~80 µs a project, this
    takes a few. A test dumps the same project both ways and requires identical output.
    """
    return {
        "id": project.id,
        "name": project.name,
        "manager": project.manager,
        "consumer": project.consumer,
        "description": project.description,
        "color": project.color,
        "status": project.status.value,
        "current_stage": project.current_stage.value,
        "stages": [
            {"stage": st.stage.value, "start_at": st.start_at, "end_at": st.end_at, "status": st.status.value}
            for st in project.stages
        ],
        "owner": {"id": owner.id, "nickname": owner.nickname},
        "my_role": str(role),
        "member_count": member_count,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


def detail_body(d: ProjectDetail) -> dict[str, Any]:
    """A project with members, and invitations for owner and managers."""
    owner = next(m for m in d.members if m.role == "owner")
    body = project_body(d.project, UserRef(owner.user_id, owner.nickname), d.my_role, len(d.members))
    body["members"] = MEMBERS.dump(d.members)
    if d.invitations is not None:
        body["invitations"] = INVITATIONS.dump(d.invitations)
    return body


def _deps(request: web.Request) -> projects.Projects:
    return request.config_dict[keys.PROJECTS]


def _sort_value(s: ProjectSummary, sort: str) -> Any:
    return getattr(s.project, sort.lstrip("-"))


def _scope(sort: str) -> str:
    """A project cursor is bound to its sort order: its value is a name or a time only under that order."""
    return f"projects:{sort}"


def _after(raw: str | None, sort: str) -> tuple[object, int] | None:
    if raw is None:
        return None
    value, last_id = cursor.decode(raw, _scope(sort), 2)
    try:
        if not isinstance(last_id, int) or not isinstance(value, str):
            raise ValueError
        return (value if sort.lstrip("-") == "name" else datetime.fromisoformat(value)), last_id
    except ValueError:
        raise errors.ValidationFailed(fields={"cursor": ["Not a cursor from this API."]}) from None


@routes.route(
    "GET",
    "/projects",
    op="listProjects",
    summary="The caller's projects",
    tags=TAGS,
    query=ps.ProjectQuerySchema,
    responses={200: ps.ProjectPage},
    cache_key=lambda request, user_id: _list_key(user_id, read_query(request, ps.ProjectQuerySchema)),
)
async def list_projects(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, ps.ProjectQuerySchema)
    key = _list_key(claims.user_id, q)
    if key is not None:
        return await cached_read(request, key, lambda: _project_page(request, claims.user_id, q), one_resource=False)
    return json_response(await _project_page(request, claims.user_id, q))


def _list_key(user_id: int, q: dict[str, Any]) -> CacheKey | None:
    """The first page is the hot one: cached per caller and query; later pages are read uncached."""
    if q.get("cursor") is not None:
        return None
    ident = hashlib.blake2b(repr(sorted(q.items())).encode(), digest_size=8).hexdigest()
    return CacheKey("project_list", user_id, ident, (user_scope(user_id),))


async def _project_page(request: web.Request, user_id: int, q: dict[str, Any]) -> dict[str, Any]:
    query = ProjectQuery(
        q=q.get("q"),
        stage=q.get("stage"),
        role=q.get("role"),
        start=q.get("from_"),
        end=q.get("to"),
        sort=q["sort"],
        after=_after(q.get("cursor"), q["sort"]),
        limit=q["limit"] + 1,
    )
    found = await projects.list_projects(_deps(request), user_id, query)
    page, more = found[: q["limit"]], len(found) > q["limit"]
    nxt = cursor.encode(_scope(q["sort"]), _sort_value(page[-1], q["sort"]), page[-1].project.id) if more else None
    items = [project_body(x.project, x.owner, x.my_role, x.member_count) for x in page]
    return {"items": items, "next_cursor": nxt}


@routes.route(
    "POST",
    "/projects",
    op="createProject",
    summary="Create a project (the caller owns it)",
    tags=TAGS,
    body=ps.ProjectCreate,
    responses={201: ps.ProjectDetailSchema},
)
async def create_project(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, ps.ProjectCreate)
    stages = tuple(Stage(s["stage"], s["start_at"], s["end_at"], s["status"]) for s in data.pop("stages"))
    new = NewProject(
        name=data["name"].strip(),
        manager=data["manager"],
        consumer=data["consumer"],
        description=data["description"],
        color=data["color"],
        stages=stages,
    )
    detail = await projects.create_project(_deps(request), claims.user_id, new)
    return json_response(detail_body(detail), 201)


@routes.route(
    "GET",
    "/projects/{project_id}",
    op="getProject",
    summary="A project with its members",
    tags=TAGS,
    responses={200: ps.ProjectDetailSchema, 304: None},
    errors=(404,),
    cache_key=lambda request, user_id: _project_key("project", request, user_id),
)
async def get_project(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = path_int(request, "project_id")

    async def render() -> dict[str, Any]:
        return detail_body(await projects.get_project(_deps(request), claims.user_id, project_id))

    return await cached_read(request, _project_key("project", request, claims.user_id), render)


def _project_key(resource: str, request: web.Request, user_id: int) -> CacheKey:
    """A read of one project: stale with any change of the project."""
    project_id = path_int(request, "project_id")
    return CacheKey(resource, user_id, str(project_id), (project_scope(project_id),))


@routes.route(
    "PATCH",
    "/projects/{project_id}",
    op="updateProject",
    summary="Change name, people, colour, status",
    tags=TAGS,
    body=ps.ProjectUpdate,
    responses={200: ps.ProjectDetailSchema},
    errors=(403, 404),
)
async def update_project(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, ps.ProjectUpdate)
    cmd = UpdateProject(path_int(request, "project_id"), **data)
    detail = await projects.update_project(_deps(request), claims.user_id, cmd)
    return json_response(detail_body(detail))


@routes.route(
    "DELETE",
    "/projects/{project_id}",
    op="deleteProject",
    summary="Delete a project and its files",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_project(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await projects.delete_project(_deps(request), claims.user_id, path_int(request, "project_id"))
    return web.Response(status=204)


@routes.route(
    "PUT",
    "/projects/{project_id}/stages/{stage}",
    op="setStage",
    summary="Schedule one stage",
    tags=TAGS,
    body=ps.StageUpdate,
    responses={200: ps.ProjectDetailSchema},
    errors=(403, 404),
)
async def set_stage(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = path_int(request, "project_id")
    name = projects.parse_stage(request.match_info["stage"])
    data = await read_body(request, ps.StageUpdate)
    detail = await projects.set_stage(
        _deps(request), claims.user_id, project_id, Stage(name, data["start_at"], data["end_at"], data["status"])
    )
    return json_response(detail_body(detail))


@routes.route(
    "GET",
    "/projects/{project_id}/members",
    op="listMembers",
    summary="Members of a project",
    tags=TAGS,
    query=PageQuery,
    responses={200: ps.MemberPage},
    errors=(404,),
)
async def list_members(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, PageQuery)
    after, limit = cursor.decode_time_id(q.get("cursor"), MEMBER_CURSOR), q["limit"]
    found = await projects.list_members(
        _deps(request), claims.user_id, path_int(request, "project_id"), after, limit + 1
    )
    page, more = found[:limit], len(found) > limit
    nxt = cursor.encode(MEMBER_CURSOR, page[-1].joined_at, page[-1].user_id) if more else None
    return json_response({"items": MEMBERS.dump(page), "next_cursor": nxt})


@routes.route(
    "PATCH",
    "/projects/{project_id}/members/{user_id}",
    op="changeMemberRole",
    summary="Make a member a manager or back (owner only)",
    tags=TAGS,
    body=ps.RoleUpdate,
    responses={200: ps.MemberList},
    errors=(403, 404, 409),
)
async def change_role(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, ps.RoleUpdate)
    members = await projects.change_role(
        _deps(request),
        claims.user_id,
        path_int(request, "project_id"),
        path_int(request, "user_id"),
        Role(data["role"]),
    )
    return json_response({"items": MEMBERS.dump(members)})


@routes.route(
    "DELETE",
    "/projects/{project_id}/members/{user_id}",
    op="removeMember",
    summary="Leave, or remove a member",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404, 409),
)
async def remove_member(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await projects.remove_member(
        _deps(request), claims.user_id, path_int(request, "project_id"), path_int(request, "user_id")
    )
    return web.Response(status=204)


@routes.route(
    "POST",
    "/projects/{project_id}/transfer",
    op="transferOwnership",
    summary="Hand the project to another member (owner only)",
    tags=TAGS,
    body=ps.TransferRequest,
    responses={200: ps.MemberList},
    errors=(403, 404, 409),
)
async def transfer(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, ps.TransferRequest)
    members = await projects.transfer_ownership(
        _deps(request), claims.user_id, path_int(request, "project_id"), data["user_id"]
    )
    return json_response({"items": MEMBERS.dump(members)})


@routes.route(
    "GET",
    "/projects/{project_id}/events",
    op="listProjectEvents",
    summary="The project's durable event log after an id",
    tags=TAGS,
    query=ps.EventQuery,
    responses={200: ps.EventPage},
    errors=(404,),
)
async def list_events(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, ps.EventQuery)
    page = await projects.project_events(
        _deps(request), claims.user_id, path_int(request, "project_id"), q["after"], q["limit"]
    )
    events, last = page.events, page.last_id
    more = bool(events) and events[-1].id < last
    return json_response(
        {
            "items": [e.as_dict() for e in events],
            "last_event_id": last,
            "next_after": events[-1].id if more else None,
        }
    )


@routes.route(
    "GET",
    "/projects/{project_id}/metadata",
    op="getProjectMetadata",
    summary="Title and description for Next.js generateMetadata",
    tags=TAGS,
    responses={200: ps.MetadataSchema, 304: None},
    errors=(404,),
    cache_key=lambda request, user_id: _project_key("metadata", request, user_id),
)
async def get_metadata(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = path_int(request, "project_id")

    async def render() -> dict[str, Any]:
        meta: dict[str, Any] = METADATA.dump(await projects.metadata(_deps(request), claims.user_id, project_id))
        return meta

    return await cached_read(request, _project_key("metadata", request, claims.user_id), render)
