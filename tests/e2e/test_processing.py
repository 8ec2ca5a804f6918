"""Media processing on the job queue: an image's thumbnail, a video's poster and metadata (real files made in
the test with Pillow and ffmpeg), `processing.progress` before `processing.done`, and every way a job can be
given up on (a poison video, a decoder that crashes or hangs, a worker killed on the last attempt) ending
`processing.failed` without holding the queue."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy import select, update

from roughcut import keys
from roughcut.app import SERVICES
from roughcut.config import Settings
from roughcut.domain.media import MEDIA_ATTEMPTS, MEDIA_KIND
from roughcut.jobs import upload_jobs
from roughcut.storage import tables as t
from tests.conftest import AppFactory
from tests.e2e.test_uploads import API, fetch, ok, team, upload_file
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth

pytestmark = pytest.mark.usefixtures("empty_job_queue")  # a worker here must not run other tests' jobs

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


async def types_until(feed: Feed, kind: str, **data: Any) -> list[str]:
    """The types of the events about one target (the `data` fields) up to and including one of `kind`."""
    seen: list[str] = []
    async with asyncio.timeout(WAIT):
        while not seen or seen[-1] != kind:
            event = await feed.events.get()
            if all(event["data"].get(k) == v for k, v in data.items()):
                seen.append(event["type"])
    return seen


async def buried(client: Client, key: str) -> int:
    """Wait until the media job is dead (it is buried right after its `processing.failed`); its attempts."""
    q = select(t.jobs.c.status, t.jobs.c.attempts).where(t.jobs.c.kind == MEDIA_KIND, t.jobs.c.key == key)
    async with asyncio.timeout(WAIT):
        while True:
            async with client.app[keys.ENGINE].connect() as conn:
                status, attempts = (await conn.execute(q)).one()
            if status == "dead":
                return int(attempts)
            await asyncio.sleep(0.05)


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
        assert done["file"]["status"] == "processing" and done["file"]["thumbnail_url"] is None
        file_id = done["file"]["id"]
        seen = await types_until(feed, "processing.done", file_id=file_id)
        assert seen[0] == "processing.progress" and set(seen[:-1]) == {"processing.progress"}, seen
        assert len(seen) - 1 <= 3  # one per stage at most (and throttled to 4 a second)
        (item,) = (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"]
        assert (item["status"], item["width"], item["height"], item["name"]) == ("ready", 800, 600, "still.png")
        assert item["thumbnail_url"] == item["preview_url"] and item["uploaded_by"]["id"] == owner["user"]["id"]
        log = (await ok(await client.get(f"{API}/projects/{pid}/events?limit=500", headers=auth(owner))))["items"]
        progress = [e["data"] for e in log if e["type"] == "processing.progress"]
        assert progress[0] == {"file_id": file_id, "stage": "downloading", "progress": 0.0}
        status, preview = await fetch(client, settings, item["preview_url"])
        assert status == 200 and preview[:4] == b"RIFF" and preview[8:12] == b"WEBP"
        assert max(Image.open(io.BytesIO(preview)).size) == 480

        fid = (await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner))))["items"][0]["id"]
        video = {"purpose": "feedback_version", "filename": "cut.mp4"}
        clip = mp4(tmp_path)
        uploaded = await upload_file(client, settings, owner, pid, clip, "video/mp4", **video)
        body = {"upload_id": uploaded["id"]}
        version = await ok(await client.post(f"{API}/feedback/{fid}/versions", json=body, headers=auth(owner)), 201)
        assert (version["status"], version["poster_url"], version["fps"]) == ("processing", None, None)
        assert await fetch(client, settings, version["file"]) == (200, clip)
        seen = await types_until(feed, "processing.done", version_id=version["id"])
        assert seen[0] == "processing.progress" and set(seen[:-1]) == {"processing.progress"}, seen
        finished = await until_logged(client, owner, pid, "processing.done", version_id=version["id"])
        assert (finished["width"], finished["height"], finished["fps"]) == (320, 240, 10.0)
        assert 1900 <= finished["duration_ms"] <= 2100
        thread = await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(owner)))
        (shown,) = thread["versions"]
        assert (shown["status"], shown["width"], shown["height"], shown["fps"]) == ("ready", 320, 240, 10.0)
        assert 1900 <= shown["duration_ms"] <= 2100
        status, poster = await fetch(client, settings, shown["poster_url"])
        assert status == 200 and poster[8:12] == b"WEBP" and Image.open(io.BytesIO(poster)).size == (320, 240)
        assert await fetch(client, settings, shown["file"]) == (200, clip)
        listed = await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner)))
        assert [v["poster_url"] is not None for t in listed["items"] for v in t["versions"]] == [True]
    finally:
        await feed.close()


async def until_logged(client: Client, pair: dict[str, Any], pid: int, kind: str, **data: Any) -> dict[str, Any]:
    """The data of the logged event of a type with these fields (it was already seen live)."""
    log = (await ok(await client.get(f"{API}/projects/{pid}/events?limit=500", headers=auth(pair))))["items"]
    (found,) = [e["data"] for e in log if e["type"] == kind and all(e["data"].get(k) == v for k, v in data.items())]
    return found


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
        assert await buried(client, f"file:{bad['file']['id']}") == MEDIA_ATTEMPTS  # listed by `roughcut dead-jobs`
    finally:
        await feed.close()


FAKE_FFPROBE = {
    "crashes": "#!/bin/sh\nkill -SEGV $$\n",  # the decoder dies of a signal
    "hangs": "#!/bin/sh\nexec sleep 60\n",  # the decoder never answers: the job's time limit ends it
}


@pytest.mark.parametrize("decoder", sorted(FAKE_FFPROBE))
async def test_a_decoder_that_crashes_or_hangs_ends_processing_failed(
    make_client: AppFactory,
    sqlite_settings: Settings,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    decoder: str,
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "ffprobe").write_text(FAKE_FFPROBE[decoder])
    (tools / "ffprobe").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    monkeypatch.setattr(upload_jobs, "MEDIA_TIMEOUT", 1.0)  # read when the kind is registered
    client = await app(make_client, sqlite_settings)
    settings = client.app[keys.SETTINGS]
    owner, _member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    await feed.subscribe(pid)
    try:
        video = await upload_file(client, settings, owner, pid, mp4(tmp_path), "video/mp4", filename="cut.mp4")
        failed = await until(feed, "processing.failed", file_id=video["file"]["id"])
        expected = "TimeoutError" if decoder == "hangs" else "MediaError"
        assert failed["data"]["error"].startswith(expected), failed["data"]["error"]
        assert await buried(client, f"file:{video['file']['id']}") == MEDIA_ATTEMPTS
        (item,) = (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"]
        assert item["status"] == "failed"
    finally:
        await feed.close()


async def test_a_worker_killed_on_the_last_attempt_ends_processing_failed(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox
) -> None:
    client = await make_client(pg_settings, job_poll_interval=0.05)  # no worker yet: the job waits
    settings = client.app[keys.SETTINGS]
    owner, _member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    await feed.subscribe(pid)
    runner = client.app[SERVICES].job_runner
    try:
        done = await upload_file(client, settings, owner, pid, png(64, 48), "image/png")
        key = f"file:{done['file']['id']}"
        # What a worker killed (SIGKILL) during the last attempt leaves: the attempt counted, its lease lapsing.
        async with client.app[keys.ENGINE].begin() as conn:
            await conn.execute(
                update(t.jobs)
                .where(t.jobs.c.kind == MEDIA_KIND, t.jobs.c.key == key)
                .values(
                    attempts=MEDIA_ATTEMPTS, locked_by="killed", locked_until=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
        await runner.start()
        failed = await until(feed, "processing.failed", file_id=done["file"]["id"])
        assert failed["data"]["error"] == "the worker running its last attempt stopped"
        assert await buried(client, key) == MEDIA_ATTEMPTS + 1
        (item,) = (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"]
        assert item["status"] == "failed"
    finally:
        await runner.stop()
        await feed.close()
