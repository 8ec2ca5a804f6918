"""Opaque cursors for keyset pagination: base64url of a small JSON list."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from roughcut.domain import errors

MAX_CURSOR = 512


def encode(*values: Any) -> str:
    """A cursor that resumes after the given sort values."""
    raw = orjson.dumps(list(values), option=orjson.OPT_UTC_Z)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[Any]:
    """The values of a cursor made by `encode`; anything else is a validation error."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != size:
            raise ValueError
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise errors.ValidationFailed(fields={"cursor": ["Not a cursor from this API."]}) from None
    return values
