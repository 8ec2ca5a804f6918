"""Entities of revalidation webhooks: the endpoints administrators register (domain/webhooks.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """An endpoint registered through the admin API (those in WEBHOOK_URLS are settings, not rows)."""

    id: int
    url: str
    created_at: datetime
    disabled_at: datetime | None  # set when the receiver answered 410 Gone
    secret: str = field(repr=False)
