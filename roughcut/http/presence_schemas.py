"""Response schemas of the presence routes (the same shapes as the `/presence` subscribe and watch acks)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.domain.presence_model import Status

PRESENT = (str(Status.ONLINE), str(Status.AWAY))


class OnlineUserSchema(Schema):
    user_id = fields.Int(required=True)
    nickname = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(PRESENT))
    since = fields.AwareDateTime(required=True)


class PresenceSchema(Schema):
    project_id = fields.Int(required=True)
    online = fields.List(fields.Nested(OnlineUserSchema), required=True)


class WatchingSchema(Schema):
    feedback_id = fields.Int(required=True)
    watching = fields.List(fields.Nested(OnlineUserSchema), required=True)
