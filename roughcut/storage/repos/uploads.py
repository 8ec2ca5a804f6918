"""Uploads, project files and feedback versions made from uploads."""

from __future__ import annotations

import mimetypes
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal, null, select, union_all, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from roughcut.domain.feedback_model import FeedbackVersion
from roughcut.domain.upload_model import NewUpload, ProjectFile, Purpose, SampleFile, Strategy, Upload, UploadStatus
from roughcut.storage import tables as t

UP, PF, V, U, S, L = t.uploads, t.project_files, t.feedback_versions, t.users, t.sample_files, t.legacy_files
LEGACY_SAMPLE = "sample_file"  # the kind of an imported sample file in legacy_files


def _upload(r: RowMapping) -> Upload:
    return Upload(
        id=r["id"],
        project_id=r["project_id"],
        user_id=r["user_id"],
        purpose=Purpose(r["purpose"]),
        filename=r["filename"],
        content_type=r["content_type"],
        size=r["size"],
        key=r["key"],
        strategy=Strategy(r["strategy"]),
        multipart_id=r["multipart_id"],
        part_size=r["part_size"],
        status=UploadStatus(r["status"]),
        created_at=r["created_at"],
        expires_at=r["expires_at"],
    )


def _file(r: RowMapping) -> ProjectFile:
    return ProjectFile(
        r["id"],
        r["project_id"],
        r["uploader_id"],
        r["nickname"],
        r["filename"],
        r["content_type"],
        r["size"],
        r["key"],
        r["created_at"],
        r["status"],
        r["preview_key"],
        r["width"],
        r["height"],
        r["duration_ms"],
        r["fps"],
    )


_FILES = select(PF, U.c.nickname).outerjoin(U, U.c.id == PF.c.uploader_id)


class SqlUploads:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, new: NewUpload) -> Upload:
        values = asdict(new) | {"status": UploadStatus.PENDING}
        row = (await self._conn.execute(insert(UP).values(**values).returning(*UP.c))).mappings().one()
        return _upload(row)

    async def get(self, upload_id: int) -> Upload | None:
        row = (await self._conn.execute(select(UP).where(UP.c.id == upload_id))).mappings().first()
        return _upload(row) if row is not None else None

    async def set_status(self, upload_id: int, status: UploadStatus, expected: UploadStatus) -> bool:
        """Move an upload from `expected` to `status`; False when it was no longer `expected`."""
        q = update(UP).where(UP.c.id == upload_id, UP.c.status == expected).values(status=status)
        return (await self._conn.execute(q)).rowcount == 1

    async def stale(self, before: datetime, limit: int) -> list[Upload]:
        q = (
            select(UP)
            .where(UP.c.status == UploadStatus.PENDING, UP.c.created_at < before)
            .order_by(UP.c.created_at, UP.c.id)
            .limit(limit)
        )
        return [_upload(r) for r in (await self._conn.execute(q)).mappings()]


class SqlProjectFiles:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, upload: Upload, now: datetime, status: str) -> ProjectFile:
        values = {
            "status": status,
            "project_id": upload.project_id,
            "uploader_id": upload.user_id,
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": upload.size,
            "key": upload.key,
            "created_at": now,
        }
        file_id = (await self._conn.execute(insert(PF).values(**values).returning(PF.c.id))).scalar_one()
        found = await self.get(file_id)
        assert found is not None
        return found

    async def get(self, file_id: int) -> ProjectFile | None:
        row = (await self._conn.execute(_FILES.where(PF.c.id == file_id))).mappings().first()
        return _file(row) if row is not None else None

    async def list(self, project_id: int) -> list[ProjectFile]:
        q = _FILES.where(PF.c.project_id == project_id).order_by(PF.c.id.desc())
        return [_file(r) for r in (await self._conn.execute(q)).mappings()]

    async def delete(self, file_id: int) -> None:
        await self._conn.execute(delete(PF).where(PF.c.id == file_id))

    async def processed(self, file_id: int, status: str, **fields: Any) -> None:
        """Record what processing made (preview_key, width, height, duration_ms) and the new status."""
        await self._conn.execute(update(PF).where(PF.c.id == file_id).values(status=status, **fields))


