"""Project files and feedback versions made from completed uploads; live upload progress.

A file's object is deleted only after the row's deletion commits (a failed cleanup leaves an orphan
object, never a listed file without bytes). Progress reports are throttled at the source: at most one
per upload every PROGRESS_INTERVAL on this node (the uploader's socket is on one node), plus the last.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from roughcut.domain import errors
from roughcut.domain.events import FILE_REMOVED, VERSION_ADDED, Audience, Committed, DomainEvent, UploadProgressed
from roughcut.domain.feedback_model import FeedbackVersion
from roughcut.domain.media import enqueue_version
from roughcut.domain.project_model import EDITORS
from roughcut.domain.projects import require_role
from roughcut.domain.transactions import writes
from roughcut.domain.upload_model import ProjectFile, Purpose, SignedFile, UploadStatus
from roughcut.domain.uploads import Uploads, mine

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = timedelta(milliseconds=250)  # at most 4 progress events a second per upload
PROGRESS_MEMORY = 10_000  # uploads whose last report this node remembers (oldest forgotten first)


async def list_files(deps: Uploads, user_id: int, project_id: int) -> list[SignedFile]:
    """A member's view of the project's files, each with a short-lived download URL."""
    async with deps.uow() as uow:
        await require_role(uow, project_id, user_id)
        files = await uow.files.list(project_id)
    ttl = deps.policy.url_ttl
    signed = []
    for f in files:
        url = await deps.blobs.sign_get(f.key, expires_in=ttl, filename=f.filename)
        preview = await deps.blobs.sign_get(f.preview_key, expires_in=ttl) if f.preview_key else None
        signed.append(SignedFile(f, url, preview))
    return signed


async def delete_file(deps: Uploads, user_id: int, project_id: int, file_id: int) -> None:
    """Its uploader or an owner or manager removes a file; its object goes after the commit."""
    file = await _delete_file_row(deps, user_id, project_id, file_id)
    try:
        for key in (file.key, file.preview_key):
            if key is not None:
                await deps.blobs.delete(key)
    except Exception:
        log.exception("file object not deleted", extra={"file_id": file_id})


@writes
async def _delete_file_row(deps: Uploads, user_id: int, project_id: int, file_id: int) -> ProjectFile:
    async with deps.uow() as uow:
        role = await require_role(uow, project_id, user_id)
        file = await uow.files.get(file_id)
        if file is None or file.project_id != project_id:
            raise errors.NotFound("No such file.")
        if role not in EDITORS and file.uploader_id != user_id:
            raise errors.PermissionDenied("Only its uploader, an owner or a manager may remove a file.")
        await uow.files.delete(file_id)
        uow.record(DomainEvent(FILE_REMOVED, {"file_id": file_id}, project_id=project_id, actor_id=user_id))
        await uow.commit()
    return file


@writes
async def add_version(deps: Uploads, user_id: int, feedback_id: int, upload_id: int) -> FeedbackVersion:
    """A new numbered version of the thread's video, from the caller's completed feedback_version upload."""
    async with deps.uow() as uow:
        project_id = await uow.feedback.thread_project(feedback_id)
        if project_id is None:
            raise errors.NotFound("No such feedback thread.")
        await require_role(uow, project_id, user_id, EDITORS)
        upload = await mine(uow, user_id, upload_id)
        if upload.project_id != project_id or upload.purpose is not Purpose.FEEDBACK_VERSION:
            raise errors.ValidationFailed(fields={"upload_id": ["Use a feedback_version upload of this project."]})
        if not await uow.uploads.set_status(upload_id, UploadStatus.USED, UploadStatus.COMPLETED):
            raise errors.UploadNotPending("The upload is not completed, or a version was made of it already.")
        version = await uow.versions.add(feedback_id, upload.key, deps.clock.now())
        await enqueue_version(uow, version.id)
        data = {"feedback_id": feedback_id, "version": version_wire(version)}
        uow.record(DomainEvent(VERSION_ADDED, data, project_id=project_id, actor_id=user_id))
        await uow.commit()
    return version


def version_wire(v: FeedbackVersion) -> dict[str, Any]:
    return {
        "id": v.id,
        "number": v.number,
        "status": v.status,
        "duration_ms": v.duration_ms,
        "width": v.width,
        "height": v.height,
        "fps": v.fps,
        "created_at": v.created_at,
    }


@dataclass(frozen=True, slots=True)
class SignedVersion:
    version: FeedbackVersion
    url: str | None  # the video (None when it has no blob)
    poster_url: str | None  # once processing made the poster


async def sign_versions(deps: Uploads, versions: Sequence[FeedbackVersion]) -> list[SignedVersion]:
    """Versions with short-lived URLs of their video and poster, for a caller already allowed to read them."""
    ttl = deps.policy.url_ttl
    signed = []
    for v in versions:
        url = await deps.blobs.sign_get(v.key, expires_in=ttl) if v.key else None
        poster = await deps.blobs.sign_get(v.poster_key, expires_in=ttl) if v.poster_key else None
        signed.append(SignedVersion(v, url, poster))
    return signed


class ProgressThrottle:
    """Which progress reports of this node go out: one per upload per PROGRESS_INTERVAL, and the last."""

    def __init__(self) -> None:
        self._last: dict[int, datetime] = {}

    def admit(self, upload_id: int, done: bool, now: datetime) -> bool:
        last = self._last.get(upload_id)
        if not done and last is not None and now - last < PROGRESS_INTERVAL:
            return False
        self._last.pop(upload_id, None)
        if done:
            return True
        self._last[upload_id] = now  # re-inserted: the dict keeps the least recent first
        if len(self._last) > PROGRESS_MEMORY:
            self._last.pop(next(iter(self._last)))
        return True


async def report_progress(deps: Uploads, throttle: ProgressThrottle, user_id: int, upload_id: int, sent: int) -> None:
    """The uploader's bytes sent so far: relayed live (not logged) to the project's members, throttled."""
    async with deps.uow() as uow:
        upload = await mine(uow, user_id, upload_id)
        if upload.status is not UploadStatus.PENDING:
            raise errors.UploadNotPending()
        if sent > upload.size:
            raise errors.ValidationFailed(fields={"bytes": [f"At most the upload's size, {upload.size}."]})
        now = deps.clock.now()
        if upload.project_id is None or not throttle.admit(upload_id, sent == upload.size, now):
            return  # a sample file's progress concerns nobody else
        members = await uow.projects.member_ids(upload.project_id)
    change = UploadProgressed(upload.project_id, upload_id, user_id, sent, upload.size, now)
    await deps.publisher.publish([Committed(change, Audience(users=tuple(members)))])
