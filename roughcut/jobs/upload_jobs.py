"""Upload jobs: the periodic sweeper of uploads left unfinished, and media processing."""

from __future__ import annotations

import logging

from roughcut.domain.job_model import Job
from roughcut.domain.media import MEDIA_ATTEMPTS, MEDIA_KIND, Media, give_up, process
from roughcut.domain.uploads import Uploads, sweep_stale_uploads
from roughcut.jobs.registry import Registry

log = logging.getLogger(__name__)

SWEEP_KIND = "uploads.sweep"
SWEEP_EVERY = 600.0  # stale means a day old by default: ten minutes late is nothing
MEDIA_BACKOFF = 1.0  # a decoder failure rarely heals: retry soon, then give up (processing.failed)
MEDIA_TIMEOUT = 600.0


def register_upload_jobs(registry: Registry, deps: Uploads, media: Media) -> None:
    """Add the upload sweeper and media processing."""

    async def process_media(job: Job) -> None:
        await process(media, job.payload)

    async def processing_failed(job: Job, error: str) -> None:
        await give_up(media, job.payload, error)

    registry.add(
        MEDIA_KIND,
        process_media,
        max_attempts=MEDIA_ATTEMPTS,
        backoff=MEDIA_BACKOFF,
        timeout=MEDIA_TIMEOUT,
        on_dead=processing_failed,
    )

    async def sweep(_job: Job) -> None:
        swept = await sweep_stale_uploads(deps)
        if swept:
            log.info("aborted stale uploads", extra={"count": swept})

    registry.add(SWEEP_KIND, sweep, every=SWEEP_EVERY)
