"""REST: feedback threads and time-coded comments."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import errors, feedback, project_files
from roughcut.domain.feedback_model import (
    Comment,
    CommentCursor,
    EditComment,
    FeedbackThread,
    NewComment,
    UpdateThread,
    comment_data,
)
from roughcut.domain.projects import Projects
from roughcut.domain.read_cache import CacheKey, thread_scope, user_scope
from roughcut.http import cursor
from roughcut.http import feedback_schemas as fs
from roughcut.http.cached_reads import cached_read
from roughcut.http.common_schemas import PageQuery
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate
from roughcut.http.upload_routes import version_body

routes = ApiRoutes()
TAGS = ("feedback",)
THREAD = fs.FeedbackSchema()
BAD_CURSOR = {"cursor": ["Not a cursor from this API."]}
THREAD_CURSOR, COMMENT_CURSOR = "feedback", "comments"


def _deps(request: web.Request) -> Projects:
    return request.config_dict[keys.PROJECTS]


async def _thread(request: web.Request, thread: FeedbackThread) -> dict[str, Any]:
    """A thread; its versions with short-lived URLs of their video and poster (so its ETag changes as they do)."""
    body: dict[str, Any] = THREAD.dump(thread)
    signed = await project_files.sign_versions(request.config_dict[keys.UPLOADS], thread.versions)
    body["versions"] = [version_body(v) for v in signed]
    return body


def _bounded(value: object) -> int:
    # A doctored cursor must fail validation, not overflow the database's BIGINT.
    if not isinstance(value, int) or not 0 <= value <= fs.SAFE_INT_MAX:
        raise ValueError
    return value


def _thread_after(raw: str | None) -> int | None:
    if raw is None:
        return None
    (last_id,) = cursor.decode(raw, THREAD_CURSOR, 1)
    try:
        return _bounded(last_id)
    except ValueError:
        raise errors.ValidationFailed(fields=BAD_CURSOR) from None


def _comment_after(raw: str | None) -> CommentCursor | None:
    if raw is None:
        return None
    at_ms, created_at, last_id = cursor.decode(raw, COMMENT_CURSOR, 3)
    try:
        when = datetime.fromisoformat(created_at)
        if when.tzinfo is None:
            raise ValueError
        return (None if at_ms is None else _bounded(at_ms)), when, _bounded(last_id)
    except (TypeError, ValueError):
        raise errors.ValidationFailed(fields=BAD_CURSOR) from None


def _comment_cursor(last: Comment) -> str:
    return cursor.encode(COMMENT_CURSOR, last.at_ms, last.created_at, last.id)


@routes.route(
    "GET",
    "/projects/{project_id}/feedback",
    op="listFeedback",
    summary="A project's feedback threads",
    tags=TAGS,
    query=PageQuery,
    responses={200: fs.FeedbackPage},
    errors=(404,),
)
async def list_feedback(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, PageQuery)
    limit = q["limit"]
    found = await feedback.list_threads(
        _deps(request), claims.user_id, path_int(request, "project_id"), _thread_after(q.get("cursor")), limit + 1
    )
    page, more = found[:limit], len(found) > limit
    nxt = cursor.encode(THREAD_CURSOR, page[-1].id) if more else None
    return json_response({"items": [await _thread(request, x) for x in page], "next_cursor": nxt})


@routes.route(
    "POST",
    "/projects/{project_id}/feedback",
    op="createFeedback",
    summary="Open a feedback thread (owner and managers)",
    tags=TAGS,
    body=fs.FeedbackCreate,
    responses={201: fs.FeedbackSchema},
    errors=(403, 404),
)
async def create_feedback(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, fs.FeedbackCreate)
    thread = await feedback.create_thread(
        _deps(request), claims.user_id, path_int(request, "project_id"), data["title"], data["description"]
    )
    return json_response(await _thread(request, thread), 201)


@routes.route(
    "GET",
    "/feedback/{feedback_id}",
    op="getFeedback",
    summary="A feedback thread with its versions and counters",
    tags=TAGS,
    responses={200: fs.FeedbackSchema, 304: None},
    errors=(404,),
    cache_key=lambda request, user_id: _thread_key(request, user_id),
)
async def get_feedback(request: web.Request) -> web.Response:
    claims = authenticate(request)
    feedback_id = path_int(request, "feedback_id")

    async def render() -> dict[str, Any]:
        return await _thread(request, await feedback.get_thread(_deps(request), claims.user_id, feedback_id))

    return await cached_read(request, _thread_key(request, claims.user_id), render)


def _thread_key(request: web.Request, user_id: int) -> CacheKey:
    """The chat's counters and the caller's read marker change with the thread's scope, the rest with the caller's."""
    feedback_id = path_int(request, "feedback_id")
    return CacheKey("feedback", user_id, str(feedback_id), (thread_scope(feedback_id), user_scope(user_id)))


@routes.route(
    "PATCH",
    "/feedback/{feedback_id}",
    op="updateFeedback",
    summary="Change a thread's title, description or status (owner and managers)",
    tags=TAGS,
    body=fs.FeedbackUpdate,
    responses={200: fs.FeedbackSchema},
    errors=(403, 404),
)
async def update_feedback(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, fs.FeedbackUpdate)
    cmd = UpdateThread(path_int(request, "feedback_id"), **data)
    thread = await feedback.update_thread(_deps(request), claims.user_id, cmd)
    return json_response(await _thread(request, thread))


@routes.route(
    "DELETE",
    "/feedback/{feedback_id}",
    op="deleteFeedback",
    summary="Delete a thread with its comments and chat (owner and managers)",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_feedback(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await feedback.delete_thread(_deps(request), claims.user_id, path_int(request, "feedback_id"))
    return web.Response(status=204)


@routes.route(
    "GET",
    "/feedback/{feedback_id}/comments",
    op="listComments",
    summary="A thread's comments by position in the video, then creation",
    tags=TAGS,
    query=fs.CommentQuery,
    responses={200: fs.CommentPage},
    errors=(404,),
    cache_key=lambda request, user_id: _comments_key(request, user_id, read_query(request, fs.CommentQuery)),
)
async def list_comments(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, fs.CommentQuery)
    feedback_id = path_int(request, "feedback_id")
    key = _comments_key(request, claims.user_id, q)
    if key is not None:

        async def page() -> dict[str, Any]:
            return await _comment_page(request, claims.user_id, feedback_id, q)

        return await cached_read(request, key, page, one_resource=False)
    return json_response(await _comment_page(request, claims.user_id, feedback_id, q))


def _comments_key(request: web.Request, user_id: int, q: dict[str, Any]) -> CacheKey | None:
    """The first page is the hot one: cached per caller (anonymity) and query; later pages are read uncached."""
    if q.get("cursor") is not None:
        return None
    ident = hashlib.blake2b(repr(sorted(q.items())).encode(), digest_size=8).hexdigest()
    return CacheKey("comments", user_id, f"{path_int(request, 'feedback_id')}:{ident}", (user_scope(user_id),))


async def _comment_page(request: web.Request, user_id: int, feedback_id: int, q: dict[str, Any]) -> dict[str, Any]:
    limit = q["limit"]
    found = await feedback.list_comments(
        _deps(request), user_id, feedback_id, q.get("version"), _comment_after(q.get("cursor")), limit + 1
    )
    page, more = found[:limit], len(found) > limit
    items = [comment_data(c, user_id) for c in page]
    return {"items": items, "next_cursor": _comment_cursor(page[-1]) if more else None}


@routes.route(
    "POST",
    "/feedback/{feedback_id}/comments",
    op="createComment",
    summary="Comment on a thread, at a point or range of the video (every member)",
    tags=TAGS,
    body=fs.CommentCreate,
    responses={201: fs.CommentSchema},
    errors=(404,),
)
async def create_comment(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, fs.CommentCreate)
    new = NewComment(feedback_id=path_int(request, "feedback_id"), **data)
    comment = await feedback.add_comment(_deps(request), claims.user_id, new)
    return json_response(comment_data(comment, claims.user_id), 201)


@routes.route(
    "PATCH",
    "/comments/{comment_id}",
    op="updateComment",
    summary="Edit a comment (its author only)",
    tags=TAGS,
    body=fs.CommentEdit,
    responses={200: fs.CommentSchema},
    errors=(403, 404),
)
async def update_comment(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, fs.CommentEdit)
    cmd = EditComment(path_int(request, "comment_id"), **data)
    comment = await feedback.edit_comment(_deps(request), claims.user_id, cmd)
    return json_response(comment_data(comment, claims.user_id))


@routes.route(
    "DELETE",
    "/comments/{comment_id}",
    op="deleteComment",
    summary="Delete a comment and its replies (its author only)",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def delete_comment(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await feedback.delete_comment(_deps(request), claims.user_id, path_int(request, "comment_id"))
    return web.Response(status=204)


@routes.route(
    "POST",
    "/comments/{comment_id}/resolve",
    op="resolveComment",
    summary="Resolve or reopen a comment (owner and managers)",
    tags=TAGS,
    body=fs.ResolveRequest,
    responses={200: fs.CommentSchema},
    errors=(403, 404),
)
async def resolve_comment(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, fs.ResolveRequest)
    comment = await feedback.resolve_comment(
        _deps(request), claims.user_id, path_int(request, "comment_id"), data["resolved"]
    )
    return json_response(comment_data(comment, claims.user_id))
