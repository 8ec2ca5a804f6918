"""Marshmallow fields shared by the schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import fields


class Timestamp(fields.DateTime):
    """ISO 8601 UTC with `Z`, as the API contract says."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
