"""The old chat socket `ws/chat/<project_id>/` (LEGACY.md §3), bridged onto the project's first thread's chat.

A frame `{"message": text, ...}` is stored through the chat use case (the group commit, as Socket.IO `/chat
send`) as the session's user: the frame's `email`, `nickname` and `rating` are ignored. Every message the
thread stores, from either socket, comes back as `{"result": {email, nickname, rating, message}}`. The
socket reads the thread's log after the last seq it sent, woken by the publisher after commit (chat news,
the waiters SSE streams use), so other nodes' messages arrive the same way, in seq order, and each read
checks membership again.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from roughcut import keys
from roughcut.domain import chat, errors, projects
from roughcut.domain.account_model import AccessClaims
from roughcut.domain.chat_model import ChatMessage, PostMessage
from roughcut.domain.ports import NewsWaiter
from roughcut.domain.project_model import Role
from roughcut.http.legacy.envelope import BAD_REQUEST, FORBIDDEN, Answers, mark, old_answer, old_error
from roughcut.http.legacy.feedback_routes import first_thread
from roughcut.http.legacy.session import caller, origin_allowed
from roughcut.http.legacy.shapes import OLD_RATING
from roughcut.http.routing import path_int
from roughcut.http.security import bearer
from roughcut.metrics import LEGACY_CALLS

ROUTE = "ws/chat"
SUCCESSOR = "/api/v1/feedback/{feedback_id}/messages"
LIVENESS_SECONDS = 1.0  # how often a quiet socket checks its session and node shutdown
HEARTBEAT_SECONDS = 30.0
FRAME_MAX = 64 * 1024  # chat.TEXT_MAX characters of UTF-8 and the old frame's other keys fit well under this
ANSWERS: Answers = {errors.NotFound: (403, FORBIDDEN)}
CLOSE_GONE = 4403  # a private close code: no longer a member, or the session ended


class _Members:
    """The project's members' old identity (e-mail, rating), re-read when an unknown author speaks."""

    def __init__(self, deps: projects.Projects, user_id: int, project_id: int) -> None:
        self._deps, self._user_id, self._project_id = deps, user_id, project_id
        self._known: dict[int, tuple[str, str]] = {}

    async def identity(self, user_id: int) -> tuple[str, str]:
        if user_id not in self._known:
            detail = await projects.get_project(self._deps, self._user_id, self._project_id)
            # The old client sent the owner as "manager" (LEGACY.md §3).
            self._known = {m.user_id: (m.email, OLD_RATING.get(m.role, "manager")) for m in detail.members}
        return self._known.get(user_id, ("", OLD_RATING[Role.MEMBER]))


async def _old_frame(message: ChatMessage, members: _Members) -> dict[str, Any]:
    author = message.author
    email, rating = await members.identity(author.id) if author else ("", OLD_RATING[Role.MEMBER])
    nickname = author.nickname if author else ""
    return {"result": {"email": email, "nickname": nickname, "rating": rating, "message": message.text}}


def _text(raw: str) -> str:
    """The frame's `message`; ValidationFailed for anything the old client would not have sent."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.ValidationFailed("Not JSON.") from None
    text = body.get("message") if isinstance(body, dict) else None
    if not isinstance(text, str):
        raise errors.ValidationFailed(fields={"message": ["Expected a string."]})
    return chat.check_text(text)


async def _authorise(request: web.Request) -> tuple[AccessClaims, int, int]:
    """The session's claims, the project and its first thread (members only)."""
    if bearer(request) is None and not origin_allowed(request):
        raise errors.CsrfFailed()  # a cookie rides along on any site's handshake: the old OriginValidator
    claims = await caller(request)
    project_id = path_int(request, "project_id")
    return claims, project_id, await first_thread(request.config_dict[keys.PROJECTS], claims.user_id, project_id)


async def chat_socket(request: web.Request) -> web.StreamResponse:
    """Upgrade a member's handshake; answer anyone else the old way (401 NEED_ACCESS_TOKEN, 403)."""
    LEGACY_CALLS.labels(ROUTE).inc()
    try:
        claims, project_id, fid = await _authorise(request)
    except errors.DomainError as exc:
        response = old_error(exc, ANSWERS)
        mark(request, response, "/api/v1/projects/{project_id}/feedback")
        return response
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS, max_msg_size=FRAME_MAX)
    mark(request, ws, SUCCESSOR.format(feedback_id=fid))
    await ws.prepare(request)
    deps = request.config_dict[keys.CHAT]
    async with request.config_dict[keys.CHAT_NEWS].listen(fid) as news:  # attended before the first read
        try:
            last_seq = (await chat.join(deps, claims.user_id, fid, None)).last_seq
        except errors.NotFound:
            await ws.close(code=CLOSE_GONE)
            return ws
        members = _Members(request.config_dict[keys.PROJECTS], claims.user_id, project_id)
        deliver = asyncio.create_task(_deliver(request, ws, news, claims, fid, last_seq, members))
        try:
            await _receive(ws, deps, claims.user_id, fid)
        finally:
            deliver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deliver
    return ws


async def _receive(ws: web.WebSocketResponse, deps: chat.Chat, user_id: int, fid: int) -> None:
    """Store each well-formed frame; answer a malformed one `{"message": ...}` and store nothing."""
    async for msg in ws:
        if msg.type is not WSMsgType.TEXT:
            await ws.send_json({"message": BAD_REQUEST})
            continue
        try:
            await chat.send(deps, PostMessage(user_id, fid, str(uuid.uuid4()), _text(msg.data)))
        except errors.NotFound:
            await ws.close(code=CLOSE_GONE, message=FORBIDDEN.encode())
        except errors.DomainError as exc:
            await ws.send_json({"message": old_answer(exc, ANSWERS)[1]})


async def _deliver(
    request: web.Request,
    ws: web.WebSocketResponse,
    news: NewsWaiter,
    claims: AccessClaims,
    fid: int,
    last_seq: int,
    members: _Members,
) -> None:
    """Send what the log holds after `last_seq`, then wait for news; end with the session or membership."""
    deps, revoked = request.config_dict[keys.CHAT], request.config_dict[keys.ACCESS].revoked
    while not ws.closed:
        try:
            while True:
                found = await chat.history(deps, claims.user_id, fid, None, last_seq, chat.HISTORY_MAX)
                for message in found:
                    await ws.send_json(await _old_frame(message, members))
                    last_seq = message.seq
                if len(found) < chat.HISTORY_MAX:
                    break
        except (errors.NotFound, errors.PermissionDenied):
            await ws.close(code=CLOSE_GONE, message=FORBIDDEN.encode())
            return
        woke = False
        while not woke:
            if news.closed or claims.session_id in revoked or ws.closed:
                await ws.close()
                return
            try:
                async with asyncio.timeout(LIVENESS_SECONDS):
                    await news.wait()
                woke = True
            except TimeoutError:
                pass
