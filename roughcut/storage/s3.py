"""The S3 (or compatible) blob store via aioboto3, used when S3_BUCKET is set."""

from __future__ import annotations

from typing import Any

import aioboto3
from botocore.config import Config

from roughcut.config import Settings

DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
TIMEOUTS = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


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
