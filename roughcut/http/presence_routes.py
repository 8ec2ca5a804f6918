"""REST: who is online or away in a project, or watching a thread, now — for the page's first render (then
`/presence` keeps it live)."""

from __future__ import annotations

from aiohttp import web

from roughcut import keys
from roughcut.domain import presence
from roughcut.http.jsonutil import json_response
from roughcut.http.presence_schemas import PresenceSchema, WatchingSchema
from roughcut.http.routing import ApiRoutes, path_int
from roughcut.http.security import authenticate

routes = ApiRoutes()


@routes.route(
    "GET",
    "/projects/{project_id}/presence",
    op="getPresence",
    summary="Members online or away in a project now",
    tags=("presence",),
    responses={200: PresenceSchema},
    errors=(404,),
)
async def get_presence(request: web.Request) -> web.Response:
    claims = authenticate(request)
    project_id = path_int(request, "project_id")
    online = await presence.online(request.config_dict[keys.PRESENCE], claims.user_id, project_id)
    return json_response({"project_id": project_id, "online": [u.wire() for u in online]})


@routes.route(
    "GET",
    "/feedback/{feedback_id}/presence",
    op="getWatching",
    summary="Members watching a feedback thread (a review) now",
    tags=("presence",),
    responses={200: WatchingSchema},
    errors=(404,),
)
async def get_watching(request: web.Request) -> web.Response:
    claims = authenticate(request)
    feedback_id = path_int(request, "feedback_id")
    watching = await presence.online(request.config_dict[keys.WATCHING], claims.user_id, feedback_id)
    return json_response({"feedback_id": feedback_id, "watching": [u.wire() for u in watching]})
