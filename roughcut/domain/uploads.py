"""Uploads straight to the blob store: start (signed URLs), parts, complete (checked), abort, and the sweeper.

Bytes never pass through a use case: clients PUT them to signed URLs. `complete` then checks what arrived
(the stored size and the first bytes' signature against the declared type) before anything refers to it;
a mismatch deletes the object. Blob calls run outside transactions, so a slow store never holds a
database connection: a write that follows re-reads (and locks) what it depends on.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from roughcut.domain import errors
from roughcut.domain.events import FILE_ADDED, UPLOAD_COMPLETED, DomainEvent
from roughcut.domain.file_names import sanitize_filename
from roughcut.domain.learning import require_admin
from roughcut.domain.media import PROCESSING, READY, enqueue_file, needs_processing
from roughcut.domain.ports import BlobStore, Clock, EventPublisher, UnitOfWork, UnitOfWorkFactory
from roughcut.domain.project_model import EDITORS, Role
from roughcut.domain.projects import project_prefix, require_role
from roughcut.domain.transactions import writes
from roughcut.domain.upload_model import (
    MAX_PARTS_PER_CALL,
    S3_MAX_PARTS,
    SIGNATURE_BYTES,
    NewUpload,
    ProjectFile,
    Purpose,
    SampleFile,
    Strategy,
    Upload,
    UploadPolicy,
    UploadStatus,
    UploadTicket,
    matches_type,
)

log = logging.getLogger(__name__)

MIB = 1024 * 1024
SWEEP_BATCH = 100  # stale uploads aborted per sweeper run; the next run takes the rest
SAMPLE_PREFIX = "samples/"  # where sample files live in the blob store


@dataclass(frozen=True, slots=True)
class Uploads:
    """The ports the upload use cases work with."""

    uow: UnitOfWorkFactory
    clock: Clock
    blobs: BlobStore
    policy: UploadPolicy
    publisher: EventPublisher  # live-only progress goes straight to it, after a read


@dataclass(frozen=True, slots=True)
class StartUpload:
    project_id: int | None  # None only for a sample file
    purpose: Purpose
    filename: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Completed:
    upload: Upload
    file: ProjectFile | None
    sample: SampleFile | None = None


def media_type(content_type: str) -> str:
    """`Video/MP4; codecs=...` is `video/mp4`."""
    return content_type.split(";", 1)[0].strip().lower()


def _part_size(policy: UploadPolicy, size: int) -> int:
    # At most S3_MAX_PARTS parts: a file too large for the configured part size gets larger parts.
    needed = -(-size // S3_MAX_PARTS)
    return max(policy.part_bytes, -(-needed // MIB) * MIB)


def _check(policy: UploadPolicy, cmd: StartUpload) -> str:
    kind = media_type(cmd.content_type)
    if kind not in policy.types(cmd.purpose):
        allowed = ", ".join(sorted(policy.types(cmd.purpose)))
        raise errors.ValidationFailed(fields={"content_type": [f"A {cmd.purpose} takes {allowed}."]})
    limit = policy.limit(cmd.purpose)
    if cmd.size > limit:
        raise errors.ValidationFailed(fields={"size": [f"A {cmd.purpose} is at most {limit} bytes."]})
    if (cmd.project_id is None) is not (cmd.purpose is Purpose.SAMPLE_FILE):
        need = "A sample file belongs to no project." if cmd.project_id is not None else "Name the project."
        raise errors.ValidationFailed(fields={"project_id": [need]})
    return kind


async def allowed(uow: UnitOfWork, user_id: int, project_id: int | None, roles: frozenset[Role] | None = None) -> None:
    """A project's upload is its members' (`roles` when given); a sample file's (no project) administrators'."""
    if project_id is None:
        await require_admin(uow, user_id)
    else:
        await require_role(uow, project_id, user_id, roles)


def _roles(purpose: Purpose) -> frozenset[Role] | None:
    return EDITORS if purpose is Purpose.FEEDBACK_VERSION else None


async def _member(deps: Uploads, user_id: int, project_id: int | None, purpose: Purpose) -> None:
    async with deps.uow() as uow:
        await allowed(uow, user_id, project_id, _roles(purpose))


def _key(cmd: StartUpload) -> str:
    folder = SAMPLE_PREFIX if cmd.project_id is None else f"{project_prefix(cmd.project_id)}uploads/"
    return f"{folder}{uuid.uuid4().hex}"


def _new_upload(
    deps: Uploads, user_id: int, cmd: StartUpload, kind: str, key: str, multipart_id: str | None
) -> NewUpload:
    now = deps.clock.now()
    return NewUpload(
        project_id=cmd.project_id,
        user_id=user_id,
        purpose=cmd.purpose,
        filename=sanitize_filename(cmd.filename),
        content_type=kind,
        size=cmd.size,
        key=key,
        strategy=Strategy.SINGLE if multipart_id is None else Strategy.MULTIPART,
        multipart_id=multipart_id,
        part_size=None if multipart_id is None else _part_size(deps.policy, cmd.size),
        created_at=now,
        expires_at=now + timedelta(seconds=deps.policy.stale_after),
    )


async def start_upload(deps: Uploads, user_id: int, cmd: StartUpload) -> UploadTicket:
    """Check role, size and type; answer a signed PUT (small files) or a multipart upload to sign parts for."""
    kind = _check(deps.policy, cmd)
    await _member(deps, user_id, cmd.project_id, cmd.purpose)  # before any blob call
    key = _key(cmd)
    multipart = cmd.size > deps.policy.single_max_bytes
    multipart_id = await deps.blobs.start_multipart(key, kind) if multipart else None
    new = _new_upload(deps, user_id, cmd, kind, key, multipart_id)
    try:
        upload = await _store_upload(deps, user_id, new)
    except BaseException:
        if multipart_id is not None:
            await deps.blobs.abort_multipart(key, multipart_id)
        raise
    if multipart:
        return UploadTicket(upload, None)
    url = await deps.blobs.sign_put(key, size=cmd.size, content_type=kind, expires_in=deps.policy.url_ttl)
    return UploadTicket(upload, url)


@writes
async def _store_upload(deps: Uploads, user_id: int, new: NewUpload) -> Upload:
    async with deps.uow() as uow:
        await allowed(uow, user_id, new.project_id, _roles(new.purpose))
        upload = await uow.uploads.add(new)
        await uow.commit()
    return upload


async def mine(uow: UnitOfWork, user_id: int, upload_id: int) -> Upload:
    """The caller's own upload, in a project they are still a member of (a sample file's: still an
    administrator); anything else is not found."""
    upload = await uow.uploads.get(upload_id)
    if upload is None or upload.user_id != user_id:
        raise errors.NotFound("No such upload.")
    await allowed(uow, user_id, upload.project_id)
    return upload


async def _pending(deps: Uploads, user_id: int, upload_id: int) -> Upload:
    async with deps.uow() as uow:
        upload = await mine(uow, user_id, upload_id)
    if upload.status is not UploadStatus.PENDING:
        raise errors.UploadNotPending()
    return upload


async def sign_parts(deps: Uploads, user_id: int, upload_id: int, numbers: Sequence[int]) -> list[tuple[int, str]]:
    """Signed PUT URLs for parts of the caller's pending multipart upload."""
    upload = await _pending(deps, user_id, upload_id)
    if upload.strategy is not Strategy.MULTIPART or upload.multipart_id is None or upload.part_size is None:
        raise errors.ValidationFailed(fields={"part_numbers": ["This upload is a single PUT."]})
    if len(set(numbers)) != len(numbers) or len(numbers) > MAX_PARTS_PER_CALL:
        raise errors.ValidationFailed(fields={"part_numbers": [f"Up to {MAX_PARTS_PER_CALL} distinct parts."]})
    if any(not 1 <= n <= upload.part_count for n in numbers):
        raise errors.ValidationFailed(fields={"part_numbers": [f"Parts are numbered 1 to {upload.part_count}."]})
    signed = []
    for n in numbers:
        size = min(upload.part_size, upload.size - (n - 1) * upload.part_size)
        url = await deps.blobs.sign_part(
            upload.key, upload.multipart_id, n, max_size=size, expires_in=deps.policy.url_ttl
        )
        signed.append((n, url))
    return signed


