"""The OpenAPI 3.1 document, built from the registered operations and their marshmallow schemas."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from roughcut import __version__
from roughcut.http.common_schemas import ProblemSchema
from roughcut.http.routing import Operation

_PARAM = re.compile(r"{(\w+)}")
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Validation failed",
    429: "Too many requests",
    502: "Provider unavailable",
    503: "Unavailable",
}


def _schema_name(schema: type[Schema]) -> str:
    name = schema.__name__
    return name[: -len("Schema")] if name.endswith("Schema") and name != "Schema" else name


def _resolver(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return _schema_name(cls)


def build_spec(operations: Iterable[Operation], server_url: str = "/api/v1") -> dict[str, Any]:
    """Assemble the document; every operation has a unique operationId and Problem error responses."""
    spec = APISpec(
        title="roughcut API",
        version=__version__,
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin(schema_name_resolver=_resolver)],
        info={
            "description": "Real-time-first backend for video-production collaboration. Errors are RFC 9457 "
            "problem+json with a stable `code`."
        },
        servers=[{"url": server_url}],
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    spec.components.security_scheme(
        "cookie",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "__Host-access_token",
            "description": "Cookie mode; unsafe methods also need the X-CSRF-Token header.",
        },
    )
    spec.components.schema("Problem", schema=ProblemSchema)
    seen: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.operation_id in seen:
            raise ValueError(f"duplicate operationId {op.operation_id}")
        seen.add(op.operation_id)
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    for path, ops in sorted(paths.items()):
        spec.path(path=path, operations=ops)
    return spec.to_dict()


def _operation(op: Operation) -> dict[str, Any]:
    doc: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": list(op.tags)}
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in _PARAM.findall(op.path)
    ]
    if op.query is not None:
        params.append({"in": "query", "schema": op.query})
    if params:
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.body}}}
    responses: dict[str, Any] = {}
    for status, schema in op.responses.items():
        entry: dict[str, Any] = {"description": _DESCRIPTIONS.get(status, "OK")}
        if schema is not None:
            entry["content"] = {"application/json": {"schema": schema}}
        responses[str(status)] = entry
    for status in op.errors:
        responses[str(status)] = {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    doc["responses"] = responses
    doc["security"] = [{"bearer": []}, {"cookie": []}] if op.auth else []
    return doc
