"""Stream tickets: how a bearer-mode browser opens an EventSource, which cannot send `Authorization`.

The page POSTs (with its bearer token) for a ticket, then opens `…/events/stream?ticket=…`. A ticket is
random, bound to one project and the caller's session, single-use and short-lived, so the access token
never appears in a URL; the access log writes paths without their query string, so the ticket is not
logged either.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict

from aiohttp import web
from marshmallow import Schema, fields

from roughcut import keys
from roughcut.domain import errors
from roughcut.domain.account_model import AccessClaims
from roughcut.wire.json import dumps

TICKET_TTL_SECONDS = 30  # time to open the EventSource; a leaked ticket is soon worthless (and used once)
TICKET_BYTES = 32


class StreamTicketSchema(Schema):
    ticket = fields.Str(
        required=True, metadata={"description": "Send once, within `expires_in` seconds, as `?ticket=` to the stream."}
    )
    expires_in = fields.Int(required=True, metadata={"description": "Seconds the ticket stays valid."})


async def issue(request: web.Request, claims: AccessClaims, project_id: int) -> dict[str, object]:
    """A new ticket for the caller's session on one project's stream."""
    ticket = secrets.token_urlsafe(TICKET_BYTES)
    grant = dumps({"project_id": project_id, "claims": asdict(claims)})
    await request.config_dict[keys.TICKETS].put(ticket, grant, TICKET_TTL_SECONDS)
    return {"ticket": ticket, "expires_in": TICKET_TTL_SECONDS}


async def redeem(request: web.Request, ticket: str, project_id: int) -> AccessClaims:
    """The claims a ticket stands for, once; token_invalid when it is unknown, used, expired or for another project."""
    grant = await request.config_dict[keys.TICKETS].take(ticket)
    if grant is None:
        raise errors.TokenInvalid("The stream ticket is unknown, used or expired.")
    held = json.loads(grant)
    if held["project_id"] != project_id:
        raise errors.TokenInvalid("The stream ticket is for another project.")
    claims = AccessClaims(**held["claims"])
    if claims.session_id in request.config_dict[keys.ACCESS].revoked:
        raise errors.SessionRevoked()
    if claims.expires_at <= time.time():
        raise errors.TokenExpired()
    return claims
