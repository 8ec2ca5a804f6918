"""Marshmallow schemas of revalidation webhook endpoints and dead deliveries (admin API)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from roughcut.wire.fields import Timestamp, Url

URL_MAX = 1024
DEAD_LIMIT_MAX = 500


class WebhookEndpointSchema(Schema):
    id = fields.Int(required=True)
    url = fields.Str(required=True)
    created_at = Timestamp(required=True)
    disabled_at = Timestamp(
        allow_none=True, required=True, metadata={"description": "Set when the receiver answered 410 Gone."}
    )


class WebhookEndpointWithSecret(WebhookEndpointSchema):
    secret = fields.Str(
        required=True,
        metadata={"description": "whsec_<base64>: the signing secret, answered only here. Keep it in the receiver."},
    )


class WebhookEndpointList(Schema):
    items = fields.List(fields.Nested(WebhookEndpointSchema), required=True)


class WebhookEndpointCreate(Schema):
    url = Url(required=True, validate=validate.Length(1, URL_MAX))


class DeadDeliverySchema(Schema):
    id = fields.Int(required=True, metadata={"description": "The delivery's id: replay it with this."})
    webhook_id = fields.Str(required=True)
    endpoint = fields.Str(required=True, metadata={"description": "api:ID, or settings:HASH for WEBHOOK_URLS."})
    event = fields.Str(required=True)
    tags = fields.List(fields.Str(), required=True)
    attempts = fields.Int(required=True)
    failed_at = Timestamp(required=True)
    error = fields.Str(required=True, metadata={"description": "The last attempt's error."})


class DeadDeliveryList(Schema):
    items = fields.List(fields.Nested(DeadDeliverySchema), required=True)


class DeadDeliveryQuery(Schema):
    limit = fields.Int(load_default=100, validate=validate.Range(1, DEAD_LIMIT_MAX))
