"""Both blob stores against the same contract: the local folder (its signed URLs served over real HTTP by
roughcut's own `/blobs` routes), and S3 through moto's real server. Bytes move only through signed URLs."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import boto3
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from roughcut import keys
from roughcut.config import Secret, Settings
from roughcut.domain import errors
from roughcut.domain.ports import BlobStore
from roughcut.http import middlewares
from roughcut.http.blob_routes import add_blob_routes
from roughcut.storage.blobs import LocalBlobStore
from roughcut.storage.s3 import S3BlobStore

MIB = 1024 * 1024
S3_MIN_PART = 5 * MIB  # every part but the last must be at least this on S3 (moto enforces it)


def s3_settings(endpoint: str, bucket: str) -> Settings:
    return Settings(
        s3_bucket=bucket, s3_endpoint_url=endpoint, s3_access_key_id="test", s3_secret_access_key=Secret("test")
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class Backend:
    name: str
    store: BlobStore
    root: Path | None  # the local store's folder


@asynccontextmanager
async def served_local_store(root: Path) -> AsyncIterator[LocalBlobStore]:
    """A local store whose signed URLs point at a real server running roughcut's `/blobs` routes."""
    port = _free_port()
    local = LocalBlobStore(root, secret=b"s" * 32, base_url=f"http://127.0.0.1:{port}")
    app = web.Application(middlewares=[middlewares.request_context, middlewares.problem_errors])
    add_blob_routes(app)
    app[keys.BLOB_GATE] = local
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield local
    finally:
        await server.close()


