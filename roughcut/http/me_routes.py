"""REST: /me and /me/memos."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import memos, profile
from roughcut.http import cursor
from roughcut.http import schemas as s
from roughcut.http.jsonutil import etag_response, json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate, clear_cookies

routes = ApiRoutes()
TAGS = ("me",)


def _me(user: Any) -> dict[str, Any]:
    result: dict[str, Any] = s.UserSchema().dump(user)
    return result


@routes.route("GET", "/me", op="getMe", summary="The caller's account", tags=TAGS, responses={200: s.UserSchema})
async def get_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    return etag_response(request, _me(await profile.get_me(request.config_dict[keys.ACCOUNTS], claims.user_id)))


@routes.route(
    "PATCH",
    "/me",
    op="updateMe",
    summary="Change nickname, avatar or password",
    tags=TAGS,
    body=s.MeUpdate,
    responses={200: s.UserSchema},
)
async def update_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MeUpdate)
    user = await profile.update_me(
        request.config_dict[keys.ACCOUNTS],
        claims.user_id,
        nickname=data.get("nickname"),
        avatar_url=data.get("avatar_url"),
        clear_avatar="avatar_url" in data and data["avatar_url"] is None,
        current_password=data.get("current_password"),
        new_password=data.get("new_password"),
    )
    return json_response(_me(user))


@routes.route(
    "DELETE",
    "/me",
    op="deleteMe",
    summary="Delete the account (password or a fresh login)",
    tags=TAGS,
    body=s.MeDelete,
    responses={204: None},
    errors=(403,),
)
async def delete_me(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MeDelete)
    await profile.delete_me(request.config_dict[keys.ACCOUNTS], claims.user_id, claims.session_id, data.get("password"))
    response = web.Response(status=204)
    clear_cookies(response)
    return response


@routes.route(
    "GET",
    "/me/memos",
    op="listMyMemos",
    summary="Personal memos in a date range",
    tags=TAGS,
    query=s.MemoQuery,
    responses={200: s.MemoPage},
)
async def list_memos(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, s.MemoQuery)
    after = cursor.decode_day(q.get("cursor"))
    limit = q["limit"]
    items = await memos.list_memos(
        request.config_dict[keys.UOW], claims.user_id, q.get("from_"), q.get("to"), after, limit + 1
    )
    page, more = items[:limit], len(items) > limit
    return json_response(
        {
            "items": s.MemoSchema(many=True).dump(page),
            "next_cursor": cursor.encode_day(page[-1].date, page[-1].id) if more else None,
        }
    )


@routes.route(
    "POST",
    "/me/memos",
    op="createMyMemo",
    summary="Add a personal memo",
    tags=TAGS,
    body=s.MemoCreate,
    responses={201: s.MemoSchema},
)
async def create_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MemoCreate)
    memo = await memos.add_memo(
        request.config_dict[keys.UOW], _clock(request), claims.user_id, data["date"], data["memo"]
    )
    return json_response(s.MemoSchema().dump(memo), 201)


@routes.route(
    "PATCH",
    "/me/memos/{memo_id}",
    op="updateMyMemo",
    summary="Change a personal memo",
    tags=TAGS,
    body=s.MemoUpdate,
    responses={200: s.MemoSchema},
    errors=(404,),
)
async def update_memo(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.MemoUpdate)
    memo = await memos.update_memo(
        request.config_dict[keys.UOW],
        _clock(request),
        claims.user_id,
        path_int(request, "memo_id"),
        day=data.get("date"),
        memo=data.get("memo"),
    )
    return json_response(s.MemoSchema().dump(memo))


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
    await memos.delete_memo(request.config_dict[keys.UOW], claims.user_id, path_int(request, "memo_id"))
    return web.Response(status=204)


def _clock(request: web.Request) -> Any:
    return request.config_dict[keys.ACCOUNTS].clock