async def complete_upload(deps: Uploads, user_id: int, upload_id: int, parts: Sequence[tuple[int, str]]) -> Completed:
    """Join the parts, check the stored size and signature, then keep it (a project file is listed now)."""
    upload = await _pending(deps, user_id, upload_id)
    if upload.strategy is Strategy.MULTIPART:
        assert upload.multipart_id is not None
        if not parts:
            raise errors.ValidationFailed(fields={"parts": ["A multipart upload names its parts and ETags."]})
        await deps.blobs.complete_multipart(upload.key, upload.multipart_id, parts)
    size = await deps.blobs.size(upload.key)
    if size is None:
        raise errors.UploadIncomplete()
    head = await deps.blobs.head(upload.key, SIGNATURE_BYTES) if size == upload.size else b""
    if size != upload.size or not matches_type(upload.content_type, head):
        await deps.blobs.delete(upload.key)
        await _abort(deps, upload)
        reason = "size" if size != upload.size else "signature"
        details: dict[str, Any] = {"reason": reason, "declared_size": upload.size, "stored_size": size}
        raise errors.ContentMismatch(details=details)
    return await _keep(deps, user_id, upload)


async def receive_upload(deps: Uploads, user_id: int, cmd: StartUpload, src: Path) -> Completed:
    """A file the server received itself (the old app's multipart form, spooled to disk): stored through the
    blob port, then checked and kept as a signed PUT's is (complete_upload)."""
    kind = _check(deps.policy, cmd)
    await _member(deps, user_id, cmd.project_id, cmd.purpose)
    upload = await _store_upload(deps, user_id, _new_upload(deps, user_id, cmd, kind, _key(cmd), None))
    try:
        await deps.blobs.upload(upload.key, src)
    except BaseException:
        await _abort(deps, upload)
        raise
    return await complete_upload(deps, user_id, upload.id, [])


