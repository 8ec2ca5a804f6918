"""The AsyncAPI 2.6 document of the Socket.IO API, built from the same marshmallow schemas the handlers use."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from roughcut import __version__
from roughcut.http.chat_routes import MessageSchema
from roughcut.http.project_schemas import EventSchema
from roughcut.realtime import chat, projects
from roughcut.realtime.base import ReauthSchema

ACK = {
    "oneOf": [
        {"type": "object", "required": ["ok", "data"], "properties": {"ok": {"const": True}, "data": {}}},
        {
            "type": "object",
            "required": ["ok", "error"],
            "properties": {
                "ok": {"const": False},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
                },
            },
        },
    ]
}

# namespace -> (client->server events with their schema, server->client events with a payload schema)
_CHANNELS: dict[str, tuple[dict[str, type[Schema] | None], dict[str, dict[str, Any] | type[Schema]]]] = {
    "/": (
        {"reauth": ReauthSchema},
        {
            "session_revoked": {
                "type": "object",
                "properties": {"session_id": {"type": "integer"}, "reason": {"type": "string"}},
            },
            "auth_expired": {"type": "object", "properties": {"code": {"const": "token_expired"}}},
        },
    ),
    "/projects": (
        {"subscribe": projects.SubscribeSchema, "unsubscribe": projects.UnsubscribeSchema, "reauth": ReauthSchema},
        {"event": EventSchema},
    ),
    "/chat": (
        {
            "join": chat.JoinSchema,
            "leave": chat.LeaveSchema,
            "send": chat.SendSchema,
            "typing": chat.TypingSchema,
            "read": chat.ReadSchema,
            "reauth": ReauthSchema,
        },
        {
            "message": MessageSchema,
            "typing": {
                "type": "object",
                "properties": {
                    "feedback_id": {"type": "integer"},
                    "user_id": {"type": "integer"},
                    "typing": {"type": "boolean"},
                },
            },
            "read": {
                "type": "object",
                "properties": {
                    "feedback_id": {"type": "integer"},
                    "user_id": {"type": "integer"},
                    "seq": {"type": "integer"},
                },
            },
        },
    ),
}


def asyncapi_document() -> dict[str, Any]:
    """Channels per namespace: `publish` is what clients emit (answered by the ack), `subscribe` what they get."""
    plugin = MarshmallowPlugin()
    plugin.init_spec(APISpec("roughcut", __version__, "3.1.0", plugins=[plugin]))
    converter = plugin.converter
    assert converter is not None

    def payload(schema: dict[str, Any] | type[Schema] | None) -> dict[str, Any]:
        if schema is None:
            return {"type": "object"}
        if isinstance(schema, dict):
            return schema
        result: dict[str, Any] = converter.schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        return result

    channels: dict[str, Any] = {}
    for namespace, (inbound, outbound) in _CHANNELS.items():
        channels[namespace] = {
            "description": "Connect with `auth: {token}`; refusals carry `data.code` token_missing, "
            "token_invalid or token_expired.",
            "publish": {
                "message": {
                    "oneOf": [
                        {"name": name, "payload": payload(schema), "x-ack": ACK} for name, schema in inbound.items()
                    ]
                }
            },
            "subscribe": {
                "message": {"oneOf": [{"name": name, "payload": payload(schema)} for name, schema in outbound.items()]}
            },
        }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "roughcut real-time API",
            "version": __version__,
            "description": "Socket.IO v4 (path /socket.io). Every client event is answered through its ack.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
    }
