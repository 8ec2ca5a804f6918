"""Old account endpoints: POST /users/login (the cookie) and GET /onlines/ (e-learning links)."""

from __future__ import annotations

from aiohttp import web

from roughcut import keys
from roughcut.domain import accounts, errors, learning
from roughcut.http.auth_schemas import LoginRequest
from roughcut.http.jsonutil import json_response
from roughcut.http.legacy import shapes
from roughcut.http.legacy.envelope import legacy
from roughcut.http.legacy.signup_routes import signed_in
from roughcut.http.routing import read_body
from roughcut.http.security import device, limit

NO_USER = "존재하지 않는 사용자입니다."
ANONYMOUS = 0  # the old link list is public; the use case needs a caller only to manage links


@legacy("users/login", "/api/v1/auth/login", {errors.InvalidCredentials: (403, NO_USER)})
async def login(request: web.Request) -> web.Response:
    """201 `{message, vridge_session, user}` and the session cookies; the same limits as /auth/login."""
    data = await read_body(request, LoginRequest)
    settings = request.config_dict[keys.SETTINGS]
    await limit(request, "login_ip", settings.rate_login_ip)
    await limit(request, "login", settings.rate_login, data["email"])
    pair = await accounts.login(request.config_dict[keys.ACCOUNTS], data["email"], data["password"], device(request))
    return signed_in(request, pair, 201)


@legacy("onlines", "/api/v1/learning-links")
async def onlines(request: web.Request) -> web.Response:
    """200 `{result: [{link}]}`, newest first."""
    links = await learning.list_learning_links(request.config_dict[keys.ACCOUNTS], ANONYMOUS)
    return json_response({"result": [shapes.link(x) for x in links]})
