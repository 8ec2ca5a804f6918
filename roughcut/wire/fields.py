"""Marshmallow fields shared by the schemas."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

from marshmallow import ValidationError, fields, validate

from roughcut.domain import errors
from roughcut.domain.accounts import EMAIL_MAX, INVALID_EMAIL, normalize_email

# RFC 3339 date-time, what the documents' `format: date-time` means: a date, `T`, a time to the second, an offset.
# Python's fromisoformat alone also takes dates, week dates, spaces and times without an offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class Timestamp(fields.DateTime):
    """ISO 8601 UTC with `Z`, as the API contract says; in, an RFC 3339 date-time with its offset, held in UTC."""

    default_error_messages = {
        "invalid": "Not an RFC 3339 date-time with an offset (e.g. 2026-05-09T10:00:00Z).",
        "range": "Out of range.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise self.make_error("invalid")
        try:
            parsed = datetime.fromisoformat(value.upper())
        except ValueError:  # a day, hour or offset out of range
            raise self.make_error("invalid") from None
        try:
            # In UTC from here on: within a day of year 1 or 9999 a time has no UTC form, and no database gets it.
            return parsed.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class RangeBound(fields.Field):  # type: ignore[type-arg]
    """A bound of a range filter (`from`, `to`): an RFC 3339 date-time, or a date meaning that day in UTC.

    A date starts its day as a `from` and ends it (its last microsecond) as a `to` (`end=True`).
    """

    default_error_messages = {"invalid": "Not a date (2026-05-09) or an RFC 3339 date-time with an offset."}

    def __init__(self, *, end: bool = False, **kwargs: Any) -> None:
        self.end = end
        one_of = {"anyOf": [{"format": "date-time"}, {"format": "date"}]}
        metadata = {"type": "string", **one_of, **(kwargs.pop("metadata", None) or {})}
        super().__init__(metadata=metadata, **kwargs)
        self._timestamp = Timestamp()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        if isinstance(value, str) and _DATE.fullmatch(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise self.make_error("invalid") from None
            return datetime.combine(day, time.max if self.end else time.min, tzinfo=UTC)
        try:
            moment: datetime = self._timestamp.deserialize(value, attr, data, **kwargs)
        except ValidationError:
            raise self.make_error("invalid") from None
        return moment


# Control characters (Unicode category Cc). PostgreSQL refuses U+0000 in text while SQLite stores it, and the
# others have no business in names or titles: the edge refuses them all, so both databases answer the same 422.
# Written as regex class ranges that mean the same in Python and in ECMA-262 (JSON Schema `pattern`).
SINGLE_LINE_CONTROL = r"\x00-\x1f\x7f-\x9f"
MULTI_LINE_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # all of them but tab, LF and CR
_REFUSED = {False: re.compile(f"[{SINGLE_LINE_CONTROL}]"), True: re.compile(f"[{MULTI_LINE_CONTROL}]")}
CONTROL_MESSAGE = "Control characters are not allowed."
# White space as Python's str.strip() sees it (str.isspace), less the control characters refused anyway. The domain
# strips names, titles and texts before it counts them; a `nonblank` Text states that in its pattern.
WHITE_SPACE = r" \t\n\r\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
BLANK_MESSAGE = "Must not be blank."


def _has_pattern(field: fields.Field[Any]) -> bool:
    return any(isinstance(getattr(v, "regex", None), re.Pattern) for v in field.validators)


class Text(fields.String):
    """A string without control characters; a `multiline` one may hold tab, LF and CR. Every text input uses it.

    A `nonblank` one also needs a character that is not white space (the domain strips before it counts).
    Only a JSON string is text: bytes (a Socket.IO binary attachment) are refused like any other type.
    """

    default_error_messages = {"control": CONTROL_MESSAGE, "blank": BLANK_MESSAGE}

    def __init__(self, *, multiline: bool = False, nonblank: bool = False, **kwargs: Any) -> None:
        self.multiline = multiline
        self.nonblank = nonblank
        super().__init__(**kwargs)
        # The documents state the rule as a `pattern`, unless the field's own Regexp (stricter, e.g. a colour)
        # already does: apispec documents the first regex validator, and a metadata pattern would replace it.
        if not _has_pattern(self):
            refused = MULTI_LINE_CONTROL if multiline else SINGLE_LINE_CONTROL
            pattern = f"^[^{refused}]*[^{refused}{WHITE_SPACE}][^{refused}]*$" if nonblank else f"^[^{refused}]*$"
            self.metadata = {"pattern": pattern, **self.metadata}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text: str = super()._deserialize(value, attr, data, **kwargs)
        # A search, not a Regexp validator: Python's `$` also matches before a final "\n".
        if _REFUSED[self.multiline].search(text):
            raise self.make_error("control")
        if self.nonblank and not text.strip():
            raise self.make_error("blank")
        return text


# An http(s) URL: a host name or address, a port, then anything but white space and control characters. The
# documents state it as this pattern; marshmallow's URL check (which the pattern replaced) cannot be stated.
URL_PATTERN = r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:[/?#][^\x00-\x20\x7f-\x9f]*)?$"


URL_MESSAGE = "Not a valid http(s) URL."


class Url(Text):
    """An http or https URL (URL_PATTERN), without control characters."""

    def __init__(self, **kwargs: Any) -> None:
        extra = kwargs.pop("validate", None)
        checks: list[Any] = [validate.Regexp(URL_PATTERN, error=URL_MESSAGE)]
        if extra is not None:
            checks.extend(extra if isinstance(extra, list | tuple) else [extra])
        super().__init__(validate=checks, **kwargs)


# Ids are BIGINT in PostgreSQL and INTEGER (also 64-bit) in SQLite: a larger one cannot exist, and asyncpg
# refuses to send it at all, so it must be a 422 / validation_failed before it reaches the database.
ID_MAX = 2**63 - 1
_QUERY_DIGITS = re.compile(r"[0-9]{1,19}")


class Bool(fields.Boolean):
    """JSON true or false only: marshmallow's own Boolean also takes 1, "yes", "on" and the like (and its truthy
    set cannot tell 1 or 1.0 from True: they are equal and hash alike)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class Integer(fields.Integer):
    """A JSON integer: an int, or a number with a zero fraction (JSON has one number type, and JSON Schema's
    `integer` takes 1.0 as 1); never a bool, a fraction or a numeric string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result


class Id(Integer):
    """A 64-bit id in the database's range: 1..2**63-1, or 0..2**63-1 for a `cursor` (after_seq, after_event_id).

    In JSON an Integer (no bool, fraction or numeric string); in a query string (`query=True`) only ASCII digits.
    """

    def __init__(self, *, cursor: bool = False, query: bool = False, **kwargs: Any) -> None:
        self.query = query
        extra = kwargs.pop("validate", None)
        checks: list[Any] = [validate.Range(0 if cursor else 1, ID_MAX)]  # apispec reads it: minimum, maximum
        if extra is not None:
            checks.extend(extra if isinstance(extra, list | tuple) else [extra])
        super().__init__(validate=checks, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if self.query and isinstance(value, str):
            # int() would also take " 7", "+7", "7_000" and non-ASCII digits.
            if not _QUERY_DIGITS.fullmatch(value):
                raise self.make_error("invalid")
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


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
