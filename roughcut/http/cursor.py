"""Opaque cursors for keyset pagination: base64url of a small JSON list.

The list starts with the cursor's scope: the list it was made for and, where a caller picks the order,
that order (`projects:-updated_at`). Its sort values mean nothing under another order (a name is no
timestamp; the same id sits elsewhere), so a cursor is refused anywhere but where it was made.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Any

import orjson

from roughcut.domain import errors
from roughcut.wire.fields import ID_MAX

# A `name` cursor holds a project name: 100 characters of up to 4 bytes in UTF-8, a third more in base64.
MAX_CURSOR = 1024
FORGED = {"cursor": ["Not a cursor from this API."]}


def encode(scope: str, *values: Any) -> str:
    """A cursor of `scope` that resumes after the given sort values."""
    raw = orjson.dumps([scope, *values], option=orjson.OPT_UTC_Z)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, scope: str, size: int) -> list[Any]:
    """The `size` values of a cursor made by `encode` for `scope`; anything else is a validation error."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != size + 1:
            raise ValueError
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        raise errors.ValidationFailed(fields=FORGED) from None
    if values[0] != scope:
        raise errors.ValidationFailed(
            fields={"cursor": ["Made for another list or sort order; start again without a cursor."]}
        )
    return values[1:]


def encode_day(scope: str, day: date, row_id: int) -> str:
    """A cursor after (date, id): memo lists run in date order."""
    return encode(scope, day.isoformat(), row_id)


def decode_day(raw: str | None, scope: str) -> tuple[date, int] | None:
    """The (date, id) of a cursor made by `encode_day`; None without one; a forged one is a 422."""
    if raw is None:
        return None
    day, row_id = decode(raw, scope, 2)
    try:
        if not isinstance(day, str) or not isinstance(row_id, int):
            raise ValueError
        return date.fromisoformat(day), row_id
    except ValueError:
        raise errors.ValidationFailed(fields=FORGED) from None


def _row_id(value: object) -> int:
    # A doctored cursor must fail validation, not overflow the database's BIGINT.
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= ID_MAX:
        raise ValueError
    return value


def decode_id(raw: str | None, scope: str) -> int | None:
    """The row id of a cursor made by `encode(scope, id)`; None without one; a forged one is a 422."""
    if raw is None:
        return None
    (row_id,) = decode(raw, scope, 1)
    try:
        return _row_id(row_id)
    except ValueError:
        raise errors.ValidationFailed(fields=FORGED) from None


def decode_time_id(raw: str | None, scope: str) -> tuple[datetime, int] | None:
    """The (time, id) of a cursor made by `encode(scope, time, id)`; None without one; a forged one is a 422."""
    if raw is None:
        return None
    at, row_id = decode(raw, scope, 2)
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
        if when is None or when.tzinfo is None:
            raise ValueError
        return when, _row_id(row_id)
    except ValueError:
        raise errors.ValidationFailed(fields=FORGED) from None
