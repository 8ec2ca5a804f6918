"""REST: /me and /me/memos."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import memos, profile
from roughcut.domain.account_model import UpdateMe, UpdateMemo
from roughcut.domain.accounts import Accounts
from roughcut.http import cursor
from roughcut.http.auth_schemas import UserSchema
from roughcut.http.cached_reads import drop_all
from roughcut.http.jsonutil import etag_response, json_response
from roughcut.http.me_schemas import MeDelete, MeUpdate
from roughcut.http.memo_schemas import MemoCreate, MemoPage, MemoQuery, MemoSchema, MemoUpdate
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate, clear_cookies

routes = ApiRoutes()
TAGS = ("me",)
MEMO_CURSOR = "memos"


def _me(user: Any) -> dict[str, Any]:
    result: dict[str, Any] = UserSchema().dump(user)
    return result


@routes.route(
    "GET", "/me", op="getMe", summary="The caller's account", tags=TAGS, responses={200: UserSchema, 304: None}
)
async def get_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    return etag_response(request, _me(await profile.get_me(_accounts(request), claims.user_id)))


@routes.route(
    "PATCH",
    "/me",
    op="updateMe",
    summary="Change nickname, avatar or password",
    tags=TAGS,
    body=MeUpdate,
    responses={200: UserSchema},
)
async def update_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, MeUpdate)
    user = await profile.update_me(_accounts(request), claims.user_id, UpdateMe(**data))
    if "nickname" in data or "avatar_url" in data:
        await drop_all(request)
    return json_response(_me(user))


@routes.route(
    "DELETE",
    "/me",
    op="deleteMe",
    summary="Delete the account (password or a fresh login)",
    tags=TAGS,
    body=MeDelete,
    responses={204: None},
    errors=(409,),
)
async def delete_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, MeDelete)
    await profile.delete_me(_accounts(request), claims.user_id, claims.session_id, data.get("password"))
    response = web.Response(status=204)
    clear_cookies(response)
    return response


@routes.route(
    "GET",
    "/me/memos",
    op="listMyMemos",
    summary="Personal memos in a date range",
    tags=TAGS,
    query=MemoQuery,
    responses={200: MemoPage},
)
async def list_memos(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, MemoQuery)
    after = cursor.decode_day(q.get("cursor"), MEMO_CURSOR)
    limit = q["limit"]
    items = await memos.list_memos(_accounts(request), claims.user_id, q.get("from_"), q.get("to"), after, limit + 1)
    page, more = items[:limit], len(items) > limit
    return json_response(
        {
            "items": MemoSchema(many=True).dump(page),
            "next_cursor": cursor.encode_day(MEMO_CURSOR, page[-1].date, page[-1].id) if more else None,
        }
    )


@routes.route(
    "POST",
    "/me/memos",
    op="createMyMemo",
    summary="Add a personal memo",
    tags=TAGS,
    body=MemoCreate,
    responses={201: MemoSchema},
)
async def create_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, MemoCreate)
    memo = await memos.add_memo(_accounts(request), claims.user_id, data["date"], data["memo"])
    return json_response(MemoSchema().dump(memo), 201)


@routes.route(
    "PATCH",
    "/me/memos/{memo_id}",
    op="updateMyMemo",
    summary="Change a personal memo",
    tags=TAGS,
    body=MemoUpdate,
    responses={200: MemoSchema},
    errors=(404,),
)
async def update_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, MemoUpdate)
    cmd = UpdateMemo(path_int(request, "memo_id"), **data)
    memo = await memos.update_memo(_accounts(request), claims.user_id, cmd)
    return json_response(MemoSchema().dump(memo))


@routes.route(
    "DELETE",
    "/me/memos/{memo_id}",
    op="deleteMyMemo",
    summary="Delete a personal memo",
    tags=TAGS,
    responses={204: None},
    errors=(404,),
)
async def delete_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await memos.delete_memo(_accounts(request), claims.user_id, path_int(request, "memo_id"))
    return web.Response(status=204)


def _accounts(request: web.Request) -> Accounts:
    return request.config_dict[keys.ACCOUNTS]
