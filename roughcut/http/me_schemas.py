"""Marshmallow schemas of the caller's own account: profile changes and deletion."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from roughcut.domain.accounts import NICKNAME_MAX
from roughcut.http.auth_schemas import PASSWORD
from roughcut.wire.fields import Text, Url


class MeUpdate(Schema):
    nickname = Text(nonblank=True, validate=validate.Length(1, NICKNAME_MAX))
    avatar_url = Url(allow_none=True, validate=validate.Length(max=1024))
    current_password = fields.Str(load_only=True, metadata={"description": "The current password, with new_password."})
    new_password = fields.Str(load_only=True, validate=PASSWORD)

    # A new password needs the current one (an account made by social login has none: what it sends is not read).
    json_schema_extra: ClassVar[dict[str, Any]] = {"dependentRequired": {"new_password": ["current_password"]}}


class MeDelete(Schema):
    password = fields.Str(load_only=True, metadata={"description": "Or log in again within 10 minutes."})
