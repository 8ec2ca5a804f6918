"""Marshmallow schemas every REST area shares: the problem+json error body and the page query."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.http.cursor import MAX_CURSOR
from roughcut.wire.fields import Text


class ProblemSchema(Schema):
    type = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Int(required=True)
    detail = fields.Str(required=True)
    code = fields.Str(required=True, metadata={"description": "Stable machine-readable error code."})
    request_id = fields.Str(required=True)
    errors = fields.Dict(keys=fields.Str(), values=fields.List(fields.Str()))
    details = fields.Dict()


class PageQuery(Schema):
    limit = fields.Int(load_default=20, validate=validate.Range(1, 100))
    cursor = Text(
        validate=validate.Length(1, MAX_CURSOR), metadata={"description": "A `next_cursor` this API gave out."}
    )
