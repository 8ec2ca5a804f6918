"""Processing of uploaded media on the job queue: image thumbnails, video posters and metadata.

`complete` (a project file) and `add_version` enqueue MEDIA_KIND in their transaction. The job downloads a
local copy, makes the preview with the MediaTools port, stores it beside the object, then records the
result and `processing.done`; `processing.progress` marks its stages on the way (at most one every
PROGRESS_INTERVAL). An attempt that fails raises and is retried; a job the queue gives up on, whatever
ended it (a poison file, a crashed or hung decoder, a worker killed on every attempt), runs `give_up`,
which records `processing.failed` before the job is dead, so the file never stays `processing`.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from roughcut.domain.events import PROCESSING_DONE, PROCESSING_FAILED, PROCESSING_PROGRESS, DomainEvent
from roughcut.domain.ports import BlobStore, Clock, MediaInfo, MediaTools, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.transactions import writes

log = logging.getLogger(__name__)

MEDIA_KIND = "media.process"
MEDIA_ATTEMPTS = 3
PREVIEW_SUFFIX = ".preview.webp"
READY, FAILED, PROCESSING = "ready", "failed", "processing"
PROGRESS_INTERVAL = timedelta(milliseconds=250)  # at most 4 processing.progress events a second per job
# Stages of one attempt, with how far along the job is when each starts.
DOWNLOADING, DECODING, STORING = ("downloading", 0.0), ("decoding", 0.3), ("storing", 0.9)
ERROR_MAX = 500
_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt)\b.*)$")


@dataclass(frozen=True, slots=True)
class Media:
    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    tools: MediaTools


def needs_processing(content_type: str) -> bool:
    """Images get thumbnails and videos posters; other files are ready as they are."""
    return content_type.startswith(("image/", "video/"))


async def enqueue_file(uow: UnitOfWork, file_id: int) -> None:
    """Queue a project file's processing in the caller's transaction."""
    await uow.jobs.enqueue(MEDIA_KIND, {"file_id": file_id}, key=f"file:{file_id}")


async def enqueue_version(uow: UnitOfWork, version_id: int) -> None:
    """Queue a feedback version's processing in the caller's transaction."""
    await uow.jobs.enqueue(MEDIA_KIND, {"version_id": version_id}, key=f"version:{version_id}")


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "file" or "version"
    id: int
    key: str
    content_type: str
    project_id: int
    status: str


async def _target(deps: Media, payload: dict[str, Any]) -> Target | None:
    async with deps.uow() as uow:
        if "file_id" in payload:
            file = await uow.files.get(int(payload["file_id"]))
            if file is None:
                return None
            return Target("file", file.id, file.key, file.content_type, file.project_id, file.status)
        found = await uow.versions.get(int(payload["version_id"]))
        if found is None:
            return None
        version, key, project_id = found
        return Target("version", version.id, key, "video/mp4", project_id, version.status)


class _Progress:
    """One attempt's `processing.progress` events, throttled to one per PROGRESS_INTERVAL."""

    def __init__(self, deps: Media, target: Target) -> None:
        self._deps, self._target = deps, target
        self._last: datetime | None = None

    async def stage(self, stage: tuple[str, float]) -> None:
        now = self._deps.clock.now()
        if self._last is not None and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        t = self._target
        data = {f"{t.kind}_id": t.id, "stage": stage[0], "progress": stage[1]}
        await _announce(self._deps, DomainEvent(PROCESSING_PROGRESS, data, project_id=t.project_id))


@writes
async def _announce(deps: Media, event: DomainEvent) -> None:
    async with deps.uow() as uow:
        uow.record(event)
        await uow.commit()


async def process(deps: Media, payload: dict[str, Any]) -> None:
    """One attempt at a file's or version's preview; raises to be retried (`give_up` ends the last)."""
    target = await _target(deps, payload)
    if target is None or target.status != PROCESSING:
        return  # deleted meanwhile, or recorded by an earlier attempt: nothing to do
    preview = f"{target.key}{PREVIEW_SUFFIX}"
    progress = _Progress(deps, target)
    with tempfile.TemporaryDirectory(prefix="roughcut-media-") as folder:
        src, dest = Path(folder) / "source", Path(folder) / "preview.webp"
        await progress.stage(DOWNLOADING)
        await deps.blobs.download(target.key, src)
        await progress.stage(DECODING)
        if target.content_type.startswith("image/"):
            info = await deps.tools.thumbnail(src, dest)
        else:
            info = await deps.tools.poster(src, dest)
        await progress.stage(STORING)
        await deps.blobs.put(preview, dest.read_bytes())
    await _record(deps, target, preview, info, None)


async def give_up(deps: Media, payload: dict[str, Any], error: str) -> None:
    """The queue gives up on the job: record `processing.failed` with the last error (once)."""
    target = await _target(deps, payload)
    if target is None or target.status != PROCESSING:
        return
    summary = _summary(error)
    log.warning("processing failed for good", extra={"target": target.kind, "id": target.id, "error": summary})
    await _record(deps, target, None, None, summary)


def _summary(error: str) -> str:
    """`MediaError: ...` from a traceback (its last exception line, the module path dropped), else its last line."""
    lines = error.strip().splitlines() or ["unknown error"]
    for i in range(len(lines) - 1, -1, -1):
        found = _EXCEPTION_LINE.match(lines[i])
        if found:
            return " ".join([found.group(1), *lines[i + 1 :]])[:ERROR_MAX]
    return lines[-1][:ERROR_MAX]


@writes
async def _record(deps: Media, t: Target, preview: str | None, info: MediaInfo | None, error: str | None) -> None:
    async with deps.uow() as uow:
        ref = {f"{t.kind}_id": t.id}
        if error is not None:
            await _store(uow, t, FAILED, {})
            uow.record(DomainEvent(PROCESSING_FAILED, {**ref, "error": error}, project_id=t.project_id))
        else:
            assert info is not None
            found = {"width": info.width, "height": info.height, "duration_ms": info.duration_ms, "fps": info.fps}
            key_field = "preview_key" if t.kind == "file" else "poster_key"
            await _store(uow, t, READY, {**found, key_field: preview})
            uow.record(DomainEvent(PROCESSING_DONE, {**ref, **found}, project_id=t.project_id))
        await uow.commit()


async def _store(uow: UnitOfWork, t: Target, status: str, fields: dict[str, Any]) -> None:
    if t.kind == "file":
        await uow.files.processed(t.id, status, **fields)
    else:
        await uow.versions.processed(t.id, status, **fields)
