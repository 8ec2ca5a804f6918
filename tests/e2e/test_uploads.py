"""Uploads on the real app (API.md "Uploads"): signed URLs, multipart, checks on complete, files, versions,
progress over Socket.IO, the sweeper; the local store's URLs served by the app itself, and S3 through moto."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import boto3
import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from roughcut import keys
from roughcut.app import SERVICES
from roughcut.config import Secret, Settings
from roughcut.domain.uploads import sweep_stale_uploads
from roughcut.jobs.upload_jobs import SWEEP_EVERY, SWEEP_KIND
from roughcut.storage import tables as t
from tests.conftest import AppFactory
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth, create_project, join, signup

Client = TestClient[Any, Any]
Pair = dict[str, Any]
API = "/api/v1"
WAIT = 5.0
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
MP4 = b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000)
MIB = 1024 * 1024


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json() if status != 204 else None


async def code_of(resp: Any) -> tuple[int, str]:
    return resp.status, (await resp.json())["code"]


def local(client: Client, url: str, settings: Settings) -> str:
    """The signed URL names PUBLIC_URL; the test server listens elsewhere (the signature covers no host)."""
    return url.replace(settings.public_url, str(client.make_url("")).rstrip("/"), 1)


async def put(client: Client, settings: Settings, url: str, data: bytes, content_type: str) -> aiohttp.ClientResponse:
    target, headers = local(client, url, settings), {"Content-Type": content_type}
    async with aiohttp.ClientSession() as http, http.put(target, data=data, headers=headers) as resp:
        await resp.read()
        return resp


async def fetch(client: Client, settings: Settings, url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http, http.get(local(client, url, settings)) as resp:
        return resp.status, await resp.read()


async def start(client: Client, pair: Pair, pid: int, data: bytes, content_type: str, **over: Any) -> Any:
    body = {"project_id": pid, "purpose": "project_file", "filename": "still.png", "size": len(data)}
    body.update(content_type=content_type, **over)
    return await client.post(f"{API}/uploads", json=body, headers=auth(pair))


async def upload_file(
    client: Client, settings: Settings, pair: Pair, pid: int, data: bytes, content_type: str, **over: Any
) -> dict[str, Any]:
    ticket = await ok(await start(client, pair, pid, data, content_type, **over), 201)
    assert ticket["strategy"] == "single"
    assert (await put(client, settings, ticket["url"], data, content_type)).status == 200
    done: dict[str, Any] = await ok(
        await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(pair))
    )
    return done


def stored(settings: Settings, pid: int) -> list[str]:
    """The project's uploaded objects in the local store."""
    folder = settings.data_dir / "blobs" / "projects" / str(pid) / "uploads"
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


async def team(client: Client, mailbox: Mailbox) -> tuple[Pair, Pair, Pair, int]:
    owner, member, stranger = [await signup(client, mailbox) for _ in range(3)]
    pid: int = (await create_project(client, owner))["id"]
    await join(client, pid, member["user"]["id"])
    return owner, member, stranger, pid


async def _upload_rows(client: Client, pid: int) -> int:
    async with client.app[keys.ENGINE].connect() as conn:
        q = select(func.count()).select_from(t.uploads).where(t.uploads.c.project_id == pid)
        return int((await conn.execute(q)).scalar_one())


@pytest.fixture(params=["postgres", "sqlite"])
async def setup(
    request: pytest.FixtureRequest, make_client: AppFactory, pg_settings: Settings, sqlite_settings: Settings
) -> tuple[Client, Settings]:
    settings = pg_settings if request.param == "postgres" else sqlite_settings
    return await make_client(settings), settings


