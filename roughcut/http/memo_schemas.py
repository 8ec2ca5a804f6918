"""Marshmallow schemas of personal memos: one note per date, listed by page."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.memos import MEMO_MAX
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
    memo = Text(multiline=True, nonblank=True, required=True, validate=validate.Length(1, MEMO_MAX))


class MemoUpdate(Schema):
    date = fields.Date()
    memo = Text(multiline=True, nonblank=True, validate=validate.Length(1, MEMO_MAX))


class MemoQuery(PageQuery):
    from_ = fields.Date(data_key="from")
    to = fields.Date(metadata={"description": "Not before `from`."})


class MemoPage(Schema):
    items = fields.List(fields.Nested(MemoSchema), required=True)
    next_cursor = fields.Str(allow_none=True, required=True)