@pytest.fixture(params=["local", "s3"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> AsyncIterator[Backend]:
    if request.param == "local":
        async with served_local_store(tmp_path / "blobs") as local:
            yield Backend("local", local, tmp_path / "blobs")
        return
    bucket = f"rc-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    ).create_bucket(Bucket=bucket)
    yield Backend("s3", S3BlobStore(s3_settings(s3_endpoint, bucket)), None)


@pytest.fixture
def store(backend: Backend) -> BlobStore:
    return backend.store


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _key() -> str:
    return f"projects/7/files/{uuid.uuid4().hex}"


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


async def test_a_signed_put_then_a_signed_get(store: BlobStore, http: aiohttp.ClientSession, tmp_path: Path) -> None:
    key, body = _key(), b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
    url = await store.sign_put(key, size=len(body), content_type="image/png", expires_in=60)
    async with http.put(url, data=body, headers={"Content-Type": "image/png"}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["ETag"].strip('"')
    assert await store.size(key) == len(body)
    assert await store.head(key, 8) == body[:8]
    async with http.get(await store.sign_get(key, expires_in=60, filename="../ä b.png")) as resp:
        assert resp.status == 200
        assert await resp.read() == body
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "UTF-8''%C3%A4%20b.png" in disposition
    await store.download(key, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == body
    await store.delete(key)
    assert await store.size(key) is None
    await store.delete(key)  # idempotent


async def test_multipart_joins_parts_by_their_etags(store: BlobStore, http: aiohttp.ClientSession) -> None:
    key = _key()
    parts = [os.urandom(S3_MIN_PART), os.urandom(1000)]
    upload_id = await store.start_multipart(key, "video/mp4")
    etags: list[tuple[int, str]] = []
    for number, data in enumerate(parts, start=1):
        url = await store.sign_part(key, upload_id, number, max_size=len(data), expires_in=60)
        async with http.put(url, data=data) as resp:
            assert resp.status == 200, await resp.text()
            etags.append((number, resp.headers["ETag"]))
    with pytest.raises(errors.ValidationFailed):
        await store.complete_multipart(key, upload_id, [(1, etags[0][1]), (2, '"0123456789abcdef"')])
    with pytest.raises(errors.ValidationFailed):
        await store.complete_multipart(key, upload_id, [etags[1], etags[0]])  # out of order
    assert await store.size(key) is None
    await store.complete_multipart(key, upload_id, etags)
    assert await store.size(key) == sum(map(len, parts))
    assert await store.head(key, 16) == parts[0][:16]
    async with http.get(await store.sign_get(key, expires_in=60)) as resp:
        assert await resp.read() == b"".join(parts)


async def test_an_aborted_multipart_upload_keeps_nothing(backend: Backend, http: aiohttp.ClientSession) -> None:
    store, key = backend.store, _key()
    upload_id = await store.start_multipart(key, "video/mp4")
    url = await store.sign_part(key, upload_id, 1, max_size=100, expires_in=60)
    async with http.put(url, data=b"x" * 100) as resp:
        etag = resp.headers["ETag"]
    await store.abort_multipart(key, upload_id)
    await store.abort_multipart(key, upload_id)  # idempotent
    assert await store.size(key) is None
    if isinstance(store, S3BlobStore):
        # (moto answers a 500 to completing an aborted upload; S3 answers NoSuchUpload, mapped to NotFound)
        listed = boto3.client(
            "s3",
            endpoint_url=store._endpoint,
            region_name="us-east-1",
            aws_access_key_id="t",
            aws_secret_access_key="t",
        ).list_multipart_uploads(Bucket=store.bucket)
        assert listed.get("Uploads", []) == []
    else:
        with pytest.raises(errors.NotFound):
            await store.complete_multipart(key, upload_id, [(1, etag)])
        assert backend.root is not None and [p for p in backend.root.rglob("*") if p.is_file()] == []


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query)) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_local_urls_refuse_tampering_expiry_other_methods_and_oversize(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with served_local_store(tmp_path / "blobs") as store:
        key = _key()
        url = await store.sign_put(key, size=10, content_type="text/plain", expires_in=60)
        cases = {
            "tampered size": (_with(url, x="999999"), b"0123456789", 403, "signature_invalid"),
            "other key": (url.replace(key, key + "x"), b"0123456789", 403, "signature_invalid"),
            "no signature": (_with(url, s=""), b"0123456789", 403, "signature_invalid"),
            "expired": (
                await store.sign_put(key, size=10, content_type="text/plain", expires_in=-1),
                b"0",
                403,
                "url_expired",
            ),
            "too large": (url, b"01234567890", 413, "payload_too_large"),
        }
        for name, (target, body, status, code) in cases.items():
            async with http.put(target, data=body) as resp:
                assert (resp.status, (await resp.json())["code"]) == (status, code), name

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while streaming
            for _ in range(3):
                yield b"0123"

        async with http.put(url, data=chunked()) as resp:
            assert (resp.status, (await resp.json())["code"]) == (413, "payload_too_large")
        assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []  # nothing left behind
        async with http.get(url) as resp:  # a PUT URL does not read
            assert (resp.status, (await resp.json())["code"]) == (403, "signature_invalid")
        async with http.put(url, data=b"0123456789") as resp:
            assert resp.status == 200
        get = await store.sign_get(key, expires_in=60)
        async with http.put(get.replace("m=GET", "m=PUT"), data=b"x") as resp:
            assert (await resp.json())["code"] == "signature_invalid"
        async with http.get(await store.sign_get(key, expires_in=-1)) as resp:
            assert (resp.status, (await resp.json())["code"]) == (403, "url_expired")
        async with http.get(get, headers={"Range": "bytes=2-4"}) as resp:
            assert (resp.status, await resp.read()) == (206, b"234")


async def test_a_large_local_upload_streams_without_buffering(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """200 MB through the local store's server: the process's memory grows by far less than the body.

    (On S3 the bytes never pass through roughcut.)"""
    async with served_local_store(tmp_path / "blobs") as store:
        await _upload_large(store, http)


async def _upload_large(store: BlobStore, http: aiohttp.ClientSession) -> None:
    key, size = _key(), 200 * MIB
    chunk = os.urandom(MIB)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // MIB):
            yield chunk

    before = _rss()
    peak = before
    url = await store.sign_put(key, size=size, content_type="video/mp4", expires_in=60)

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, _rss())
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        async with http.put(url, data=body(), headers={"Content-Length": str(size)}) as resp:
            assert resp.status == 200
    finally:
        watcher.cancel()
    assert await store.size(key) == size
    assert peak - before < 64 * MIB, f"RSS grew by {(peak - before) // MIB} MiB"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def test_check_fails_for_a_missing_bucket(s3_endpoint: str) -> None:
    with pytest.raises(Exception):  # noqa: B017 - botocore's ClientError
        await S3BlobStore(s3_settings(s3_endpoint, "no-such-bucket")).check()


def test_local_keys_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LocalBlobStore(tmp_path, secret=b"k" * 32, base_url="http://x")._path("../outside")
