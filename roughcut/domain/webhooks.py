"""Revalidation webhooks (API.md "Webhooks"): the cache tags a committed batch changes, the Standard Webhooks
signature, and the endpoints administrators register.

Deliveries are jobs (`DELIVER_KIND`) written by the unit of work in the transaction of their events: one per
endpoint per committed batch that changes a page, its `webhook-id` the batch's first event id, so a receiver
that drops a repeated id sees each batch once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from roughcut.domain import errors
from roughcut.domain.events import (
    FEEDBACK_CREATED,
    MEMBER_JOINED,
    MEMBER_LEFT,
    MEMBER_ROLE_CHANGED,
    PROJECT_DELETED,
    PROJECT_UPDATED,
    STAGE_CHANGED,
    UPLOAD_COMPLETED,
    Committed,
    StoredEvent,
)
from roughcut.domain.job_model import Job
from roughcut.domain.learning import require_admin
from roughcut.domain.ports import Clock, JobStore, UnitOfWorkFactory
from roughcut.domain.transactions import writes
from roughcut.domain.webhook_model import WebhookEndpoint

DELIVER_KIND = "webhook.deliver"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64  # the range the Standard Webhooks libraries accept
API_REF, SETTINGS_REF = "api:", "settings:"
# What a user's project list shows (name, stage, owner, role, member count) changes with these. A project's
# creation records only its first thread's feedback.created, so that one invalidates the lists too.
LIST_EVENTS = frozenset(
    {PROJECT_UPDATED, PROJECT_DELETED, STAGE_CHANGED, MEMBER_JOINED, MEMBER_LEFT, MEMBER_ROLE_CHANGED, FEEDBACK_CREATED}
)
UNSEEN = frozenset({UPLOAD_COMPLETED})  # no page shows it until its file.added or version.added


def tags_of(change: Committed) -> list[str]:
    """The cache tags a committed event invalidates, in a stable order (none for one no page shows)."""
    event = change.event
    if not isinstance(event, StoredEvent) or event.project_id is None or event.type in UNSEEN:
        return []
    tags = [f"project:{event.project_id}"]
    feedback_id = event.data.get("feedback_id")
    if isinstance(feedback_id, int):
        tags.append(f"feedback:{feedback_id}")
    if event.type in LIST_EVENTS:
        tags.extend(f"user:{u}:projects" for u in change.audience.users)
    return tags


def revalidation(batch: Sequence[Committed]) -> dict[str, Any] | None:
    """The body of the batch's delivery (API.md: `{event, tags, at}`, with `id` and all `events`), or None."""
    tags: dict[str, None] = {}
    seen: list[StoredEvent] = []
    for change in batch:
        found = tags_of(change)
        if found:
            assert isinstance(change.event, StoredEvent)
            seen.append(change.event)
            tags.update(dict.fromkeys(found))
    if not seen:
        return None
    return {
        "id": f"msg_{seen[0].id}",
        "event": seen[0].type,
        "events": list(dict.fromkeys(e.type for e in seen)),
        "tags": list(tags),
        "at": seen[-1].at.isoformat().replace("+00:00", "Z"),
    }


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raise ValueError("a webhook secret is whsec_ and base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(f"a webhook secret holds {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes")
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: v1 and the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}"."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(secret_bytes(secret), signed, hashlib.sha256)).decode()


@dataclass(frozen=True, slots=True)
class Webhooks:
    """The ports the admin API and the delivery job use."""

    uow: UnitOfWorkFactory
    clock: Clock
    jobs: JobStore


@dataclass(frozen=True, slots=True)
class DeadDelivery:
    """A delivery that failed every attempt for WEBHOOK_RETRY_FOR: kept until replayed."""

    job: Job

    @property
    def endpoint(self) -> str:
        return str(self.job.payload.get("endpoint", ""))

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.job.payload.get("body", {})
        return body

    @property
    def error(self) -> str:
        lines = (self.job.last_error or "").strip().splitlines()
        return lines[-1] if lines else ""


async def list_endpoints(deps: Webhooks, user_id: int) -> list[WebhookEndpoint]:
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
        return await uow.webhooks.list()


@writes
async def add_endpoint(deps: Webhooks, user_id: int, url: str) -> WebhookEndpoint:
    """Register an endpoint with a fresh secret (answered this once)."""
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
        endpoint = await uow.webhooks.add(url, new_secret(), deps.clock.now())
        await uow.commit()
    return endpoint


@writes
async def rotate_secret(deps: Webhooks, user_id: int, endpoint_id: int) -> WebhookEndpoint:
    """Give an endpoint a new secret (at once: deliveries still pending are signed with it) and enable it."""
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
        if await uow.webhooks.get(endpoint_id) is None:
            raise errors.NotFound("No such webhook endpoint.")
        endpoint = await uow.webhooks.update(endpoint_id, secret=new_secret(), disabled_at=None)
        await uow.commit()
    return endpoint


@writes
async def delete_endpoint(deps: Webhooks, user_id: int, endpoint_id: int) -> None:
    """Remove an endpoint; its pending deliveries end unsent."""
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
        if await uow.webhooks.get(endpoint_id) is None:
            raise errors.NotFound("No such webhook endpoint.")
        await uow.webhooks.delete(endpoint_id)
        await uow.commit()


async def endpoint(deps: Webhooks, endpoint_id: int) -> WebhookEndpoint | None:
    """An enabled endpoint, for the delivery job (None once deleted or disabled)."""
    async with deps.uow() as uow:
        found = await uow.webhooks.get(endpoint_id)
    return found if found is not None and found.disabled_at is None else None


@writes
async def endpoint_gone(deps: Webhooks, endpoint_id: int) -> None:
    """The receiver answered 410 Gone: no more deliveries until an admin rotates its secret."""
    async with deps.uow() as uow:
        if await uow.webhooks.get(endpoint_id) is not None:
            await uow.webhooks.update(endpoint_id, disabled_at=deps.clock.now())
            await uow.commit()


async def dead_deliveries(deps: Webhooks, user_id: int, limit: int) -> list[DeadDelivery]:
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
    return [DeadDelivery(job) for job in await deps.jobs.dead(limit, DELIVER_KIND)]


async def replay_delivery(deps: Webhooks, user_id: int, delivery_id: int) -> None:
    """Send a dead delivery again, its retries afresh (same webhook-id: a receiver that got it drops it)."""
    async with deps.uow() as uow:
        await require_admin(uow, user_id)
    if not await deps.jobs.revive(delivery_id, DELIVER_KIND, deps.clock.now()):
        raise errors.NotFound("No such dead delivery.")
