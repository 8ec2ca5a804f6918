"""REST: project invitations — invite, list, revoke, resend; public preview; accept and decline by token."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate

from roughcut import keys
from roughcut.domain import invitations
from roughcut.domain.project_model import Invitation, InvitationStatus, Role
from roughcut.domain.projects import Projects
from roughcut.http import cursor
from roughcut.http.common_schemas import PageQuery
from roughcut.http.jsonutil import json_response
from roughcut.http.project_schemas import InvitationSchema
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate
from roughcut.wire.fields import Email, Text, Timestamp
from roughcut.wire.schemas import UserRefSchema

routes = ApiRoutes()
TAGS = ("invitations",)
INVITATION_CURSOR = "invitations"


class InvitationCreate(Schema):
    email = Email(required=True)
    role = Text(load_default=Role.MEMBER.value, validate=validate.OneOf([Role.MEMBER.value, Role.MANAGER.value]))
    message = Text(multiline=True, load_default="", validate=validate.Length(max=2000))


class InvitationList(Schema):
    items = fields.List(fields.Nested(InvitationSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)


class InvitationPreview(Schema):
    project_name = fields.Str(required=True)
    inviter = fields.Nested(UserRefSchema, allow_none=True, required=True)
    email = fields.Str(required=True)
    expires_at = Timestamp(required=True)
    status = fields.Enum(InvitationStatus, by_value=True, required=True)


class AcceptResult(Schema):
    project_id = fields.Int(required=True)


def _deps(request: web.Request) -> Projects:
    return request.config_dict[keys.PROJECTS]


def _invitation(invitation: Invitation) -> dict[str, Any]:
    body: dict[str, Any] = InvitationSchema().dump(invitation)
    return body


@routes.route(
    "POST",
    "/projects/{project_id}/invitations",
    op="createInvitation",
    summary="Invite an e-mail address (owner and managers); mails a single-use link",
    tags=TAGS,
    body=InvitationCreate,
    responses={201: InvitationSchema},
    errors=(403, 404, 409),
)
async def create_invitation(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, InvitationCreate)
    invitation = await invitations.invite(
        _deps(request),
        claims.user_id,
        path_int(request, "project_id"),
        data["email"],
        Role(data["role"]),
        data["message"],
    )
    return json_response(_invitation(invitation), 201)


@routes.route(
    "GET",
    "/projects/{project_id}/invitations",
    op="listInvitations",
    summary="Pending invitations (owner and managers)",
    tags=TAGS,
    query=PageQuery,
    responses={200: InvitationList},
    errors=(403, 404),
)
async def list_invitations(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, PageQuery)
    after, limit = cursor.decode_id(q.get("cursor"), INVITATION_CURSOR), q["limit"]
    found = await invitations.list_invitations(
        _deps(request), claims.user_id, path_int(request, "project_id"), after, limit + 1
    )
    page, more = found[:limit], len(found) > limit
    nxt = cursor.encode(INVITATION_CURSOR, page[-1].id) if more else None
    return json_response({"items": InvitationSchema(many=True).dump(page), "next_cursor": nxt})


@routes.route(
    "DELETE",
    "/projects/{project_id}/invitations/{invitation_id}",
    op="revokeInvitation",
    summary="Revoke a pending invitation (owner and managers)",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404, 409),
)
async def revoke_invitation(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await invitations.revoke_invitation(
        _deps(request), claims.user_id, path_int(request, "project_id"), path_int(request, "invitation_id")
    )
    return web.Response(status=204)


@routes.route(
    "POST",
    "/projects/{project_id}/invitations/{invitation_id}/resend",
    op="resendInvitation",
    summary="Mail a pending invitation again with a new link (the old one stops working)",
    tags=TAGS,
    responses={200: InvitationSchema},
    errors=(403, 404, 409),
)
async def resend_invitation(request: web.Request) -> web.Response:
    claims = authenticate(request)
    invitation = await invitations.resend_invitation(
        _deps(request), claims.user_id, path_int(request, "project_id"), path_int(request, "invitation_id")
    )
    return json_response(_invitation(invitation))


@routes.route(
    "GET",
    "/invitations/{token}",
    op="previewInvitation",
    summary="What an invitation link is for (no login needed)",
    tags=TAGS,
    responses={200: InvitationPreview},
    errors=(404,),
    auth=False,
)
async def preview_invitation(request: web.Request) -> web.Response:
    preview = await invitations.preview_invitation(_deps(request), request.match_info["token"])
    return json_response(InvitationPreview().dump(preview))


@routes.route(
    "POST",
    "/invitations/{token}/accept",
    op="acceptInvitation",
    summary="Join the project (the invited address only)",
    tags=TAGS,
    responses={200: AcceptResult},
    errors=(403, 404, 409),
)
async def accept_invitation(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = await invitations.accept_invitation(_deps(request), claims.user_id, request.match_info["token"])
    return json_response(AcceptResult().dump({"project_id": project_id}))


@routes.route(
    "POST",
    "/invitations/{token}/decline",
    op="declineInvitation",
    summary="Turn an invitation down (the invited address only)",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404, 409),
)
async def decline_invitation(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await invitations.decline_invitation(_deps(request), claims.user_id, request.match_info["token"])
    return web.Response(status=204)
