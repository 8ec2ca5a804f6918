"""Uploads seen from outside: two subscribers watching another client's upload in order (Socket.IO and SSE),
the local store's /blobs answering a browser on another origin like a bucket's CORS rules, aborted and stale
uploads leaving no object or part on either store, and the global sample files."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import socketio
from aiohttp import ClientResponse
from sqlalchemy import insert, update

from roughcut import keys
from roughcut.config import Secret, Settings
from roughcut.domain.uploads import sweep_stale_uploads
from roughcut.storage import tables as t
from tests.browser import chromium, front_end
from tests.conftest import AppFactory
from tests.e2e.test_processing import png
from tests.e2e.test_uploads import API, MIB, MP4, PNG, Client, code_of, fetch, local, ok, put, start, team
from tests.feed_client import Feed
from tests.helpers import Mailbox, auth, join, signup

pytestmark = pytest.mark.usefixtures("empty_job_queue")  # a worker here must not run other tests' jobs

WAIT = 20.0
FRONT = "http://front.example"
APP = "http://app.example:3000"


# ---- two subscribers watch another client's upload ----


async def _sse_frame(resp: ClientResponse) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        raw = await asyncio.wait_for(resp.content.readline(), WAIT)
        assert raw, "the stream ended"
        line = raw.decode().rstrip("\n")
        if not line and fields:
            return fields
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def _sse_until_done(resp: ClientResponse, file_id: int) -> tuple[list[str], list[int]]:
    """The event types the stream sends up to this file's processing.done (checking `id:` against the data),
    and the bytes of the live-only `upload.progress` frames among them (they carry no `id:`)."""
    seen: list[str] = []
    progress: list[int] = []
    while not seen or seen[-1] != "processing.done":
        frame = await _sse_frame(resp)
        if "event" not in frame:
            continue
        data = json.loads(frame["data"])
        if frame["event"] == "upload.progress":
            assert "id" not in frame  # not in the log: a reconnecting EventSource must not resume from it
            seen.append(frame["event"])
            progress.append(data["bytes"])
            continue
        assert int(frame["id"]) == data["id"] and frame["event"] == data["type"]
        seen.append(data["type"])
        if data["type"] == "processing.done":
            assert data["data"]["file_id"] == file_id
    return seen, progress


class Watcher:
    """One subscriber's Socket.IO feed: `upload.progress` and `event` in one queue, in arrival order."""

    def __init__(self) -> None:
        self.feed = Feed()
        self.seen: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def progress(data: dict[str, Any]) -> None:
            await self.seen.put(("upload.progress", data))

        async def event(data: dict[str, Any]) -> None:
            await self.seen.put((data["type"], data["data"]))

        self.feed.sio.handlers["/projects"]["event"] = event
        self.feed.sio.on("upload.progress", progress, namespace="/projects")

    async def until_done(self, file_id: int) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        while not out or out[-1][0] != "processing.done" or out[-1][1].get("file_id") != file_id:
            out.append(await asyncio.wait_for(self.seen.get(), WAIT))
        return out


def _collapsed(types: list[str]) -> list[str]:
    """Runs of the same type as one (progress events come in runs)."""
    return [x for i, x in enumerate(types) if i == 0 or types[i - 1] != x]


def _in_order(types: list[str], progress: list[int], elapsed: float, size: int) -> None:
    """Throttled progress, then completed, added, processing (progress, done), as one subscriber saw them."""
    assert [x for x in _collapsed(types) if x != "processing.progress"] == [
        "upload.progress",
        "upload.completed",
        "file.added",
        "processing.done",
    ], types
    assert 2 <= len(progress) <= elapsed / 0.25 + 2, (len(progress), elapsed)  # about 4 a second
    assert progress == sorted(progress) and progress[-1] == size  # the last report always goes out
    assert "processing.progress" in types[types.index("file.added") :]


