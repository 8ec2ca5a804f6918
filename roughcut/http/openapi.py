"""The OpenAPI 3.1 document, built from the registered operations and their marshmallow schemas."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_instance
from marshmallow import Schema

from roughcut import __version__
from roughcut.domain.project_model import StageName
from roughcut.http.common_schemas import ProblemSchema
from roughcut.http.routing import MAX_ID, Operation
from roughcut.security.social import SUPPORTED_PROVIDERS

_PARAM = re.compile(r"{(\w+)}")
_DESCRIPTIONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    304: "Not Modified: the If-None-Match header holds the current ETag",
    400: "Bad request (code_invalid, verification_token_invalid, social_login_failed)",
    401: "Not authenticated (token_missing, token_invalid, token_expired, session_revoked, invalid_credentials, ...)",
    403: "Forbidden (permission_denied; csrf_failed for a cookie-mode call without the X-CSRF-Token header)",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    422: "Validation failed",
    429: "Too many requests (rate_limited; see Retry-After). Every response says where the caller stands "
    "against the API-wide limits in RateLimit and RateLimit-Policy (IETF httpapi draft structured fields)",
    502: "Provider unavailable",
    503: "Unavailable (transaction_conflict, service_unavailable): nothing was changed; retry",
}
# Path parameters: every `*_id` is a 64-bit id; the others are listed here. A path parameter that is neither
# fails the build, so each one is stated.
_ID_PARAMETER: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "stage": {"type": "string", "enum": [s.value for s in StageName]},
    "provider": {"type": "string", "enum": sorted(SUPPORTED_PROVIDERS)},
    "token": {"type": "string", "minLength": 1, "description": "The token of an invitation link."},
}
# A marshmallow Schema may state what its fields cannot (cross-field rules) as JSON Schema in this class attribute.
EXTRA = "json_schema_extra"


class _Plugin(MarshmallowPlugin):
    """apispec's marshmallow plugin, plus each schema's own JSON Schema (`json_schema_extra`)."""

    def schema_helper(self, name: str, definition: dict[Any, Any], **kwargs: Any) -> dict[Any, Any] | None:  # type: ignore[override]
        result: dict[str, Any] | None = super().schema_helper(name, definition, **kwargs)  # type: ignore[no-untyped-call]
        schema = kwargs.get("schema")
        extra = getattr(type(resolve_schema_instance(schema)), EXTRA, None) if schema is not None else None
        if result is not None and extra:
            _merge(result, extra)
        if result is not None:
            _describe_defaults(result)
        return result


def _describe_defaults(schema: dict[str, Any]) -> None:
    """A property the server fills in when it is left out says so in words, not as `default`.

    Only request fields have defaults (marshmallow's load_default), and generators such as openapi-typescript
    type a component property with a `default` as always present, which would make the field required.
    """
    for prop in schema.get("properties", {}).values():
        if "default" in prop:
            value = json.dumps(prop.pop("default"))
            prop["description"] = f"{prop.get('description', '')} Optional; left out, it is {value}.".strip()


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    """Deep-merge `extra` into `into`: nested objects merge key by key, anything else is replaced."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


def _path_parameter(name: str) -> dict[str, Any]:
    if name.endswith("_id"):
        return dict(_ID_PARAMETER)
    if name not in _PATH_PARAMETERS:
        raise ValueError(f"undocumented path parameter {name}")
    return dict(_PATH_PARAMETERS[name])


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
        plugins=[_Plugin(schema_name_resolver=_resolver)],
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
        {"name": name, "in": "path", "required": True, "schema": _path_parameter(name)}
        for name in _PARAM.findall(op.path)
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
        if isinstance(schema, str):  # a media type of its own, e.g. text/event-stream
            entry["content"] = {schema: {"schema": {"type": "string"}}}
        elif isinstance(schema, tuple):
            entry["content"] = {"application/json": {"schema": {"anyOf": list(schema)}}}
        elif schema is not None:
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
