"""REST: e-learning links, listed by every signed-in user and managed by admins under /admin."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import learning
from roughcut.domain.accounts import Accounts
from roughcut.domain.learning_model import LearningLink, UpdateLearningLink
from roughcut.http import learning_schemas as s
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body
from roughcut.http.security import authenticate

routes = ApiRoutes()
TAGS = ("learning",)
ADMIN_TAGS = ("admin",)


def _accounts(request: web.Request) -> Accounts:
    return request.config_dict[keys.ACCOUNTS]


def _link(link: LearningLink) -> dict[str, Any]:
    body: dict[str, Any] = s.LearningLinkSchema().dump(link)
    return body


@routes.route(
    "GET",
    "/learning-links",
    op="listLearningLinks",
    summary="E-learning video links, newest first",
    tags=TAGS,
    responses={200: s.LearningLinkList},
)
async def list_links(request: web.Request) -> web.Response:
    claims = authenticate(request)
    links = await learning.list_learning_links(_accounts(request), claims.user_id)
    return json_response({"items": [_link(link) for link in links]})


@routes.route(
    "GET",
    "/admin/learning-links",
    op="adminListLearningLinks",
    summary="E-learning video links, for administrators",
    tags=ADMIN_TAGS,
    responses={200: s.LearningLinkList},
    errors=(403,),
)
async def admin_list_links(request: web.Request) -> web.Response:
    claims = authenticate(request)
    links = await learning.list_learning_links(_accounts(request), claims.user_id, manage=True)
    return json_response({"items": [_link(link) for link in links]})


@routes.route(
    "POST",
    "/admin/learning-links",
    op="adminCreateLearningLink",
    summary="Add an e-learning video link (administrators)",
    tags=ADMIN_TAGS,
    body=s.LearningLinkCreate,
    responses={201: s.LearningLinkSchema},
)
async def create_link(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.LearningLinkCreate)
    link = await learning.add_learning_link(_accounts(request), claims.user_id, data["url"], data["title"])
    return json_response(_link(link), 201)


@routes.route(
    "PATCH",
    "/admin/learning-links/{link_id}",
    op="adminUpdateLearningLink",
    summary="Change an e-learning video link (administrators)",
    tags=ADMIN_TAGS,
    body=s.LearningLinkUpdate,
    responses={200: s.LearningLinkSchema},
    errors=(404,),
)
async def update_link(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.LearningLinkUpdate)
    cmd = UpdateLearningLink(path_int(request, "link_id"), **data)
    return json_response(_link(await learning.update_learning_link(_accounts(request), claims.user_id, cmd)))


@routes.route(
    "DELETE",
    "/admin/learning-links/{link_id}",
    op="adminDeleteLearningLink",
    summary="Delete an e-learning video link (administrators)",
    tags=ADMIN_TAGS,
    responses={204: None},
    errors=(404,),
)
async def delete_link(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await learning.delete_learning_link(_accounts(request), claims.user_id, path_int(request, "link_id"))
    return web.Response(status=204)
