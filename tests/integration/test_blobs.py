"""Both blob stores against the same contract: the local folder, and S3 through moto's real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import boto3
import pytest

from roughcut.config import Secret, Settings
from roughcut.domain.ports import BlobStore
from roughcut.storage.blobs import LocalBlobStore
from roughcut.storage.s3 import S3BlobStore


def s3_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        s3_bucket=bucket, s3_endpoint_url=endpoint, s3_access_key_id="test", s3_secret_access_key=Secret("test")
    )


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[BlobStore]:
    if request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs")
        return
    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    yield S3BlobStore(s3_settings(s3_endpoint, bucket))


async def test_delete_prefix_removes_only_that_prefix(store: BlobStore) -> None:
    await store.check()
    for name in ("a.mp4", "b/c.png", "d.txt"):
        await store.put(f"projects/7/{name}", b"x")
    await store.put("projects/70/keep.mp4", b"y")
    await store.put("projects/8/keep.mp4", b"z")
    assert await store.exists("projects/7/b/c.png")
    assert await store.delete_prefix("projects/7/") == 3
    assert not await store.exists("projects/7/a.mp4")
    assert await store.exists("projects/70/keep.mp4")
    assert await store.exists("projects/8/keep.mp4")
    assert await store.delete_prefix("projects/7/") == 0  # idempotent


async def test_check_fails_for_a_missing_bucket(s3_endpoint: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - botocore's ClientError
        await S3BlobStore(s3_settings(s3_endpoint, "no-such-bucket")).check()


def test_local_keys_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path)._path("../outside")
