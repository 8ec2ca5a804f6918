"""Marshmallow schemas both edges serialise: REST bodies and Socket.IO / SSE payloads share these shapes."""

from __future__ import annotations

from marshmallow import Schema, fields

from roughcut.wire.fields import Timestamp


class UserRefSchema(Schema):
    id = fields.Int(required=True)
    nickname = fields.Str(required=True)


class EventSchema(Schema):
    """A project event of the durable log."""

    id = fields.Int(required=True)
    seq = fields.Int(
        allow_none=True,
        required=True,
        metadata={"description": "Gap-free per project, in commit order: a jump means an event is still on its way."},
    )
    project_id = fields.Int(required=True)
    type = fields.Str(required=True)
    data = fields.Dict(required=True)
    actor = fields.Int(allow_none=True, required=True)
    at = Timestamp(required=True)


class MessageSchema(Schema):
    """A chat message of a feedback thread."""

    feedback_id = fields.Int(required=True)
    seq = fields.Int(required=True)
    id = fields.Int(required=True)
    client_id = fields.Str(required=True)
    author = fields.Nested(UserRefSchema, allow_none=True, required=True)
    text = fields.Str(required=True)
    created_at = Timestamp(required=True)
