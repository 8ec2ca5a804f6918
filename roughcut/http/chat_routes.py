"""REST: chat history of a feedback thread."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from marshmallow import Schema, fields, validate

from roughcut import keys
from roughcut.domain import chat
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_query
from roughcut.http.security import authenticate
from roughcut.wire.fields import Id
from roughcut.wire.schemas import MessageSchema

routes = ApiRoutes()


class MessageQuery(Schema):
    before_seq = Id(query=True)
    after_seq = Id(cursor=True, query=True)
    limit = fields.Int(load_default=50, validate=validate.Range(1, chat.HISTORY_MAX))


class MessagePage(Schema):
    items = fields.List(fields.Nested(MessageSchema), required=True)
    first_seq = fields.Int(allow_none=True, required=True)
    last_seq = fields.Int(allow_none=True, required=True)


@routes.route(
    "GET",
    "/feedback/{feedback_id}/messages",
    op="listMessages",
    summary="Chat history in seq order",
    tags=("chat",),
    query=MessageQuery,
    responses={200: MessagePage},
    errors=(404,),
)
async def list_messages(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, MessageQuery)
    found = await chat.history(
        request.config_dict[keys.CHAT],
        claims.user_id,
        path_int(request, "feedback_id"),
        q.get("before_seq"),
        q.get("after_seq"),
        q["limit"],
    )
    body: dict[str, Any] = {
        "items": [m.wire() for m in found],
        "first_seq": found[0].seq if found else None,
        "last_seq": found[-1].seq if found else None,
    }
    return json_response(body)
