"""`import-legacy --copy-files`: the old objects of imported files copied into roughcut's blob store.

Imported rows point at the old keys (`project_file/...`, the review video's `feedback_file/...`). Each is
copied to `projects/{project_id}/legacy/{old key}`: a server-side copy when the old bucket is on the same S3
service as roughcut's store, streamed through a temporary file otherwise. The row then points at the copy
(a project file learns its size), so a second run finds nothing left to copy; a run killed between a copy
and its row copies that one object again, to the same key.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioboto3
from botocore.exceptions import ClientError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from roughcut.config import Settings
from roughcut.domain.ports import BlobStore
from roughcut.domain.projects import project_prefix
from roughcut.legacy.report import Report, TableReport
from roughcut.storage import tables as t
from roughcut.storage.db import begin_write
from roughcut.storage.s3 import DOWNLOAD_CHUNK, S3BlobStore

REPORT_TABLE = "files (--copy-files)"
MISSING = "object missing in the old storage"
OLD_PREFIXES = ("project_file/", "feedback_file/")
S3_SCHEME = "s3://"


@dataclass(frozen=True, slots=True)
class OldFile:
    kind: str  # "file" or "video": which table the row is in
    row_id: int
    project_id: int
    key: str

    @property
    def target(self) -> str:
        return f"{project_prefix(self.project_id)}legacy/{self.key}"


class FolderSource:
    """The old media folder (Django's MEDIA_ROOT, or a synced copy of the bucket)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def fetch(self, key: str, dest: Path) -> bool:
        src = (self.root / key).resolve()
        if self.root.resolve() not in src.parents or not await asyncio.to_thread(src.is_file):
            return False
        await asyncio.to_thread(shutil.copyfile, src, dest)
        return True


class BucketSource:
    """The old bucket, reached with roughcut's S3 credentials and endpoint."""

    def __init__(self, settings: Settings, bucket: str) -> None:
        self.bucket = bucket
        self._session = aioboto3.Session(
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key.value or None,
            region_name=settings.s3_region,
        )
        self._endpoint = settings.s3_endpoint_url or None

    async def fetch(self, key: str, dest: Path) -> bool:
        async with self._session.client("s3", endpoint_url=self._endpoint) as s3:
            try:
                answer = await s3.get_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                    return False
                raise
            async with answer["Body"] as stream:
                with await asyncio.to_thread(dest.open, "wb") as out:
                    async for chunk in stream.iter_chunks(DOWNLOAD_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
        return True


Source = FolderSource | BucketSource


def open_source(settings: Settings, where: str) -> Source:
    """`s3://bucket` or a folder."""
    if where.startswith(S3_SCHEME):
        return BucketSource(settings, where.removeprefix(S3_SCHEME).strip("/"))
    root = Path(where)
    if not root.is_dir():
        raise FileNotFoundError(f"no such folder of old files: {where}")
    return FolderSource(root)


async def _pending(engine: AsyncEngine) -> list[OldFile]:
    f, v, th = t.project_files.c, t.feedback_versions.c, t.feedback_threads.c
    old_file = f.key.startswith(OLD_PREFIXES[0]) | f.key.startswith(OLD_PREFIXES[1])
    old_video = v.blob_key.startswith(OLD_PREFIXES[0]) | v.blob_key.startswith(OLD_PREFIXES[1])
    async with engine.connect() as conn:
        files = await conn.execute(select(f.id, f.project_id, f.key).where(old_file).order_by(f.id))
        videos = await conn.execute(
            select(v.id, th.project_id, v.blob_key)
            .join(t.feedback_threads, th.id == v.feedback_id)
            .where(old_video)
            .order_by(v.id)
        )
        found = [OldFile("file", i, p, k) for i, p, k in files]
        found += [OldFile("video", i, p, k) for i, p, k in videos]
    return found


class Copier:
    """Copies every pending old object once: server-side when both are buckets on one S3 service."""

    def __init__(self, engine: AsyncEngine, blobs: BlobStore, source: Source) -> None:
        self._engine, self._blobs, self._source = engine, blobs, source
        self._server_side = isinstance(blobs, S3BlobStore) and isinstance(source, BucketSource)

    async def run(self, report: Report) -> None:
        table = report.table(REPORT_TABLE)
        pending = await _pending(self._engine)
        with tempfile.TemporaryDirectory(prefix="roughcut-copy-") as folder:
            for old in pending:
                await self._one(old, Path(folder) / "object", table)

    async def _one(self, old: OldFile, spool: Path, table: TableReport) -> None:
        digest = hashlib.sha256(f"{old.kind}:{old.key}".encode()).hexdigest()
        size = await self._copy(old, spool)
        if size is None:
            table.skip(old.row_id, digest, MISSING)
            return
        await self._point(old, size)
        table.ok(old.row_id, digest, changed=True)

    async def _copy(self, old: OldFile, spool: Path) -> int | None:
        if self._server_side:
            assert isinstance(self._blobs, S3BlobStore)
            assert isinstance(self._source, BucketSource)
            if not await self._blobs.copy_from(self._source.bucket, old.key, old.target):
                return None
            return await self._blobs.size(old.target)
        try:
            if not await self._source.fetch(old.key, spool):
                return None
            await self._blobs.upload(old.target, spool)
            return (await asyncio.to_thread(spool.stat)).st_size
        finally:
            await asyncio.to_thread(spool.unlink, True)

    async def _point(self, old: OldFile, size: int | None) -> None:
        async with begin_write(self._engine) as conn:
            if old.kind == "file":
                values: dict[str, Any] = {"key": old.target, "size": size or 0}
                await conn.execute(update(t.project_files).where(t.project_files.c.id == old.row_id).values(values))
            else:
                q = update(t.feedback_versions).where(t.feedback_versions.c.id == old.row_id)
                await conn.execute(q.values(blob_key=old.target))


async def copy_files(engine: AsyncEngine, blobs: BlobStore, source: Source, report: Report) -> None:
    """Copy what is left to copy, counting into `report`."""
    await Copier(engine, blobs, source).run(report)
