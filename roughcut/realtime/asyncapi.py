"""The AsyncAPI 2.6 document of the Socket.IO API, built from the same marshmallow schemas the handlers use."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from roughcut import __version__
from roughcut.realtime.base import AuthNamespace, Payload
from roughcut.realtime.server import NAMESPACES

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


def asyncapi_document() -> dict[str, Any]:
    """Channels per namespace: `publish` is what clients emit (answered by the ack), `subscribe` what they get."""
    plugin = MarshmallowPlugin()
    spec = APISpec("roughcut", __version__, "3.1.0", plugins=[plugin])
    converter = plugin.converter
    assert converter is not None

    def payload(schema: Payload | None) -> dict[str, Any]:
        if schema is None:
            return {"type": "object"}
        if isinstance(schema, dict):
            return schema
        result: dict[str, Any] = converter.schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        return result

    channels: dict[str, Any] = {}
    for ns in NAMESPACES:
        inbound, outbound = _inbound(ns), ns.emits
        channels[ns.path] = {
            "description": "Connect with `auth: {token}`, or in cookie mode with the httpOnly access cookie "
            "(`withCredentials: true`) from a page of an allowed origin (CORS_ORIGINS or PUBLIC_URL's); refusals "
            "carry `data.code` token_missing, token_invalid, token_expired, or csrf_failed for the cookie from "
            "another origin or none. Every client event spends the socket's event budget (SOCKET_EVENT_BURST, "
            "SOCKET_EVENT_RATE): past it the ack is `rate_limited` with `details.retry_after`.",
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
    # Nested schemas (UserRef, ...) are written as `$ref: #/components/schemas/<name>`: the plugin registered them.
    schemas: dict[str, Any] = spec.to_dict().get("components", {}).get("schemas", {})
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "roughcut real-time API",
            "version": __version__,
            "description": "Socket.IO v4 (path /socket.io). Every client event is answered through its ack.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"schemas": schemas},
    }


def _inbound(ns: type[AuthNamespace]) -> dict[str, type[Schema] | None]:
    """The client events a namespace handles (its `on_*` handlers wrapped by `@event`), by name."""
    found: dict[str, type[Schema] | None] = {}
    for attr in sorted(dir(ns)):
        handler = getattr(ns, attr)
        if attr.startswith("on_") and hasattr(handler, "event_schema"):
            found[attr.removeprefix("on_")] = handler.event_schema
    return found
