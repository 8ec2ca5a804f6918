"""Marshmallow fields shared by the schemas."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from marshmallow import fields, validate

from roughcut.domain import errors
from roughcut.domain.accounts import EMAIL_MAX, INVALID_EMAIL, normalize_email


class Timestamp(fields.DateTime):
    """ISO 8601 UTC with `Z`, as the API contract says."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Control characters (Unicode category Cc). PostgreSQL refuses U+0000 in text while SQLite stores it, and the
# others have no business in names or titles: the edge refuses them all, so both databases answer the same 422.
# Written as regex class ranges that mean the same in Python and in ECMA-262 (JSON Schema `pattern`).
SINGLE_LINE_CONTROL = r"\x00-\x1f\x7f-\x9f"
MULTI_LINE_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # all of them but tab, LF and CR
_REFUSED = {False: re.compile(f"[{SINGLE_LINE_CONTROL}]"), True: re.compile(f"[{MULTI_LINE_CONTROL}]")}
CONTROL_MESSAGE = "Control characters are not allowed."


def _has_pattern(field: fields.Field[Any]) -> bool:
    return any(isinstance(getattr(v, "regex", None), re.Pattern) for v in field.validators)


class Text(fields.String):
    """A string without control characters; a `multiline` one may hold tab, LF and CR. Every text input uses it."""

    default_error_messages = {"control": CONTROL_MESSAGE}

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)
        # The documents state the rule as a `pattern`, unless the field's own Regexp (stricter, e.g. a colour)
        # already does: apispec documents the first regex validator, and a metadata pattern would replace it.
        if not _has_pattern(self):
            refused = MULTI_LINE_CONTROL if multiline else SINGLE_LINE_CONTROL
            self.metadata = {"pattern": f"^[^{refused}]*$", **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        # A search, not a Regexp validator: Python's `$` also matches before a final "\n".
        if _REFUSED[self.multiline].search(text):
            raise self.make_error("control")
        return text


class Url(Text, fields.Url):
    """A URL without control characters (marshmallow's URL check lets most of them through in the path)."""


# Ids are BIGINT in PostgreSQL and INTEGER (also 64-bit) in SQLite: a larger one cannot exist, and asyncpg
# refuses to send it at all, so it must be a 422 / validation_failed before it reaches the database.
ID_MAX = 2**63 - 1
_QUERY_DIGITS = re.compile(r"[0-9]{1,19}")


class Id(fields.Integer):
    """A 64-bit id in the database's range: 1..2**63-1, or 0..2**63-1 for a `cursor` (after_seq, after_event_id).

    In JSON only an integer is accepted (no bool, float or numeric string); in a query string (`query=True`)
    only ASCII digits.
    """

    def __init__(self, *, cursor: bool = False, query: bool = False, **kwargs: Any) -> None:
        self.query = query
        extra = kwargs.pop("validate", None)
        checks: list[Any] = [validate.Range(0 if cursor else 1, ID_MAX)]  # apispec reads it: minimum, maximum
        if extra is not None:
            checks.extend(extra if isinstance(extra, list | tuple) else [extra])
        super().__init__(strict=True, validate=checks, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if self.query and isinstance(value, str):
            # int() would also take " 7", "+7", "7_000" and non-ASCII digits.
            if not _QUERY_DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            value = int(value)
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result


class Email(fields.String):
    """An e-mail address in the domain's one normal form (accounts.normalize_email); anything else is a 422."""

    default_error_messages = {"invalid_email": INVALID_EMAIL}

    def __init__(self, **kwargs: Any) -> None:
        # The document states the rule; padded or upper-case input is accepted too and normalised here.
        metadata = {"format": "email", "maxLength": EMAIL_MAX, **(kwargs.pop("metadata", None) or {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalize_email(text)
        except errors.ValidationFailed:
            raise self.make_error("invalid_email") from None
