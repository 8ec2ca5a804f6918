"""Mount the old endpoints: each at its [S] path and its [V1H] `/api` twin, with and without a trailing slash."""

from __future__ import annotations

import aiohttp_cors
from aiohttp import web

from roughcut.http.legacy import (
    account_routes,
    chat_socket,
    feedback_routes,
    memo_routes,
    project_routes,
    signup_routes,
)
from roughcut.http.legacy.envelope import Handler

OLD_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/users/login", account_routes.login),
    ("POST", "/users/send_authnumber/{types}", signup_routes.send_authnumber),
    ("POST", "/users/signup_emailauth/{types}", signup_routes.signup_emailauth),
    ("POST", "/users/signup", signup_routes.signup),
    ("POST", "/users/password_reset", signup_routes.password_reset),
    ("POST", "/users/login/kakao", signup_routes.social_login("kakao")),
    ("POST", "/users/login/naver", signup_routes.social_login("naver")),
    ("POST", "/users/login/google", signup_routes.social_login("google")),
    ("GET", "/onlines", account_routes.onlines),
    ("GET", "/projects/project_list", project_routes.project_list),
    ("POST", "/projects/create", project_routes.create),
    ("GET", "/projects/detail/{project_id}", project_routes.detail),
    ("POST", "/projects/date_update/{project_id}", project_routes.date_update),
    ("POST", "/projects/invite_project/{project_id}", project_routes.invite_project),
    ("GET", "/feedbacks/{project_id}", feedback_routes.get_feedback),
    ("PUT", "/feedbacks/{project_id}", feedback_routes.put_feedback),
    ("DELETE", "/feedbacks/{comment_id}", feedback_routes.delete_comment),
    ("POST", "/projects/detail/{project_id}", project_routes.update),
    ("DELETE", "/projects/detail/{project_id}", project_routes.delete),
    ("DELETE", "/projects/invite_project/{project_id}", project_routes.cancel_invite),
    ("POST", "/users/memo", memo_routes.add_user_memo),
    ("DELETE", "/users/memo/{memo_id}", memo_routes.delete_user_memo),
    ("POST", "/projects/memo/{project_id}", memo_routes.add_project_memo),
    ("DELETE", "/projects/memo/{project_id}", memo_routes.delete_project_memo),
)
PREFIXES = ("", "/api")  # [V1H] mounts every app twice
CHAT_SOCKET = "/ws/chat/{project_id}"  # Channels' route, never under /api; the client adds the slash


def add_legacy_routes(app: web.Application, cors_origins: tuple[str, ...]) -> None:
    """Register every old path variant on the root app (LEGACY_API switches this off).

    The old app calls from its own origin with credentials (axios `withCredentials`), so its origin must be
    in CORS_ORIGINS; the same list is what a cookie-carried unsafe call's Origin is checked against.
    """
    added = [
        app.router.add_route(method, prefix + variant, handler)
        for method, path, handler in OLD_ROUTES
        for prefix in PREFIXES
        for variant in (path, path + "/")
    ]
    for variant in (CHAT_SOCKET, CHAT_SOCKET + "/"):
        app.router.add_get(variant, chat_socket.chat_socket)
    if cors_origins:
        options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
            allow_credentials=True, allow_headers="*", max_age=600
        )
        cors = aiohttp_cors.setup(app, defaults=dict.fromkeys(cors_origins, options))
        for route in added:
            cors.add(route)
