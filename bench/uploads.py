"""Uploads benchmark: concurrent multipart uploads through the local store and through moto's S3 server, and
the worker's poster throughput on a 10 s 1080p clip made with ffmpeg.

    python -m bench.uploads [--uploads 50] [--size-mb 100] [--part-mb 16] [--posters 20] [--stores local,s3]

For each store it prints one JSON line: the server's RSS over the upload phase (sampled; first, max, last),
p50/p99 of POST /uploads, POST /uploads/{id}/parts and POST /uploads/{id}/complete, the upload throughput,
and the posters per second the server's in-process worker makes (JOB_CONCURRENCY, default 4) from
`--posters` feedback versions of the clip. The server runs pinned to core 0; this generator (and moto, a
Python S3 server that is itself slow) on core 1. Parts are files of no processing (application/zip), so the
upload phase measures uploads only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import boto3
from sqlalchemy import insert

from bench.common import CLIENT_CPU, REDIS_URL, Server, drop_database, free_port, fresh_database, pin_to, server
from roughcut.config import Settings
from roughcut.security.tokens import JwtTokens, load_keyring
from roughcut.storage import tables as t
from roughcut.storage.db import make_engine

DB_NAME = "roughcut_bench_uploads"
MIB = 1024 * 1024
PUBLIC_URL = "http://bench.invalid"  # signed local URLs name it; the client sends them to the server's port
ZIP_HEADER = b"PK\x03\x04"
SIGN_BATCH = 100  # part URLs per POST /uploads/{id}/parts
API = "/api/v1"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


@contextlib.asynccontextmanager
async def sampling(pid: int, every: float) -> AsyncIterator[list[float]]:
    """The server's RSS (MiB) every `every` seconds while the block runs."""
    samples: list[float] = []

    async def sample() -> None:
        while True:
            samples.append(rss_mib(pid))
            await asyncio.sleep(every)

    task = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        samples.append(rss_mib(pid))


@contextlib.contextmanager
def moto() -> Iterator[str]:
    """moto's S3 server in a subprocess on the client core."""
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="b", aws_secret_access_key="b"
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.list_buckets()
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        s3.create_bucket(Bucket="bench")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def make_clip(folder: Path, seconds: int) -> bytes:
    """`seconds` of ffmpeg's test pattern at 1920x1080, 30 fps, H.264."""
    path = folder / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def seed(url: str) -> int:
    """One user; returns its id."""
    now = datetime.now(UTC)
    engine = make_engine(url)
    async with engine.begin() as conn:
        user = {"email": "bench@bench.test", "nickname": "Bench", "login_method": "email"}
        result = await conn.execute(
            insert(t.users).values(created_at=now, updated_at=now, **user).returning(t.users.c.id)
        )
        user_id = int(result.scalar_one())
    await engine.dispose()
    return user_id


class Client:
    def __init__(self, http: aiohttp.ClientSession, srv: Server, token: str) -> None:
        self.http, self.srv = http, srv
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timings: dict[str, list[float]] = {"start": [], "parts": [], "complete": []}
        self.errors = 0

    def url(self, signed: str) -> str:
        return signed.replace(PUBLIC_URL, self.srv.base, 1)

    async def call(self, name: str, path: str, body: dict[str, Any], status: int = 200) -> Any:
        began = time.perf_counter()
        async with self.http.post(self.srv.base + API + path, json=body, headers=self.headers) as resp:
            answer = await resp.json()
            if resp.status != status:
                raise RuntimeError(f"{path}: {resp.status} {answer}")
        if name:
            self.timings[name].append(time.perf_counter() - began)
        return answer

    async def put(self, url: str, data: bytes, content_type: str | None = None) -> str:
        headers = {"Content-Type": content_type} if content_type else {}
        async with self.http.put(self.url(url), data=data, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"PUT {resp.status}")
            return resp.headers["ETag"]

    async def multipart(self, pid: int, size: int, block: bytes) -> None:
        """One multipart upload of `size` bytes: start, sign the parts, PUT them one after another, complete."""
        body = {"project_id": pid, "purpose": "project_file", "filename": "bench.zip", "size": size}
        ticket = await self.call("start", "/uploads", {**body, "content_type": "application/zip"}, 201)
        part_size, count = ticket["part_size"], ticket["part_count"]
        parts = []
        for first in range(1, count + 1, SIGN_BATCH):
            numbers = list(range(first, min(count, first + SIGN_BATCH - 1) + 1))
            signed = await self.call("parts", f"/uploads/{ticket['id']}/parts", {"part_numbers": numbers})
            for part in signed["parts"]:
                n = part["part_number"]
                length = min(part_size, size - (n - 1) * part_size)
                data = (ZIP_HEADER + block[len(ZIP_HEADER) :] if n == 1 else block)[:length]
                parts.append({"part_number": n, "etag": await self.put(part["url"], data)})
        await self.call("complete", f"/uploads/{ticket['id']}/complete", {"parts": parts})