async def test_two_subscribers_see_another_clients_upload_in_order(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox
) -> None:
    client = await make_client(pg_settings, job_worker=True, job_poll_interval=0.05)
    settings = client.app[keys.SETTINGS]
    owner, uploader, _stranger, pid = await team(client, mailbox)
    other = await signup(client, mailbox)
    await join(client, pid, other["user"]["id"])
    watchers = [Watcher(), Watcher()]
    streams: list[ClientResponse] = []
    for pair, watcher in zip((owner, other), watchers, strict=True):
        await watcher.feed.connect(client, pair["access_token"])
        await watcher.feed.subscribe(pid)
        resp = await client.get(f"{API}/projects/{pid}/events/stream", headers=auth(pair))
        assert resp.status == 200
        streams.append(resp)
    tab = socketio.AsyncClient(reconnection=False)  # the uploader's other browser tab
    await tab.connect(
        str(client.make_url("/")).rstrip("/"),
        auth={"token": uploader["access_token"]},
        namespaces=["/uploads"],
        transports=["websocket"],
        wait_timeout=WAIT,
    )
    try:
        data = png(640, 480)
        ticket = await ok(await start(client, uploader, pid, data, "image/png"), 201)
        loop = asyncio.get_running_loop()
        began, reports = loop.time(), 60
        for i in range(1, reports + 1):
            sent = len(data) * i // reports
            await tab.call("progress", {"upload_id": ticket["id"], "bytes": sent}, namespace="/uploads")
        elapsed = loop.time() - began
        assert (await put(client, settings, ticket["url"], data, "image/png")).status == 200
        done = await ok(await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(uploader)))
        file_id = done["file"]["id"]
        for watcher in watchers:
            seen = await watcher.until_done(file_id)
            types = [kind for kind, _ in seen]
            _in_order(types, [d["bytes"] for kind, d in seen if kind == "upload.progress"], elapsed, len(data))
        for stream in streams:
            # SSE: the same order; upload.progress is live only, the rest comes from the durable log.
            _in_order(*await _sse_until_done(stream, file_id), elapsed, len(data))
    finally:
        await tab.disconnect()
        for watcher in watchers:
            await watcher.feed.close()
        for stream in streams:
            stream.close()


# ---- CORS on /blobs ----


