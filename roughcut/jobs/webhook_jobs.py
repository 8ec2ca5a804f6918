"""Webhook deliveries: one signed POST per job (Standard Webhooks), retried by the queue for WEBHOOK_RETRY_FOR.

2xx is delivered; 410 Gone disables an endpoint registered through the API (a WEBHOOK_URLS one only drops
that delivery: settings cannot be changed from here); anything else, a timeout or a refused connection is
a failed attempt, retried with back-off and jitter until the delivery is dead (`roughcut dead-jobs`).
Redirects are not followed. Errors and logs name the endpoint by its ref, never its URL or secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import orjson

from roughcut.domain import webhooks
from roughcut.domain.job_model import Job
from roughcut.domain.webhooks import API_REF, DELIVER_KIND, Webhooks
from roughcut.jobs.registry import Registry

log = logging.getLogger(__name__)

DELIVER_ATTEMPTS = 1_000_000  # retries end by age (`give_up_after`), not by count
GRACE = 5.0  # the job's time limit past one POST's


class DeliveryFailed(Exception):
    """The receiver did not take the delivery: the queue retries it."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    retry_for: float
    backoff: float
    max_backoff: float
    timeout: float


def register_webhook_jobs(
    registry: Registry,
    deps: Webhooks,
    http: aiohttp.ClientSession,
    configured: Mapping[str, tuple[str, str]],
    policy: DeliveryPolicy,
) -> None:
    """Add `webhook.deliver`; `configured` maps the refs of WEBHOOK_URLS endpoints to their URL and secret."""

    async def target(ref: str) -> tuple[str, str] | None:
        if ref.startswith(API_REF):
            found = await webhooks.endpoint(deps, int(ref.removeprefix(API_REF)))
            return None if found is None else (found.url, found.secret)
        return configured.get(ref)

    async def deliver(job: Job) -> None:
        ref, payload = str(job.payload["endpoint"]), job.payload["body"]
        found = await target(ref)
        if found is None:
            log.info("webhook endpoint removed or disabled; delivery dropped", extra={"endpoint": ref})
            return
        url, secret = found
        body, webhook_id = orjson.dumps(payload), str(payload["id"])
        timestamp = int(deps.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": webhooks.signature(secret, webhook_id, timestamp, body),
        }
        try:
            async with http.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(policy.timeout)
            ) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"endpoint {ref}: {type(exc).__name__}") from None
        if 200 <= status < 300:
            return
        if status == 410:
            log.warning("webhook endpoint answered 410 Gone; it gets no more deliveries", extra={"endpoint": ref})
            if ref.startswith(API_REF):
                await webhooks.endpoint_gone(deps, int(ref.removeprefix(API_REF)))
            return
        raise DeliveryFailed(f"endpoint {ref} answered HTTP {status}")

    registry.add(
        DELIVER_KIND,
        deliver,
        max_attempts=DELIVER_ATTEMPTS,
        backoff=policy.backoff,
        max_backoff=policy.max_backoff,
        timeout=policy.timeout + GRACE,
        give_up_after=policy.retry_for,
    )