async def test_a_project_file_from_start_to_delete(setup: tuple[Client, Settings], mailbox: Mailbox) -> None:
    client, settings = setup
    owner, member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    await feed.subscribe(pid)
    try:
        done = await upload_file(client, settings, member, pid, PNG, "image/png", filename="../../shots/still.png")
        assert done["status"] == "completed" and done["filename"] == "still.png"  # only the last segment is kept
        file = done["file"]
        assert (file["filename"], file["size"], file["uploader"]["id"]) == ("still.png", len(PNG), member["user"]["id"])
        assert [(await feed.next())["type"] for _ in range(2)] == ["upload.completed", "file.added"]
        listed = await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner)))
        assert [f["id"] for f in listed["items"]] == [file["id"]]
        assert await fetch(client, settings, listed["items"][0]["url"]) == (200, PNG)
        other = await signup(client, mailbox)
        assert await code_of(await client.get(f"{API}/projects/{pid}/files", headers=auth(other))) == (404, "not_found")
        gone = f"{API}/projects/{pid}/files/{file['id']}"
        assert await code_of(await client.delete(gone, headers=auth(other))) == (404, "not_found")
        await ok(await client.delete(gone, headers=auth(owner)), 204)
        assert (await feed.next())["type"] == "file.removed"
        assert (await fetch(client, settings, listed["items"][0]["url"]))[0] == 404  # the object went after commit
        assert (await ok(await client.get(f"{API}/projects/{pid}/files", headers=auth(owner))))["items"] == []
    finally:
        await feed.close()


async def test_bad_uploads_get_clear_errors_and_leave_nothing(client: Client, mailbox: Mailbox) -> None:
    settings = client.app[keys.SETTINGS]
    owner, member, stranger, pid = await team(client, mailbox)
    assert await code_of(await start(client, stranger, pid, PNG, "image/png")) == (404, "not_found")
    too_big = settings.upload_max_file_bytes + 1
    assert await code_of(await start(client, member, pid, PNG, "image/png", size=too_big)) == (422, "validation_failed")
    exe = "application/x-msdownload"
    assert await code_of(await start(client, member, pid, PNG, exe)) == (422, "validation_failed")
    assert await code_of(await start(client, member, pid, PNG, "image/png", filename="a\x00b.png")) == (
        422,
        "validation_failed",
    )
    assert await code_of(await start(client, member, pid, MP4, "video/mp4", purpose="feedback_version")) == (
        403,
        "permission_denied",
    )
    assert await _upload_rows(client, pid) == 0
    # Declared video, sent HTML: the object is deleted and the upload is over.
    html = b"<!doctype html><script>alert(1)</script>" + b" " * 100
    ticket = await ok(await start(client, member, pid, html, "video/mp4", filename="clip.mp4"), 201)
    assert (await put(client, settings, ticket["url"], html, "video/mp4")).status == 200
    complete = f"{API}/uploads/{ticket['id']}/complete"
    resp = await client.post(complete, json={}, headers=auth(member))
    assert await code_of(resp) == (422, "content_mismatch")
    assert not await client.app[keys.BLOBS].exists(f"projects/{pid}/uploads/{ticket['url'].split('/uploads/')[1][:32]}")
    assert await code_of(await client.post(complete, json={}, headers=auth(member))) == (409, "upload_not_pending")
    # An executable declared as an image; and fewer bytes than declared.
    for body, sent in ((b"MZ\x90\x00" + os.urandom(500), None), (PNG, PNG[:100])):
        ticket = await ok(await start(client, member, pid, body, "image/png"), 201)
        await put(client, settings, ticket["url"], sent or body, "image/png")
        resp = await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(member))
        assert await code_of(resp) == (422, "content_mismatch")
    # Nothing arrived yet; someone else's upload; a tampered URL.
    ticket = await ok(await start(client, member, pid, PNG, "image/png"), 201)
    complete = f"{API}/uploads/{ticket['id']}/complete"
    assert await code_of(await client.post(complete, json={}, headers=auth(member))) == (409, "upload_incomplete")
    assert await code_of(await client.post(complete, json={}, headers=auth(owner))) == (404, "not_found")
    assert (await put(client, settings, ticket["url"].replace("s=", "s=0"), PNG, "image/png")).status == 403
    assert stored(settings, pid) == []


