"""Opaque cursors for keyset pagination: base64url of a small JSON list."""

from __future__ import annotations

import base64
import binascii
from datetime import date
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


def encode_day(day: date, row_id: int) -> str:
    """A cursor after (date, id): memo lists run in date order."""
    return encode(day.isoformat(), row_id)


def decode_day(raw: str | None) -> tuple[date, int] | None:
    """The (date, id) of a cursor made by `encode_day`; None without one; a forged one is a 422."""
    if raw is None:
        return None
    day, row_id = decode(raw, 2)
    try:
        if not isinstance(day, str) or not isinstance(row_id, int):
            raise ValueError
        return date.fromisoformat(day), row_id
    except ValueError:
        raise errors.ValidationFailed(fields={"cursor": ["Not a cursor from this API."]}) from None
