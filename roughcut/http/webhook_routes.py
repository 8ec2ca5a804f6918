"""REST: revalidation webhook endpoints and dead deliveries, for administrators (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from roughcut import keys
from roughcut.domain import webhooks
from roughcut.domain.webhook_model import WebhookEndpoint
from roughcut.domain.webhooks import DeadDelivery, Webhooks
from roughcut.http import webhook_schemas as s
from roughcut.http.jsonutil import json_response
from roughcut.http.routing import ApiRoutes, path_int, read_body, read_query
from roughcut.http.security import authenticate

routes = ApiRoutes()
TAGS = ("admin",)


def _deps(request: web.Request) -> Webhooks:
    return request.config_dict[keys.WEBHOOKS]


def _endpoint(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    schema = s.WebhookEndpointWithSecret() if secret else s.WebhookEndpointSchema()
    body: dict[str, Any] = schema.dump(endpoint)
    return body


def _dead(dead: DeadDelivery) -> dict[str, Any]:
    job = dead.job
    body: dict[str, Any] = s.DeadDeliverySchema().dump(
        {
            "id": job.id,
            "webhook_id": dead.body.get("id", ""),
            "endpoint": dead.endpoint,
            "event": dead.body.get("event", ""),
            "tags": dead.body.get("tags", []),
            "attempts": job.attempts,
            "failed_at": job.finished_at,
            "error": dead.error,
        }
    )
    return body


@routes.route(
    "GET",
    "/admin/webhooks",
    op="adminListWebhooks",
    summary="Revalidation webhook endpoints registered through the API (administrators)",
    tags=TAGS,
    responses={200: s.WebhookEndpointList},
    errors=(403,),
)
async def list_endpoints(request: web.Request) -> web.Response:
    claims = authenticate(request)
    found = await webhooks.list_endpoints(_deps(request), claims.user_id)
    return json_response({"items": [_endpoint(e) for e in found]})


@routes.route(
    "POST",
    "/admin/webhooks",
    op="adminCreateWebhook",
    summary="Register a revalidation webhook endpoint; answers its signing secret, this once (administrators)",
    tags=TAGS,
    body=s.WebhookEndpointCreate,
    responses={201: s.WebhookEndpointWithSecret},
)
async def create_endpoint(request: web.Request) -> web.Response:
    claims = authenticate(request)
    data = await read_body(request, s.WebhookEndpointCreate)
    endpoint = await webhooks.add_endpoint(_deps(request), claims.user_id, data["url"])
    return json_response(_endpoint(endpoint, secret=True), 201)


@routes.route(
    "POST",
    "/admin/webhooks/{webhook_id}/rotate-secret",
    op="adminRotateWebhookSecret",
    summary="Give an endpoint a new signing secret, at once, and enable it again (administrators)",
    tags=TAGS,
    responses={200: s.WebhookEndpointWithSecret},
    errors=(404,),
)
async def rotate_secret(request: web.Request) -> web.Response:
    claims = authenticate(request)
    endpoint = await webhooks.rotate_secret(_deps(request), claims.user_id, path_int(request, "webhook_id"))
    return json_response(_endpoint(endpoint, secret=True))


@routes.route(
    "DELETE",
    "/admin/webhooks/{webhook_id}",
    op="adminDeleteWebhook",
    summary="Remove a webhook endpoint; its pending deliveries end unsent (administrators)",
    tags=TAGS,
    responses={204: None},
    errors=(404,),
)
async def delete_endpoint(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await webhooks.delete_endpoint(_deps(request), claims.user_id, path_int(request, "webhook_id"))
    return web.Response(status=204)


@routes.route(
    "GET",
    "/admin/webhook-deliveries/dead",
    op="adminListDeadWebhookDeliveries",
    summary="Deliveries that failed for WEBHOOK_RETRY_FOR, newest first (administrators)",
    tags=TAGS,
    query=s.DeadDeliveryQuery,
    responses={200: s.DeadDeliveryList},
    errors=(403,),
)
async def list_dead(request: web.Request) -> web.Response:
    claims = authenticate(request)
    q = read_query(request, s.DeadDeliveryQuery)
    found = await webhooks.dead_deliveries(_deps(request), claims.user_id, q["limit"])
    return json_response({"items": [_dead(d) for d in found]})


@routes.route(
    "POST",
    "/admin/webhook-deliveries/{delivery_id}/replay",
    op="adminReplayWebhookDelivery",
    summary="Send a dead delivery again, with the same webhook-id and fresh retries (administrators)",
    tags=TAGS,
    responses={202: None},
    errors=(404,),
)
async def replay(request: web.Request) -> web.Response:
    claims = authenticate(request)
    await webhooks.replay_delivery(_deps(request), claims.user_id, path_int(request, "delivery_id"))
    return web.Response(status=202)
