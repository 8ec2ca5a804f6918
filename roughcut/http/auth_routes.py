"""REST: /auth — e-mail codes, signup, login, refresh, logout, password reset, social login, sessions."""

from __future__ import annotations

from aiohttp import web

from roughcut import keys
from roughcut.domain import accounts, errors, sessions
from roughcut.http import auth_schemas as s
from roughcut.http import cursor
from roughcut.http.common_schemas import PageQuery
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import (
    REFRESH_COOKIE,
    authenticate,
    check_csrf,
    clear_cookies,
    device,
    limit,
    token_response,
)

routes = ApiRoutes()
SESSION = s.SessionSchema(exclude=("current",))
TAGS = ("auth",)
SESSION_CURSOR = "sessions"


@routes.route(
    "POST",
    "/auth/email-codes",
    op="sendEmailCode",
    summary="Mail a 6-digit code",
    tags=TAGS,
    body=s.EmailCodeRequest,
    responses={202: s.EmailCodeSent},
    errors=(429,),
    auth=False,
)
async def send_code(request: web.Request) -> web.Response:
    data = await read_body(request, s.EmailCodeRequest)
    await limit(request, "email_code", request.config_dict[keys.SETTINGS].rate_email_code)
    expires_in = await accounts.send_email_code(request.config_dict[keys.ACCOUNTS], data["email"], data["purpose"])
    return json_response({"expires_in": expires_in}, 202)


@routes.route(
    "POST",
    "/auth/email-codes/verify",
    op="verifyEmailCode",
    summary="Trade a code for a token",
    tags=TAGS,
    body=s.VerifyCodeRequest,
    responses={200: s.VerificationTokenSchema},
    errors=(400, 429),
    auth=False,
)
async def verify_code(request: web.Request) -> web.Response:
    data = await read_body(request, s.VerifyCodeRequest)
    await limit(request, "verify", request.config_dict[keys.SETTINGS].rate_verify, data["email"])
    token = await accounts.verify_email_code(
        request.config_dict[keys.ACCOUNTS], data["email"], data["purpose"], data["code"]
    )
    return json_response({"verification_token": token})


@routes.route(
    "POST",
    "/auth/signup",
    op="signup",
    summary="Create an account",
    tags=TAGS,
    body=s.SignupRequest,
    responses={201: s.SIGNED_IN},
    errors=(400, 409, 429),
    auth=False,
)
async def signup(request: web.Request) -> web.Response:
    data = await read_body(request, s.SignupRequest)
    await limit(request, "signup", request.config_dict[keys.SETTINGS].rate_signup)
    pair = await accounts.signup(
        request.config_dict[keys.ACCOUNTS],
        data["email"],
        data["password"],
        data["nickname"],
        data["verification_token"],
        device(request),
    )
    return token_response(request, pair, 201)


@routes.route(
    "POST",
    "/auth/login",
    op="login",
    summary="Log in with e-mail and password",
    tags=TAGS,
    body=s.LoginRequest,
    query=s.CookieModeQuery,
    responses={200: s.SIGNED_IN},
    errors=(401, 429),
    auth=False,
)
async def login(request: web.Request) -> web.Response:
    data = await read_body(request, s.LoginRequest)
    settings = request.config_dict[keys.SETTINGS]
    # Per client first, across addresses (password spraying): a client it stops spends no address's budget.
    await limit(request, "login_ip", settings.rate_login_ip)
    await limit(request, "login", settings.rate_login, data["email"])
    pair = await accounts.login(request.config_dict[keys.ACCOUNTS], data["email"], data["password"], device(request))
    return token_response(request, pair)


@routes.route(
    "POST",
    "/auth/refresh",
    op="refreshTokens",
    summary="Rotate the refresh token",
    tags=TAGS,
    body=s.RefreshRequest,
    responses={200: s.SIGNED_IN},
    errors=(401, 403, 429),
    auth=False,
)
async def refresh(request: web.Request) -> web.Response:
    data = await read_body(request, s.RefreshRequest)
    await limit(request, "refresh", request.config_dict[keys.SETTINGS].rate_refresh)
    token = data.get("refresh_token")
    from_cookie = token is None
    if token is None:
        token = request.cookies.get(REFRESH_COOKIE)
        if token is None:
            raise errors.TokenMissing("Send refresh_token or the refresh cookie.")
        check_csrf(request)
    pair = await sessions.refresh(request.config_dict[keys.ACCOUNTS], token)
    # A caller who refreshed from the cookie stays in cookie mode.
    return token_response(request, pair, cookies=True if from_cookie else None)


@routes.route(
    "POST", "/auth/logout", op="logout", summary="End this session", tags=TAGS, responses={204: None}, errors=(403,)
)
async def logout(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await sessions.logout(request.config_dict[keys.ACCOUNTS], claims.user_id, claims.session_id)
    response = web.Response(status=204)
    clear_cookies(response)
    return response


@routes.route(
    "POST",
    "/auth/password-reset",
    op="resetPassword",
    summary="Set a new password with a code",
    tags=TAGS,
    body=s.PasswordResetRequest,
    responses={204: None},
    errors=(400,),
    auth=False,
)
async def password_reset(request: web.Request) -> web.Response:
    data = await read_body(request, s.PasswordResetRequest)
    await accounts.reset_password(
        request.config_dict[keys.ACCOUNTS], data["email"], data["verification_token"], data["new_password"]
    )
    return web.Response(status=204)


@routes.route(
    "POST",
    "/auth/social/{provider}",
    op="socialLogin",
    summary="Log in with google, kakao or naver",
    tags=TAGS,
    body=s.SocialLoginRequest,
    query=s.CookieModeQuery,
    responses={200: s.SIGNED_IN, 201: s.SIGNED_IN},
    errors=(400, 403, 404, 429, 502),
    auth=False,
)
async def social(request: web.Request) -> web.Response:
    data = await read_body(request, s.SocialLoginRequest)
    await limit(request, "login", request.config_dict[keys.SETTINGS].rate_login, "social")
    pair, created = await accounts.social_login(
        request.config_dict[keys.ACCOUNTS], request.match_info["provider"], device(request), **data
    )
    return token_response(request, pair, 201 if created else 200)


@routes.route(
    "GET",
    "/auth/sessions",
    op="listSessions",
    summary="The caller's live sessions",
    tags=TAGS,
    query=PageQuery,
    responses={200: s.SessionList},
)
async def list_sessions(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, PageQuery)
    before, limit = cursor.decode_id(q.get("cursor"), SESSION_CURSOR), q["limit"]
    alive = await sessions.list_sessions(request.config_dict[keys.ACCOUNTS], claims.user_id, before, limit + 1)
    page, more = alive[:limit], len(alive) > limit
    items = [{**SESSION.dump(x), "current": x.id == claims.session_id} for x in page]
    return json_response({"items": items, "next_cursor": cursor.encode(SESSION_CURSOR, page[-1].id) if more else None})


@routes.route(
    "DELETE",
    "/auth/sessions/{session_id}",
    op="revokeSession",
    summary="Revoke one session",
    tags=TAGS,
    responses={204: None},
    errors=(403, 404),
)
async def revoke_session(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await sessions.revoke_session(request.config_dict[keys.ACCOUNTS], claims.user_id, path_int(request, "session_id"))
    return web.Response(status=204)
