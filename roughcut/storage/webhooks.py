"""Revalidation webhooks in SQL: the endpoints admins register, and the outbox the unit of work writes.

The outbox is the job queue: `WebhookOutbox.write` enqueues one `webhook.deliver` job per enabled endpoint
for a batch that changes a page, on the committing transaction's connection, so the deliveries exist iff
the events do. The job's key (endpoint and webhook id) keeps a retried commit from sending twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.events import Committed
from roughcut.domain.webhook_model import WebhookEndpoint
from roughcut.domain.webhooks import API_REF, DELIVER_KIND, revalidation
from roughcut.storage import tables as t
from roughcut.storage.jobs import SqlJobs

_c = t.webhook_endpoints.c


def _endpoint(r: RowMapping) -> WebhookEndpoint:
    return WebhookEndpoint(r["id"], r["url"], r["created_at"], r["disabled_at"], r["secret"])


class SqlWebhookEndpoints:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def list(self) -> list[WebhookEndpoint]:
        q = select(t.webhook_endpoints).order_by(_c.id)
        return [_endpoint(r) for r in (await self._conn.execute(q)).mappings()]

    async def get(self, endpoint_id: int) -> WebhookEndpoint | None:
        row = (await self._conn.execute(select(t.webhook_endpoints).where(_c.id == endpoint_id))).mappings().first()
        return _endpoint(row) if row else None

    async def add(self, url: str, secret: str, now: datetime) -> WebhookEndpoint:
        q = insert(t.webhook_endpoints).values(url=url, secret=secret, created_at=now).returning(*t.webhook_endpoints.c)
        return _endpoint((await self._conn.execute(q)).mappings().one())

    async def update(self, endpoint_id: int, **fields: Any) -> WebhookEndpoint:
        q = update(t.webhook_endpoints).where(_c.id == endpoint_id).values(**fields).returning(*t.webhook_endpoints.c)
        return _endpoint((await self._conn.execute(q)).mappings().one())

    async def delete(self, endpoint_id: int) -> None:
        await self._conn.execute(delete(t.webhook_endpoints).where(_c.id == endpoint_id))


class WebhookOutbox:
    """Writes the deliveries of a committed batch: to the WEBHOOK_URLS endpoints (`configured` refs) and
    to every enabled endpoint row, read in the same transaction."""

    def __init__(self, configured: Sequence[str]) -> None:
        self._configured = tuple(configured)

    async def write(self, conn: AsyncConnection, jobs: SqlJobs, batch: Sequence[Committed]) -> None:
        body = revalidation(batch)
        if body is None:
            return
        enabled = await conn.execute(select(_c.id).where(_c.disabled_at.is_(None)).order_by(_c.id))
        refs = [*self._configured, *(f"{API_REF}{i}" for i in enabled.scalars())]
        for ref in refs:
            payload = {"endpoint": ref, "body": body}
            await jobs.enqueue(DELIVER_KIND, payload, key=f"{ref}/{body['id']}")