async def test_multipart_parts_are_signed_then_joined_by_etag(make_client: AppFactory, mailbox: Mailbox) -> None:
    client = await make_client(upload_single_max_bytes=MIB, upload_part_bytes=5 * MIB)
    settings = client.app[keys.SETTINGS]
    _owner, member, _stranger, pid = await team(client, mailbox)
    data = MP4 + os.urandom(5 * MIB)
    ticket = await ok(await start(client, member, pid, data, "video/mp4", filename="cut.mp4"), 201)
    assert (ticket["strategy"], ticket["url"], ticket["part_size"], ticket["part_count"]) == (
        "multipart",
        None,
        5 * MIB,
        2,
    )
    parts_url = f"{API}/uploads/{ticket['id']}/parts"
    for bad in ([3], [1, 1], list(range(1, 102)), [0]):
        resp = await client.post(parts_url, json={"part_numbers": bad}, headers=auth(member))
        assert await code_of(resp) == (422, "validation_failed"), bad
    signed = (await ok(await client.post(parts_url, json={"part_numbers": [1, 2]}, headers=auth(member))))["parts"]
    chunks = [data[: 5 * MIB], data[5 * MIB :]]
    assert (await put(client, settings, signed[0]["url"], chunks[0] + b"x", "video/mp4")).status == 413  # bounded
    etags = []
    for part, chunk in zip(signed, chunks, strict=True):
        resp = await put(client, settings, part["url"], chunk, "video/mp4")
        etags.append({"part_number": part["part_number"], "etag": resp.headers["ETag"]})
    complete = f"{API}/uploads/{ticket['id']}/complete"
    assert await code_of(await client.post(complete, json={}, headers=auth(member))) == (422, "validation_failed")
    wrong = [etags[0], {"part_number": 2, "etag": '"00"'}]
    assert await code_of(await client.post(complete, json={"parts": wrong}, headers=auth(member))) == (
        422,
        "validation_failed",
    )
    done = await ok(await client.post(complete, json={"parts": etags}, headers=auth(member)))
    assert done["size"] == len(data)
    assert await fetch(client, settings, done["file"]["url"]) == (200, data)


async def test_aborts_and_the_sweeper_keep_nothing(client: Client, mailbox: Mailbox) -> None:
    settings = client.app[keys.SETTINGS]
    _owner, member, _stranger, pid = await team(client, mailbox)
    ticket = await ok(await start(client, member, pid, PNG, "image/png"), 201)
    await put(client, settings, ticket["url"], PNG, "image/png")
    await ok(await client.delete(f"{API}/uploads/{ticket['id']}", headers=auth(member)), 204)
    await ok(await client.delete(f"{API}/uploads/{ticket['id']}", headers=auth(member)), 204)  # again: fine
    resp = await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(member))
    assert await code_of(resp) == (409, "upload_not_pending")
    assert stored(settings, pid) == []
    # A stale upload: the sweeper (a periodic job) aborts it.
    stale = await ok(await start(client, member, pid, PNG, "image/png"), 201)
    async with client.app[keys.ENGINE].begin() as conn:
        old = datetime.now(UTC) - timedelta(seconds=settings.upload_stale_after + 60)
        await conn.execute(update(t.uploads).where(t.uploads.c.id == stale["id"]).values(created_at=old))
    assert await sweep_stale_uploads(client.app[keys.UPLOADS]) >= 1
    resp = await client.post(f"{API}/uploads/{stale['id']}/complete", json={}, headers=auth(member))
    assert await code_of(resp) == (409, "upload_not_pending")
    spec = client.app[SERVICES].jobs.get(SWEEP_KIND)
    assert spec is not None and spec.every == SWEEP_EVERY


async def test_a_feedback_version_from_an_upload(client: Client, mailbox: Mailbox) -> None:
    settings = client.app[keys.SETTINGS]
    owner, member, _stranger, pid = await team(client, mailbox)
    fid = (await ok(await client.get(f"{API}/projects/{pid}/feedback", headers=auth(owner))))["items"][0]["id"]
    done = await upload_file(
        client, settings, owner, pid, MP4, "video/mp4", purpose="feedback_version", filename="v.mp4"
    )
    assert done["file"] is None
    versions = f"{API}/feedback/{fid}/versions"
    assert await code_of(await client.post(versions, json={"upload_id": done["id"]}, headers=auth(member))) == (
        403,
        "permission_denied",
    )
    version = await ok(await client.post(versions, json={"upload_id": done["id"]}, headers=auth(owner)), 201)
    assert (version["number"], version["status"]) == (1, "processing")
    again = await client.post(versions, json={"upload_id": done["id"]}, headers=auth(owner))
    assert await code_of(again) == (409, "upload_not_pending")
    thread = await ok(await client.get(f"{API}/feedback/{fid}", headers=auth(member)))
    assert [v["id"] for v in thread["versions"]] == [version["id"]]
    log = (await ok(await client.get(f"{API}/projects/{pid}/events?limit=500", headers=auth(member))))["items"]
    added = [e for e in log if e["type"] == "version.added"]
    assert [e["data"]["version"]["id"] for e in added] == [version["id"]]
    file_upload = await upload_file(client, settings, owner, pid, PNG, "image/png")
    resp = await client.post(versions, json={"upload_id": file_upload["id"]}, headers=auth(owner))
    assert await code_of(resp) == (422, "validation_failed")


