"""`import-legacy --copy-files`: old objects copied into roughcut's store (local folder, and S3 server-side)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

import boto3
from sqlalchemy import select

from roughcut.config import Secret, Settings
from roughcut.legacy.cli import run_import
from roughcut.legacy.files import MISSING, REPORT_TABLE
from roughcut.legacy.report import Report
from roughcut.services import blob_stores
from roughcut.storage import tables as t
from tests.integration import test_legacy_import
from tests.integration.test_legacy_import import SMALL_BATCH, World, rows

world = test_legacy_import.world  # the old database on PostgreSQL and on SQLite, and a fresh roughcut one

BRIEF = b"%PDF-1.4 brief " + "기획".encode() * 1000
REVIEW = b"\x00\x00\x00\x18ftypmp42 review"


def _copied(report: Report) -> tuple[int, int, dict[str, int]]:
    table = report.by_table()[REPORT_TABLE]
    return table.read, table.imported, dict(table.skipped)


async def _keys(settings: Settings) -> tuple[list[tuple[str, int]], list[str | None]]:
    files = await rows(settings, select(t.project_files.c.key, t.project_files.c.size))
    videos = await rows(settings, select(t.feedback_versions.c.blob_key))
    return [(f["key"], f["size"]) for f in files], [v["blob_key"] for v in videos]


async def test_copy_from_a_folder_streams_into_the_local_store_and_runs_again_idempotently(
    world: World, tmp_path: Path
) -> None:
    old = tmp_path / "media"
    (old / "project_file").mkdir(parents=True)
    (old / "project_file" / "brief.pdf").write_bytes(BRIEF)  # the review video is gone from the old storage
    first = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH, files_from=str(old))
    assert _copied(first) == (2, 1, {MISSING: 1})
    files, videos = await _keys(world.settings)
    ((key, size),) = files
    assert key.endswith("/legacy/project_file/brief.pdf")
    assert key.startswith("projects/")
    assert size == len(BRIEF)
    assert videos == ["feedback_file/review.mp4"]  # still the old key: nothing to copy from
    blobs, _gate = blob_stores(world.settings)
    assert await blobs.head(key, len(BRIEF)) == BRIEF

    (old / "feedback_file").mkdir()
    (old / "feedback_file" / "review.mp4").write_bytes(REVIEW)
    second = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH, files_from=str(old))
    assert _copied(second) == (1, 1, {})  # only what was left
    _files, (video,) = await _keys(world.settings)
    assert video is not None
    assert await blobs.head(video, len(REVIEW)) == REVIEW
    third = await run_import(world.settings, world.source, dry=False, batch_size=SMALL_BATCH, files_from=str(old))
    assert _copied(third) == (0, 0, {})
    assert await _keys(world.settings) == ([(key, size)], [video])


async def test_copy_between_buckets_of_one_s3_service_is_server_side(world: World, s3_endpoint: str) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    old_bucket, new_bucket = f"vridge-{uuid.uuid4().hex[:10]}", f"rc-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=old_bucket)
    s3.create_bucket(Bucket=new_bucket)
    s3.put_object(Bucket=old_bucket, Key="project_file/brief.pdf", Body=BRIEF)
    s3.put_object(Bucket=old_bucket, Key="feedback_file/review.mp4", Body=REVIEW)
    settings = replace(
        world.settings,
        s3_bucket=new_bucket,
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key=Secret("test"),
    )
    source = f"s3://{old_bucket}"
    first = await run_import(settings, world.source, dry=False, batch_size=SMALL_BATCH, files_from=source)
    assert _copied(first) == (2, 2, {})
    ((key, size),), (video,) = await _keys(settings)
    assert size == len(BRIEF)
    assert s3.get_object(Bucket=new_bucket, Key=key)["Body"].read() == BRIEF
    assert video is not None
    assert s3.get_object(Bucket=new_bucket, Key=video)["Body"].read() == REVIEW
    again = await run_import(settings, world.source, dry=False, batch_size=SMALL_BATCH, files_from=source)
    assert _copied(again) == (0, 0, {})
    assert len(s3.list_objects_v2(Bucket=new_bucket)["Contents"]) == 2
