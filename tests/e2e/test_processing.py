"""Media processing on the job queue: an image's thumbnail, a video's poster and metadata (real files made in
the test with Pillow and ffmpeg), and a poison video that ends `processing.failed` without holding the queue."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import select

from roughcut import keys
from roughcut.config import Settings
from roughcut.domain.media import MEDIA_ATTEMPTS, MEDIA_KIND
from roughcut.storage import tables as t
from tests.conftest import AppFactory
from tests.e2e.test_uploads import API, fetch, ok, team, upload_file
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth

Client = TestClient[Any, Any]
WAIT = 20.0  # retries back off for about 1 + 2 s before a poison file is given up


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def mp4(folder: Path) -> bytes:
    """Two seconds of ffmpeg's test pattern at 320x240."""
    path = folder / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def until(feed: Feed, kind: str, **data: Any) -> dict[str, Any]:
    """The next event of a type whose data has these fields (others are skipped)."""
    async with asyncio.timeout(WAIT):
        while True:
            event = await feed.events.get()
            if event["type"] == kind and all(event["data"].get(k) == v for k, v in data.items()):
                return event


async def app(make_client: AppFactory, settings: Settings) -> Client:
    return await make_client(settings, job_worker=True, job_poll_interval=0.05)


async def test_images_get_thumbnails_and_videos_posters(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox, tmp_path: Path
) -> None:
    client = await app(make_client, pg_settings)
    settings = client.app[keys.SETTINGS]
    owner, _member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    await feed.subscribe(pid)
    try:
        done = await upload_file(client, settings, owner, pid, png(800, 600), "image/png")
        assert done["file"]["status"] == "processing"
        file_id = done["file"]["id"]
        finished = await until(feed, "processing.done", file_id=file_id)
        assert (finished["data"]["width"], finished["data"]["height"]) == (800, 600)
        (item,) = (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"]
        assert (item["status"], item["width"], item["height"]) == ("ready", 800, 600)
        status, preview = await fetch(client, settings, item["preview_url"])
        assert status == 200 and preview[:4] == b"RIFF" and preview[8:12] == b"WEBP"
        assert max(Image.open(io.BytesIO(preview)).size) == 480

        fid = (await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner))))["items"][0]["id"]
        video = {"purpose": "feedback_version", "filename": "cut.mp4"}
        uploaded = await upload_file(client, settings, owner, pid, mp4(tmp_path), "video/mp4", **video)
        body = {"upload_id": uploaded["id"]}
        version = await ok(await client.post(f"{API}/feedback/{fid}/versions", json=body, headers=auth(owner)), 201)
        finished = await until(feed, "processing.done", version_id=version["id"])
        assert (finished["data"]["width"], finished["data"]["height"]) == (320, 240)
        assert 1900 <= finished["data"]["duration_ms"] <= 2100
        thread = await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(owner)))
        (shown,) = thread["versions"]
        assert (shown["status"], shown["width"], shown["height"]) == ("ready", 320, 240)
    finally:
        await feed.close()


async def test_a_poison_video_fails_after_its_retries_without_holding_the_queue(
    make_client: AppFactory, sqlite_settings: Settings, mailbox: Mailbox
) -> None:
    client = await app(make_client, sqlite_settings)
    settings = client.app[keys.SETTINGS]
    owner, _member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    await feed.subscribe(pid)
    try:
        poison = b"\x00\x00\x00\x18ftypmp42" + b"\xde\xad\xbe\xef" * 2000  # an mp4 signature, then garbage
        bad = await upload_file(client, settings, owner, pid, poison, "video/mp4", filename="broken.mp4")
        good = await upload_file(client, settings, owner, pid, png(64, 48), "image/png")
        # The image is done while the poison file still waits for its retries.
        await until(feed, "processing.done", file_id=good["file"]["id"])
        failed = await until(feed, "processing.failed", file_id=bad["file"]["id"])
        assert "MediaError" in failed["data"]["error"]
        items = (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"]
        assert {i["id"]: i["status"] for i in items} == {bad["file"]["id"]: "failed", good["file"]["id"]: "ready"}
        async with client.app[keys.ENGINE].connect() as conn:
            q = select(t.jobs.c.status, t.jobs.c.attempts).where(
                t.jobs.c.kind == MEDIA_KIND, t.jobs.c.key == f"file:{bad['file']['id']}"
            )
            assert (await conn.execute(q)).one() == ("done", MEDIA_ATTEMPTS)
    finally:
        await feed.close()
