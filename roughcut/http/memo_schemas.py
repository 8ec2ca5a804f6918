"""Marshmallow schemas of personal memos: one note per date, listed by page."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.http.common_schemas import PageQuery
from roughcut.wire.fields import Text, Timestamp


class MemoSchema(Schema):
    id = fields.Int(required=True)
    date = fields.Date(required=True)
    memo = fields.Str(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class MemoCreate(Schema):
    date = fields.Date(required=True)
    memo = Text(multiline=True, required=True, validate=validate.Length(1, 2000))


class MemoUpdate(Schema):
    date = fields.Date()
    memo = Text(multiline=True, validate=validate.Length(1, 2000))


class MemoQuery(PageQuery):
    from_ = fields.Date(data_key="from")
    to = fields.Date()


class MemoPage(Schema):
    items = fields.List(fields.Nested(MemoSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)
