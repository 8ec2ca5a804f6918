"""Marshmallow schemas of the caller's own account: profile changes and deletion."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.wire.fields import Text, Url


class MeUpdate(Schema):
    nickname = Text(validate=validate.Length(1, 50))
    avatar_url = Url(allow_none=True, validate=validate.Length(max=1024))
    current_password = fields.Str(load_only=True)
    new_password = fields.Str(load_only=True)


class MeDelete(Schema):
    password = fields.Str(load_only=True, metadata={"description": "Or log in again within 10 minutes."})