async def test_blob_urls_answer_allowed_origins_like_a_bucket(make_client: AppFactory, mailbox: Mailbox) -> None:
    client = await make_client(cors_origins=(FRONT,), frontend_url=f"{APP}/app")
    settings = client.app[keys.SETTINGS]
    _owner, member, _stranger, pid = await team(client, mailbox)
    ticket = await ok(await start(client, member, pid, PNG, "image/png"), 201)
    url = local(client, ticket["url"], settings)
    async with aiohttp.ClientSession() as http:
        for origin in (FRONT, APP):
            ask = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
            ask["Access-Control-Request-Headers"] = "content-type"
            async with http.options(url, headers=ask) as resp:
                assert resp.status == 204
                assert resp.headers["Access-Control-Allow-Origin"] == origin
                assert "PUT" in resp.headers["Access-Control-Allow-Methods"]
                assert resp.headers["Access-Control-Allow-Headers"] == "content-type"
                assert "Access-Control-Allow-Credentials" not in resp.headers  # the signed URL is the credential
        for ask in (
            {"Origin": "http://evil.example", "Access-Control-Request-Method": "PUT"},
            {"Origin": FRONT, "Access-Control-Request-Method": "DELETE"},
            {
                "Origin": FRONT,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "authorization",
            },
        ):
            async with http.options(url, headers=ask) as resp:
                assert resp.status == 403 and "Access-Control-Allow-Origin" not in resp.headers
        headers = {"Origin": FRONT, "Content-Type": "image/png"}
        async with http.put(url, data=PNG, headers=headers) as resp:
            assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == FRONT
            assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
        async with http.put(url.replace("s=", "s=0"), data=PNG, headers=headers) as resp:
            assert resp.status == 403 and resp.headers["Access-Control-Allow-Origin"] == FRONT  # errors readable too
            assert (await resp.json())["code"] == "signature_invalid"
        async with http.put(url, data=PNG, headers={"Origin": "http://evil.example"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
    done = await ok(await client.post(f"{API}/uploads/{ticket['id']}/complete", json={}, headers=auth(member)))
    download = local(client, done["file"]["url"], settings)
    async with aiohttp.ClientSession() as http, http.get(download, headers={"Origin": APP}) as resp:
        assert resp.status == 200 and await resp.read() == PNG
        assert resp.headers["Access-Control-Allow-Origin"] == APP


UPLOAD_PARTS_JS = """async ([urls, sizes]) => {
  const etags = [];
  for (let i = 0; i < urls.length; i++) {
    const body = new Uint8Array(sizes[i]);
    if (i === 0) body.set([0, 0, 0, 24, 102, 116, 121, 112, 109, 112, 52, 50]);  // an mp4's ftyp box
    const resp = await fetch(urls[i], {method: "PUT", body, headers: {"Content-Type": "video/mp4"}});
    etags.push({status: resp.status, etag: resp.headers.get("ETag")});
  }
  return etags;
}"""


async def test_a_browser_on_another_origin_puts_parts_and_reads_their_etags(
    make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox
) -> None:
    async with front_end() as origin, chromium() as browser:
        settings = replace(pg_settings, cors_origins=(origin,), upload_single_max_bytes=MIB, upload_part_bytes=5 * MIB)
        client = await make_client(settings)
        _owner, member, _stranger, pid = await team(client, mailbox)
        size = 5 * MIB + 1000
        ticket = await ok(await start(client, member, pid, MP4, "video/mp4", size=size, filename="cut.mp4"), 201)
        parts_url = f"{API}/uploads/{ticket['id']}/parts"
        signed = await ok(await client.post(parts_url, json={"part_numbers": [1, 2]}, headers=auth(member)))
        urls = [local(client, p["url"], settings) for p in signed["parts"]]
        page = await browser.new_page()
        await page.goto(f"{origin}/index.html")
        answers = await page.evaluate(UPLOAD_PARTS_JS, [urls, [5 * MIB, 1000]])
        assert [a["status"] for a in answers] == [200, 200]
        assert all(a["etag"] and a["etag"].startswith('"') for a in answers)  # readable: ETag is exposed
        parts = [{"part_number": n, "etag": a["etag"]} for n, a in enumerate(answers, 1)]
        done = await ok(
            await client.post(f"{API}/uploads/{ticket['id']}/complete", json={"parts": parts}, headers=auth(member))
        )
        assert done["size"] == size
        status = await page.evaluate(
            "async (url) => (await fetch(url)).status", local(client, done["file"]["url"], settings)
        )
        assert status == 200


# ---- aborted and stale uploads leave nothing on either store ----


def _local_leftovers(settings: Settings) -> list[str]:
    root = settings.data_dir / "blobs"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def bucket(s3_endpoint: str) -> tuple[str, Any]:
    name = f"rc-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    s3.create_bucket(Bucket=name)
    return name, s3


@pytest.mark.parametrize("store", ["local", "s3"])
async def test_aborted_and_stale_uploads_leave_no_object_and_no_part(
    request: pytest.FixtureRequest, make_client: AppFactory, pg_settings: Settings, mailbox: Mailbox, store: str
) -> None:
    settings = replace(pg_settings, upload_single_max_bytes=MIB, upload_part_bytes=5 * MIB)
    if store == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        name, s3 = request.getfixturevalue("bucket")
        settings = replace(
            settings, s3_bucket=name, s3_endpoint_url=endpoint, s3_access_key_id="t", s3_secret_access_key=Secret("t")
        )
    client = await make_client(settings)
    settings = client.app[keys.SETTINGS]
    _owner, member, _stranger, pid = await team(client, mailbox)

    def leftovers() -> set[str]:
        if store == "local":
            return set(_local_leftovers(settings))
        objects = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
        uploads = [u["Key"] for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", [])]
        return {*objects, *(f"multipart:{k}" for k in uploads)}

    before = leftovers()  # the data folder is shared with earlier tests
    data = MP4 + os.urandom(5 * MIB)
    tickets = []
    for _ in range(2):  # one aborted by its uploader, one left to the sweeper; each with a part stored
        ticket = await ok(await start(client, member, pid, data, "video/mp4", filename="cut.mp4"), 201)
        parts_url = f"{API}/uploads/{ticket['id']}/parts"
        (part,) = (await ok(await client.post(parts_url, json={"part_numbers": [1]}, headers=auth(member))))["parts"]
        async with (
            aiohttp.ClientSession() as http,
            http.put(local(client, part["url"], settings), data=data[: 5 * MIB]) as resp,
        ):
            assert resp.status == 200
        tickets.append(ticket)
    single = await ok(await start(client, member, pid, PNG, "image/png"), 201)  # a whole object, then aborted
    assert (await put(client, settings, single["url"], PNG, "image/png")).status == 200
    assert len(leftovers() - before) >= 3  # the test sees what is stored: two parts (with their ETags) and an object
    for ticket in (tickets[0], single):
        await ok(await client.delete(f"{API}/uploads/{ticket['id']}", headers=auth(member)), 204)
    async with client.app[keys.ENGINE].begin() as conn:
        old = datetime.now(UTC) - timedelta(seconds=settings.upload_stale_after + 60)
        await conn.execute(update(t.uploads).where(t.uploads.c.id == tickets[1]["id"]).values(created_at=old))
    assert await sweep_stale_uploads(client.app[keys.UPLOADS]) >= 1
    assert leftovers() - before == set()


# ---- global sample files ----


async def _make_admin(client: Client, pair: dict[str, Any]) -> None:
    async with client.app[keys.ENGINE].begin() as conn:
        await conn.execute(update(t.users).where(t.users.c.id == pair["user"]["id"]).values(is_admin=True))


async def test_sample_files_are_managed_by_admins_and_listed_to_everyone(
    client: Client, mailbox: Mailbox, tmp_path: Path
) -> None:
    settings = client.app[keys.SETTINGS]
    old = f"old_storyboard_{uuid.uuid4().hex[:8]}.pdf"  # unique: the list is global, the database shared
    admin, user, _stranger, pid = await team(client, mailbox)
    body = {"filename": "brief template.pdf", "size": 9, "content_type": "application/pdf"}
    samples = f"{API}/admin/sample-files"
    assert await code_of(await client.post(samples, json=body, headers=auth(admin))) == (403, "permission_denied")
    await _make_admin(client, admin)
    wrong = {**body, "purpose": "sample_file", "project_id": pid}  # not through POST /uploads
    assert await code_of(await client.post(f"{API}/uploads", json=wrong, headers=auth(admin))) == (
        422,
        "validation_failed",
    )
    too_big = {**body, "size": client.app[keys.SETTINGS].upload_max_file_bytes + 1}
    assert await code_of(await client.post(samples, json=too_big, headers=auth(admin))) == (422, "validation_failed")
    ticket = await ok(await client.post(samples, json=body, headers=auth(admin)), 201)
    pdf = b"%PDF-1.7\n"
    assert (await put(client, settings, ticket["url"], pdf, "application/pdf")).status == 200
    complete = f"{API}/uploads/{ticket['id']}/complete"
    assert await code_of(await client.post(complete, json={}, headers=auth(user))) == (404, "not_found")
    done = await ok(await client.post(complete, json={}, headers=auth(admin)))
    assert (done["project_id"], done["file"]) == (None, None)
    sample = done["sample_file"]
    assert (sample["name"], sample["size"], sample["legacy"]) == ("brief template.pdf", 9, False)
    # An imported sample file: a row of no project in legacy_files, its object at the old key.
    await client.app[keys.BLOBS].put(f"sample_file/{old}", b"%PDF-1.4 old")
    async with client.app[keys.ENGINE].begin() as conn:
        values = {"kind": "sample_file", "object_key": f"sample_file/{old}"}
        await conn.execute(insert(t.legacy_files).values(project_id=None, created_at=datetime.now(UTC), **values))
    # Sample files are global and the run's database is shared: look at this test's two among any others.
    mine = {"brief template.pdf", old}
    listed = [
        i for i in (await ok(await client.get(f"{API}/sample-files", headers=auth(user))))["items"] if i["name"] in mine
    ]
    assert [(i["name"], i["legacy"], i["content_type"]) for i in listed] == [
        ("brief template.pdf", False, "application/pdf"),
        (old, True, "application/pdf"),
    ]
    assert [await fetch(client, settings, i["url"]) for i in listed] == [(200, pdf), (200, b"%PDF-1.4 old")]
    old_app = await ok(await client.get("/projects/project_list", headers=auth(user)))  # the old SPA's first call
    shown = {s["file_name"]: s["files"] for s in old_app["sample_files"] if s["file_name"] in mine}
    assert set(shown) == mine and await fetch(client, settings, shown[old]) == (200, b"%PDF-1.4 old")
    assert (await client.get(f"{API}/sample-files")).status == 401
    gone = f"{API}/admin/sample-files/{sample['id']}"
    assert await code_of(await client.delete(gone, headers=auth(user))) == (403, "permission_denied")
    await ok(await client.delete(gone, headers=auth(admin)), 204)
    assert await code_of(await client.delete(gone, headers=auth(admin))) == (404, "not_found")
    assert (await fetch(client, settings, listed[0]["url"]))[0] == 404  # the object went after the commit
    listed = (await ok(await client.get(f"{API}/sample-files", headers=auth(user))))["items"]
    assert [i["name"] for i in listed if i["name"] in mine] == [old]