@writes
async def _keep(deps: Uploads, user_id: int, upload: Upload) -> Completed:
    async with deps.uow() as uow:
        await allowed(uow, user_id, upload.project_id)
        if not await uow.uploads.set_status(upload.id, UploadStatus.COMPLETED, UploadStatus.PENDING):
            raise errors.UploadNotPending()
        kept = await uow.uploads.get(upload.id)
        assert kept is not None
        if kept.project_id is None:  # a sample file: no project hears of it
            sample = await uow.samples.add(kept, deps.clock.now())
            await uow.commit()
            return Completed(kept, None, sample)
        file = None
        if kept.purpose is Purpose.PROJECT_FILE:
            processed = needs_processing(kept.content_type)
            file = await uow.files.add(kept, deps.clock.now(), PROCESSING if processed else READY)
            if processed:
                await enqueue_file(uow, file.id)
        data: dict[str, Any] = {"upload_id": kept.id, "purpose": kept.purpose.value, "filename": kept.filename}
        data.update(content_type=kept.content_type, size=kept.size)
        uow.record(DomainEvent(UPLOAD_COMPLETED, data, project_id=kept.project_id, actor_id=user_id))
        if file is not None:
            uow.record(DomainEvent(FILE_ADDED, {"file": file_wire(file)}, project_id=kept.project_id, actor_id=user_id))
        await uow.commit()
    return Completed(kept, file)


def file_wire(file: ProjectFile) -> dict[str, Any]:
    """A project file in events: what the list shows, without its (short-lived) URL."""
    return {
        "id": file.id,
        "filename": file.filename,
        "content_type": file.content_type,
        "size": file.size,
        "status": file.status,
        "uploader": None if file.uploader_id is None else {"id": file.uploader_id, "nickname": file.uploader_nickname},
        "created_at": file.created_at,
    }


async def abort_upload(deps: Uploads, user_id: int, upload_id: int) -> None:
    """Abort the caller's pending upload: nothing of it is kept (aborting twice is fine)."""
    async with deps.uow() as uow:
        upload = await mine(uow, user_id, upload_id)
    if upload.status is UploadStatus.ABORTED:
        return
    if upload.status is not UploadStatus.PENDING:
        raise errors.UploadNotPending()
    await _abort(deps, upload)
    await _drop_bytes(deps.blobs, upload)


@writes
async def _abort(deps: Uploads, upload: Upload) -> bool:
    async with deps.uow() as uow:
        aborted = await uow.uploads.set_status(upload.id, UploadStatus.ABORTED, UploadStatus.PENDING)
        await uow.commit()
    return aborted


async def _drop_bytes(blobs: BlobStore, upload: Upload) -> None:
    if upload.multipart_id is not None:
        await blobs.abort_multipart(upload.key, upload.multipart_id)
    await blobs.delete(upload.key)


async def sweep_stale_uploads(deps: Uploads) -> int:
    """Abort uploads left pending past `stale_after` (the sweeper job); answers how many."""
    before = deps.clock.now() - timedelta(seconds=deps.policy.stale_after)
    async with deps.uow() as uow:
        stale = await uow.uploads.stale(before, SWEEP_BATCH)
    swept = 0
    for upload in stale:
        if await _abort(deps, upload):  # a complete that won the race keeps its upload
            await _drop_bytes(deps.blobs, upload)
            swept += 1
    return swept


def expires_at(deps: Uploads, now: datetime) -> datetime:
    """When URLs signed now stop working."""
    return now + timedelta(seconds=deps.policy.url_ttl)