async def test_progress_reaches_subscribers_throttled_then_completion(client: Client, mailbox: Mailbox) -> None:
    settings = client.app[keys.SETTINGS]
    owner, member, _stranger, pid = await team(client, mailbox)
    feed = await Feed().connect(client, owner["access_token"])
    progress: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    feed.sio.on("upload.progress", progress.put, namespace="/projects")
    await feed.subscribe(pid)
    uploader = socketio.AsyncClient(reconnection=False)
    await uploader.connect(
        str(client.make_url("/")).rstrip("/"),
        auth={"token": member["access_token"]},
        namespaces=["/uploads"],
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    try:
        data = PNG
        ticket = await ok(await start(client, member, pid, data, "image/png"), 201)
        loop = asyncio.get_running_loop()
        began = loop.time()
        reports = 40
        for i in range(1, reports + 1):
            ack = await uploader.call(
                "progress", {"upload_id": ticket["id"], "bytes": len(data) * i // reports}, namespace="/uploads"
            )
            assert ack == {"ok": True, "data": {}}
        elapsed = loop.time() - began
        seen = []
        while not seen or seen[-1]["bytes"] < len(data):
            seen.append(await asyncio.wait_for(progress.get(), WAIT))
        assert 1 <= len(seen) <= elapsed / 0.25 + 2, (len(seen), elapsed)
        assert seen[-1]["bytes"] == len(data) and seen[-1]["upload_id"] == ticket["id"]
        assert seen == sorted(seen, key=lambda p: p["bytes"])
        bad = await uploader.call("progress", {"upload_id": ticket["id"], "bytes": len(data) + 1}, namespace="/uploads")
        assert bad["error"]["code"] == "validation_failed"
        other = await uploader.call("progress", {"upload_id": 2**62, "bytes": 1}, namespace="/uploads")
        assert other["error"]["code"] == "not_found"
        await put(client, settings, ticket["url"], data, "image/png")
        await ok(await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(member)))
        assert [(await feed.next())["type"] for _ in range(2)] == ["upload.completed", "file.added"]
        log = (await ok(await client.get(f"{API}/projects/{pid}/events?limit=500", headers=auth(owner))))["items"]
        assert "upload.progress" not in {e["type"] for e in log}  # live only
    finally:
        await uploader.disconnect()
        await feed.close()


async def test_uploads_through_s3(
    make_client: AppFactory, pg_settings: Settings, s3_endpoint: str, mailbox: Mailbox
) -> None:
    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    ).create_bucket(Bucket=bucket)
    settings = replace(
        pg_settings,
        s3_bucket=bucket,
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id="test",
        s3_secret_access_key=Secret("test"),
    )
    client = await make_client(settings)
    _owner, member, _stranger, pid = await team(client, mailbox)
    ticket = await ok(await start(client, member, pid, PNG, "image/png"), 201)
    assert ticket["url"].startswith(s3_endpoint)
    async with aiohttp.ClientSession() as http:
        async with http.put(ticket["url"], data=PNG, headers={"Content-Type": "image/png"}) as resp:
            assert resp.status == 200
        done = await ok(await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(member)))
        async with http.get(done["file"]["url"]) as resp:
            assert await resp.read() == PNG
    assert (await client.put(f"/blobs/projects/{pid}/x?m=PUT", data=b"x")).status == 404  # no local gate on S3
