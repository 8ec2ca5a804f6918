"""Marshmallow schemas of the caller's own account: profile changes and deletion."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class MeUpdate(Schema):
    nickname = fields.Str(validate=validate.Length(1, 50))
    avatar_url = fields.Url(allow_none=True, validate=validate.Length(max=1024))
    current_password = fields.Str(load_only=True)
    new_password = fields.Str(load_only=True)


class MeDelete(Schema):
    password = fields.Str(load_only=True, metadata={"description": "Or log in again within 10 minutes."})
