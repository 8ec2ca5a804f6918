"""The S3 (or compatible) blob store via aioboto3, used when S3_BUCKET is set."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aioboto3
from botocore.config import Config
from botocore.exceptions import ClientError

from roughcut.config import Settings
from roughcut.domain import errors
from roughcut.domain.file_names import content_disposition

DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
DOWNLOAD_CHUNK = 1024 * 1024
PART_ERRORS = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall"})
# SigV4 for presigned URLs too (botocore presigns with SigV2 by default, which newer regions refuse); a
# presigned PUT then signs its Content-Length and Content-Type, so S3 refuses any other size or type.
TIMEOUTS = Config(
    connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}, signature_version="s3v4"
)


class S3BlobStore:
    """Blobs as objects in one bucket; keys are the same relative paths as the local store's."""

    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.s3_bucket
        self._session = aioboto3.Session(
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key.value or None,
            region_name=settings.s3_region,
        )
        self._endpoint = settings.s3_endpoint_url or None

    def _client(self) -> Any:  # aiobotocore ships no type hints
        return self._session.client("s3", endpoint_url=self._endpoint, config=TIMEOUTS)

    async def put(self, key: str, data: bytes) -> None:
        """Store one object."""
        async with self._client() as s3:
            await s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    async def exists(self, key: str) -> bool:
        """True when the object is stored."""
        async with self._client() as s3:
            found = await s3.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(o["Key"] == key for o in found.get("Contents", []))

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`, a page at a time; deleting nothing is fine."""
        removed = 0
        async with self._client() as s3:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                for i in range(0, len(keys), DELETE_BATCH):
                    batch = keys[i : i + DELETE_BATCH]
                    await s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                    removed += len(batch)
        return removed

    async def check(self) -> None:
        """Raise when the bucket cannot be reached."""
        async with self._client() as s3:
            await s3.head_bucket(Bucket=self.bucket)

    # ---- signed URLs (presigned with SigV4; the client talks to the bucket directly) ----

    async def sign_put(self, key: str, *, size: int, content_type: str, expires_in: int) -> str:
        """A presigned PUT whose signature covers the exact length and type."""
        params = {"Bucket": self.bucket, "Key": key, "ContentLength": size, "ContentType": content_type}
        async with self._client() as s3:
            url: str = await s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return url

    async def sign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A presigned GET, downloaded as `filename` when given."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        async with self._client() as s3:
            url: str = await s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    async def start_multipart(self, key: str, content_type: str) -> str:
        """Begin a multipart upload."""
        async with self._client() as s3:
            answer = await s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        upload_id: str = answer["UploadId"]
        return upload_id

    async def sign_part(self, key: str, upload_id: str, part_number: int, *, max_size: int, expires_in: int) -> str:
        """A presigned PUT of one part (S3 bounds a part at 5 GiB; complete checks the total)."""
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        async with self._client() as s3:
            url: str = await s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_in)
        return url

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join the parts; S3 refuses a missing part or another ETag, as the local store does."""
        numbers = [n for n, _ in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise errors.ValidationFailed(fields={"parts": ["Give each part once, in ascending order."]})
        listed = {"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]}
        async with self._client() as s3:
            try:
                await s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload=listed
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "NoSuchUpload":
                    raise errors.NotFound("No such multipart upload.") from None
                if code in PART_ERRORS:
                    raise errors.ValidationFailed(fields={"parts": [f"S3 refused the parts: {code}."]}) from None
                raise

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop a multipart upload and its parts (idempotent)."""
        async with self._client() as s3:
            try:
                await s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                    raise

    # ---- reading ----

    async def size(self, key: str) -> int | None:
        """The object's size, None when it is not stored."""
        async with self._client() as s3:
            try:
                answer = await s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                    return None
                raise
        size: int = answer["ContentLength"]
        return size

    async def head(self, key: str, length: int) -> bytes:
        """The object's first `length` bytes (one ranged GET)."""
        async with self._client() as s3:
            answer = await s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}")
            async with answer["Body"] as body:
                data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        """Delete one object; a missing one is fine."""
        async with self._client() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=key)

    async def upload(self, key: str, src: Path) -> None:
        """Store a local file (a form upload the server received), in parts when large: never whole in memory."""
        async with self._client() as s3:
            await s3.upload_file(str(src), self.bucket, key)

    async def copy_from(self, bucket: str, key: str, dest_key: str) -> bool:
        """Server-side copy of another bucket's object on the same service (in parts when large); False if
        the source object is missing."""
        async with self._client() as s3:
            try:
                await s3.copy({"Bucket": bucket, "Key": key}, self.bucket, dest_key)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                    return False
                raise
        return True

    async def download(self, key: str, dest: Path) -> None:
        """Stream the object to a local file (for processing), a chunk at a time."""
        async with self._client() as s3:
            answer = await s3.get_object(Bucket=self.bucket, Key=key)
            stream = answer["Body"]
            async with stream:
                with await asyncio.to_thread(dest.open, "wb") as out:
                    async for chunk in stream.iter_chunks(DOWNLOAD_CHUNK):
                        await asyncio.to_thread(out.write, chunk)
