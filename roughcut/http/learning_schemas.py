"""Marshmallow schemas of e-learning links."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.learning import TITLE_MAX, URL_MAX
from roughcut.wire.fields import Text, Timestamp, Url


class LearningLinkSchema(Schema):
    id = fields.Int(required=True)
    url = fields.Str(required=True)
    title = fields.Str(required=True)
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)


class LearningLinkList(Schema):
    items = fields.List(fields.Nested(LearningLinkSchema), required=True)


class LearningLinkCreate(Schema):
    url = Url(required=True, validate=validate.Length(1, URL_MAX))
    title = Text(load_default="", validate=validate.Length(0, TITLE_MAX))


class LearningLinkUpdate(Schema):
    url = Url(validate=validate.Length(1, URL_MAX))
    title = Text(validate=validate.Length(0, TITLE_MAX))