async def upload_phase(c: Client, pid: int, uploads: int, size: int, part: int, every: float) -> dict[str, Any]:
    block = os.urandom(part)
    async with sampling(c.srv.pid, every) as rss:
        began = time.perf_counter()
        results = await asyncio.gather(*(c.multipart(pid, size, block) for _ in range(uploads)), return_exceptions=True)
        elapsed = time.perf_counter() - began
    failed = [r for r in results if isinstance(r, BaseException)]
    out: dict[str, Any] = {
        "uploads": uploads,
        "size_mb": size // MIB,
        "failed": len(failed),
        "seconds": round(elapsed, 2),
    }
    if failed:
        out["first_error"] = repr(failed[0])[:300]
    out["mb_per_s"] = round((uploads - len(failed)) * size / MIB / elapsed, 1)
    out["rss_mib"] = {"first": rss[0], "max": max(rss), "last": rss[-1], "samples": len(rss)}
    for name, values in c.timings.items():
        out[f"{name}_p50_ms"], out[f"{name}_p99_ms"] = pct(values, 0.5), pct(values, 0.99)
    return out


async def poster_phase(c: Client, pid: int, clip: bytes, count: int) -> dict[str, Any]:
    """`count` feedback versions of the clip; posters per second from the first version to the last ready."""
    async with c.http.get(f"{c.srv.base}{API}/projects/{pid}/feedback", headers=c.headers) as resp:
        fid = (await resp.json())["items"][0]["id"]
    uploads = []
    for _ in range(count):
        body = {"project_id": pid, "purpose": "feedback_version", "filename": "clip.mp4", "size": len(clip)}
        ticket = await c.call("", "/uploads", {**body, "content_type": "video/mp4"}, 201)
        if ticket["strategy"] != "single":
            raise RuntimeError("the clip is larger than UPLOAD_SINGLE_MAX_BYTES")
        await c.put(ticket["url"], clip, "video/mp4")
        await c.call("", f"/uploads/{ticket['id']}/complete", {})
        uploads.append(ticket["id"])
    began = time.perf_counter()
    for upload_id in uploads:
        await c.call("", f"/feedback/{fid}/versions", {"upload_id": upload_id}, 201)
    while True:
        async with c.http.get(f"{c.srv.base}{API}/feedback/{fid}", headers=c.headers) as resp:
            versions = (await resp.json())["versions"]
        if all(v["status"] != "processing" for v in versions):
            break
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - began
    ready = sum(v["status"] == "ready" for v in versions)
    return {
        "posters": count,
        "ready": ready,
        "poster_seconds": round(elapsed, 2),
        "posters_per_s": round(ready / elapsed, 2),
    }


async def run_store(store: str, args: argparse.Namespace, url: str, clip: bytes, tmp: Path) -> dict[str, Any]:
    data_dir = tmp / store
    data_dir.mkdir()
    user_id = await seed(url)
    issuer = JwtTokens(load_keyring(Settings(data_dir=data_dir)), "roughcut", "roughcut", 3600 * 6)
    token = issuer.issue_access(user_id, 1, 0)[0]
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"bench-uploads-{store}",
        "PUBLIC_URL": PUBLIC_URL,
        "RATE_API": "1000000/60",
        "RATE_API_IP": "1000000/60",
        "UPLOAD_PART_BYTES": str(args.part_mb * MIB),
        "UPLOAD_SINGLE_MAX_BYTES": str(max(len(clip), 5 * MIB) + 1),
    }
    with contextlib.ExitStack() as stack:
        if store == "s3":
            endpoint = stack.enter_context(moto())
            env |= {"S3_BUCKET": "bench", "S3_ENDPOINT_URL": endpoint, "S3_ACCESS_KEY_ID": "b"}
            env["S3_SECRET_ACCESS_KEY"] = "b"
        async with server(env, data_dir) as srv:
            connector = aiohttp.TCPConnector(limit=args.uploads + 8)
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
                c = Client(http, srv, token)
                project = await c.call("", "/projects", {"name": f"Bench {store}"}, 201)
                result = await upload_phase(
                    c, project["id"], args.uploads, args.size_mb * MIB, args.part_mb * MIB, args.sample_s
                )
                if args.posters:
                    result |= await poster_phase(c, project["id"], clip, args.posters)
    return {"store": store, **result, "machine": f"{platform.machine()} {platform.python_version()}"}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=50, help="concurrent multipart uploads")
    parser.add_argument("--size-mb", type=int, default=100, help="size of each upload")
    parser.add_argument("--part-mb", type=int, default=16, help="part size (UPLOAD_PART_BYTES; S3's minimum is 5)")
    parser.add_argument("--posters", type=int, default=20, help="feedback versions of the clip (0: skip)")
    parser.add_argument("--clip-seconds", type=int, default=10)
    parser.add_argument("--stores", default="local,s3")
    parser.add_argument("--sample-s", type=float, default=0.2, help="RSS sampling period")
    args = parser.parse_args()
    if args.part_mb < 5 or args.size_mb < 1:
        parser.error("parts are at least 5 MB (S3's minimum), uploads at least 1 MB")
    pin_to(CLIENT_CPU)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        clip = make_clip(tmp, args.clip_seconds) if args.posters else b""
        for store in args.stores.split(","):
            url = await fresh_database(DB_NAME)
            try:
                print(json.dumps(await run_store(store.strip(), args, url, clip, tmp)), flush=True)
            finally:
                await drop_database(DB_NAME)


if __name__ == "__main__":
    asyncio.run(main())
