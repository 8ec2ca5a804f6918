"""Processing of uploaded media on the job queue: image thumbnails, video posters and metadata.

`complete` (a project file) and `add_version` enqueue MEDIA_KIND in their transaction. The job downloads a
local copy, makes the preview with the MediaTools port, stores it beside the object, then records the
result and `processing.done`. A file that fails every attempt ends `processing.failed` on its last one
(the job then ends, so a poison file never holds the queue).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roughcut.domain.events import PROCESSING_DONE, PROCESSING_FAILED, DomainEvent
from roughcut.domain.ports import BlobStore, Clock, MediaInfo, MediaTools, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.transactions import writes

log = logging.getLogger(__name__)

MEDIA_KIND = "media.process"
MEDIA_ATTEMPTS = 3
PREVIEW_SUFFIX = ".preview.webp"
READY, FAILED, PROCESSING = "ready", "failed", "processing"


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


async def _target(deps: Media, payload: dict[str, Any]) -> Target | None:
    async with deps.uow() as uow:
        if "file_id" in payload:
            file = await uow.files.get(int(payload["file_id"]))
            if file is None:
                return None
            return Target("file", file.id, file.key, file.content_type, file.project_id)
        found = await uow.versions.get(int(payload["version_id"]))
        if found is None:
            return None
        version, key, project_id = found
        return Target("version", version.id, key, "video/mp4", project_id)


async def process(deps: Media, payload: dict[str, Any], *, last_attempt: bool) -> None:
    """One attempt at a file's or version's preview; raises to be retried, except on the last attempt."""
    target = await _target(deps, payload)
    if target is None:
        return  # deleted meanwhile: nothing to do
    preview = f"{target.key}{PREVIEW_SUFFIX}"
    try:
        with tempfile.TemporaryDirectory(prefix="roughcut-media-") as folder:
            src, dest = Path(folder) / "source", Path(folder) / "preview.webp"
            await deps.blobs.download(target.key, src)
            if target.content_type.startswith("image/"):
                info = await deps.tools.thumbnail(src, dest)
            else:
                info = await deps.tools.poster(src, dest)
            await deps.blobs.put(preview, dest.read_bytes())
    except Exception as exc:
        if not last_attempt:
            raise
        log.warning("processing failed for good", extra={"target": target.kind, "id": target.id}, exc_info=True)
        await _record(deps, target, None, None, f"{type(exc).__name__}: {exc}"[:500])
        return
    await _record(deps, target, preview, info, None)


@writes
async def _record(deps: Media, t: Target, preview: str | None, info: MediaInfo | None, error: str | None) -> None:
    async with deps.uow() as uow:
        ref = {f"{t.kind}_id": t.id}
        if error is not None:
            await _store(uow, t, FAILED, {})
            uow.record(DomainEvent(PROCESSING_FAILED, {**ref, "error": error}, project_id=t.project_id))
        else:
            assert info is not None
            found = {"width": info.width, "height": info.height, "duration_ms": info.duration_ms}
            key_field = "preview_key" if t.kind == "file" else "poster_key"
            await _store(uow, t, READY, {**found, key_field: preview})
            uow.record(DomainEvent(PROCESSING_DONE, {**ref, **found}, project_id=t.project_id))
        await uow.commit()


async def _store(uow: UnitOfWork, t: Target, status: str, fields: dict[str, Any]) -> None:
    if t.kind == "file":
        await uow.files.processed(t.id, status, **fields)
    else:
        await uow.versions.processed(t.id, status, **fields)
