"""Old review endpoints: GET /feedbacks/<project_id> (the project's first thread) and PUT (a comment)."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields

from roughcut import keys
from roughcut.domain import errors, feedback, projects
from roughcut.domain.feedback_model import Comment, CommentCursor, NewComment, section_ms
from roughcut.domain.projects import Projects
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy import shapes
from roughcut.http.legacy.envelope import BAD_REQUEST, FORBIDDEN, legacy
from roughcut.http.legacy.session import caller
from roughcut.http.routing import path_int, read_body
from roughcut.wire.fields import Text

PAGE = 100
SUCCESS = {"message": "success"}


class CommentBody(Schema):
    secret = fields.Raw(load_default="true")  # the old rule: "false" is false, anything else is true
    title = Text(load_default="")
    section = Text(load_default="")
    contents = Text(multiline=True, required=True)


def _deps(request: web.Request) -> Projects:
    return request.config_dict[keys.PROJECTS]


async def first_thread(deps: Projects, user_id: int, project_id: int) -> int:
    """The project's first feedback thread: the old one-video-per-project review (members only)."""
    threads = await feedback.list_threads(deps, user_id, project_id, None, 1)
    if not threads:
        raise errors.NotFound("No feedback thread.")
    return threads[0].id


async def _all_comments(deps: Projects, user_id: int, feedback_id: int) -> list[Comment]:
    found: list[Comment] = []
    after: CommentCursor | None = None
    while True:
        page = await feedback.list_comments(deps, user_id, feedback_id, None, after, PAGE)
        found.extend(page)
        if len(page) < PAGE:
            return found
        last = page[-1]
        after = (last.at_ms, last.created_at, last.id)


@legacy("feedbacks/get", "/api/v1/projects/{project_id}/feedback", {errors.NotFound: (404, FORBIDDEN)})
async def get_feedback(request: web.Request) -> web.Response:
    """200 `{result: {...project, member_list, files, feedback: [comments newest first]}}`."""
    claims = await caller(request)
    deps = _deps(request)
    detail = await projects.get_project(deps, claims.user_id, path_int(request, "project_id"))
    comments = await _all_comments(deps, claims.user_id, await first_thread(deps, claims.user_id, detail.project.id))
    emails = {m.user_id: m.email for m in detail.members}
    body = shapes.project(detail, keyed=True)
    body["files"] = None  # the review video is served by /api/v1
    body["feedback"] = [
        shapes.feedback_comment(c, claims.user_id, emails)
        for c in sorted(comments, key=lambda c: (c.created_at, c.id), reverse=True)
    ]
    return json_response({"result": body})


@legacy("feedbacks/put", "/api/v1/projects/{project_id}/feedback", {errors.NotFound: (404, shapes.NO_PROJECT)})
async def put_feedback(request: web.Request) -> web.Response:
    """`{secret, title, section, contents}` comments on the project's first thread; a time section is a position."""
    claims = await caller(request)
    data = await read_body(request, CommentBody)
    deps = _deps(request)
    thread = await first_thread(deps, claims.user_id, path_int(request, "project_id"))
    at_ms = section_ms(data["section"])
    new = NewComment(
        feedback_id=thread,
        text=data["contents"],
        at_ms=at_ms,
        anonymous=data["secret"] != "false",
        title=data["title"],
        section="" if at_ms is not None else data["section"],
    )
    await feedback.add_comment(deps, claims.user_id, new)
    return json_response(SUCCESS)


@legacy("feedbacks/delete", "/api/v1/comments/{comment_id}", {errors.NotFound: (404, BAD_REQUEST)})
async def delete_comment(request: web.Request) -> web.Response:
    """DELETE /feedbacks/<comment_id>: the author's own comment."""
    claims = await caller(request)
    await feedback.delete_comment(_deps(request), claims.user_id, path_int(request, "comment_id"))
    return json_response(SUCCESS)