class SqlVersions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, feedback_id: int, key: str, now: datetime) -> FeedbackVersion:
        """The thread's next numbered version (numbers are given out under the project lock)."""
        last = select(func.coalesce(func.max(V.c.number), 0)).where(V.c.feedback_id == feedback_id)
        number = int((await self._conn.execute(last)).scalar_one()) + 1
        values = {"feedback_id": feedback_id, "number": number, "blob_key": key, "created_at": now}
        row = (await self._conn.execute(insert(V).values(**values).returning(*V.c))).mappings().one()
        return _version(row)

    async def get(self, version_id: int) -> tuple[FeedbackVersion, str, int] | None:
        """A version with its blob key and its project."""
        q = select(V, t.feedback_threads.c.project_id).join(
            t.feedback_threads, t.feedback_threads.c.id == V.c.feedback_id
        )
        row = (await self._conn.execute(q.where(V.c.id == version_id))).mappings().first()
        return None if row is None else (_version(row), row["blob_key"], row["project_id"])

    async def processed(self, version_id: int, status: str, **fields: Any) -> None:
        """Record what processing found (duration_ms, width, height, poster_key) and the new status."""
        await self._conn.execute(update(V).where(V.c.id == version_id).values(status=status, **fields))


def _version(row: RowMapping) -> FeedbackVersion:
    return FeedbackVersion(
        row["id"], row["number"], row["duration_ms"], row["width"], row["height"], row["status"], row["created_at"],
        row["fps"], row["blob_key"], row["poster_key"],
    )  # fmt: skip


def _sample(r: RowMapping) -> SampleFile:
    legacy = bool(r["legacy"])
    name = r["filename"] or r["key"].rsplit("/", 1)[-1]
    content_type = r["content_type"] or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return SampleFile(r["id"], name, content_type, r["size"], r["key"], r["created_at"], legacy)


_UPLOADED = select(
    S.c.id, S.c.filename, S.c.content_type, S.c.size, S.c.key, S.c.created_at, literal(False).label("legacy")
)
# Imported sample files: rows of no project in legacy_files, their object at the old key.
_IMPORTED = select(
    L.c.id,
    null().label("filename"),
    null().label("content_type"),
    null().label("size"),
    L.c.object_key.label("key"),
    L.c.created_at,
    literal(True).label("legacy"),
).where(L.c.kind == LEGACY_SAMPLE, L.c.project_id.is_(None))


class SqlSampleFiles:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, upload: Upload, now: datetime) -> SampleFile:
        values: dict[str, Any] = {"uploader_id": upload.user_id, "filename": upload.filename, "size": upload.size}
        values.update(content_type=upload.content_type, key=upload.key, created_at=now)
        sample_id = (await self._conn.execute(insert(S).values(**values).returning(S.c.id))).scalar_one()
        return SampleFile(sample_id, upload.filename, upload.content_type, upload.size, upload.key, now)

    async def list(self) -> list[SampleFile]:
        """Uploaded ones, then imported ones, newest first within each."""
        both = union_all(_UPLOADED, _IMPORTED).subquery()
        q = select(both).order_by(both.c.legacy, both.c.created_at.desc(), both.c.id.desc())
        return [_sample(r) for r in (await self._conn.execute(q)).mappings()]

    async def get(self, sample_id: int) -> SampleFile | None:
        row = (await self._conn.execute(_UPLOADED.where(S.c.id == sample_id))).mappings().first()
        return None if row is None else _sample(row)

    async def delete(self, sample_id: int) -> None:
        await self._conn.execute(delete(S).where(S.c.id == sample_id))
