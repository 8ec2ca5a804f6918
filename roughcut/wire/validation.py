"""The one marshmallow → `ValidationFailed` mapping: both edges report field errors as `{field: [str, ...]}`."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from roughcut.domain import errors


def load(schema: Schema, data: Any, *, message: str | None = None) -> dict[str, Any]:
    """Validate `data`; invalid input raises ValidationFailed with flat field errors."""
    try:
        result: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        fields = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise errors.ValidationFailed(message, fields={k: flatten(v) for k, v in fields.items()}) from None
    return result


def flatten(value: Any) -> list[str]:
    """One field's marshmallow messages as a list of strings; nested ones read `key: message`."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in flatten(v)]
    return [str(value)]
