"""Blob stores: a local folder on the embedded default, with signed URLs that roughcut serves itself.

The local store behaves like the S3 one (storage/s3.py): objects are private, clients PUT and GET through
short-lived URLs. A URL carries its method, key, expiry, size limit (and multipart upload and part) and an
HMAC-SHA256 over them keyed from the server secret; `/blobs/{key}` (http/blob_routes.py) checks it. Bodies
are streamed to a temporary file in bounded chunks and renamed into place, never held whole in memory.
Multipart parts wait under `.multipart/{upload_id}/` with their MD5 ETag beside them until `complete`
joins them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, urlencode

from roughcut.domain import errors
from roughcut.domain.ports import BlobGrant

WRITE_BUFFER = 1024 * 1024  # bytes gathered before one write in a worker thread
COPY_BUFFER = 1024 * 1024
MULTIPART = ".multipart"
INCOMING = ".incoming"
SIGNING_CONTEXT = b"roughcut blob url v1"


class LocalBlobStore:
    """Blobs as files under one folder; keys are relative paths like `projects/7/files/x.mp4`."""

    def __init__(self, root: Path, *, secret: bytes, base_url: str) -> None:
        self.root = root
        self._key = hmac.new(secret, SIGNING_CONTEXT, hashlib.sha256).digest()
        self._base = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        """Write a blob (small ones the server makes itself: thumbnails, posters)."""
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def exists(self, key: str) -> bool:
        """True when the blob is stored."""
        return await asyncio.to_thread(self._path(key).is_file)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under `prefix`; removing nothing is fine (idempotent). Returns files removed."""
        folder = self._path(prefix.rstrip("/"))

        def remove() -> int:
            if not folder.exists():
                return 0
            count = sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
            return count

        return await asyncio.to_thread(remove)

    async def check(self) -> None:
        """Raise when the folder cannot be used."""

        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            marker = self.root / ".ready"
            marker.write_bytes(b"ok")
            marker.unlink()

        await asyncio.to_thread(probe)

    # ---- signed URLs ----

    def _signature(self, fields: Mapping[str, str]) -> str:
        message = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def _url(self, key: str, expires_in: int, **fields: str) -> str:
        signed = {"k": key, "e": str(int(time.time()) + expires_in), **fields}
        query = {k: v for k, v in signed.items() if k != "k"} | {"s": self._signature(signed)}
        return f"{self._base}/blobs/{quote(key)}?{urlencode(query)}"

    async def sign_put(self, key: str, *, size: int, content_type: str, expires_in: int) -> str:
        """A URL for one PUT of at most `size` bytes (complete checks the exact size)."""
        self._path(key)
        return self._url(key, expires_in, m="PUT", x=str(size))

    async def sign_get(self, key: str, *, expires_in: int, filename: str | None = None) -> str:
        """A URL that downloads the blob, named `filename` when given."""
        self._path(key)
        return self._url(key, expires_in, m="GET", f=filename or "")

    async def sign_part(self, key: str, upload_id: str, part_number: int, *, max_size: int, expires_in: int) -> str:
        """A URL for one PUT of a part of a multipart upload."""
        return self._url(key, expires_in, m="PUT", x=str(max_size), u=upload_id, p=str(part_number))

    def authorize(self, method: str, key: str, query: Mapping[str, str]) -> BlobGrant:
        """Check a signed URL: its signature first (a changed expiry is a bad signature), then its expiry."""
        fields = {k: v for k, v in query.items() if k in {"e", "m", "x", "u", "p", "f"}} | {"k": key}
        given = query.get("s", "")
        if not hmac.compare_digest(given, self._signature(fields)) or fields.get("m") != method:
            raise errors.SignatureInvalid()
        try:
            expires, max_size, part = int(fields["e"]), int(fields.get("x", "0")), int(fields.get("p", "0"))
        except (KeyError, ValueError):
            raise errors.SignatureInvalid() from None
        if time.time() > expires:
            raise errors.UrlExpired()
        try:
            self._path(key)
        except ValueError:
            raise errors.SignatureInvalid() from None
        return BlobGrant(method, key, max_size, fields.get("u", ""), part, fields.get("f", ""))

    async def receive(self, grant: BlobGrant, chunks: AsyncIterator[bytes]) -> str:
        """Stream a PUT body to a temporary file, then move it into place; answers its ETag (MD5)."""
        if grant.upload_id:
            part_dir = self._part_dir(grant.upload_id)
            if not await asyncio.to_thread((part_dir / "key").is_file):
                raise errors.NotFound("No such multipart upload.")
            target = part_dir / f"{grant.part_number:05d}"
        else:
            target = self._path(grant.key)
        temp = self.root / INCOMING / uuid.uuid4().hex
        await asyncio.to_thread(temp.parent.mkdir, parents=True, exist_ok=True)
        digest, size = hashlib.md5(usedforsecurity=False), 0
        try:
            with await asyncio.to_thread(temp.open, "wb") as out:
                buffer = bytearray()
                async for chunk in chunks:
                    size += len(chunk)
                    if size > grant.max_size:
                        raise errors.PayloadTooLarge(f"The signed URL allows at most {grant.max_size} bytes.")
                    digest.update(chunk)
                    buffer += chunk
                    if len(buffer) >= WRITE_BUFFER:
                        await asyncio.to_thread(out.write, bytes(buffer))
                        buffer.clear()
                await asyncio.to_thread(out.write, bytes(buffer))
            etag = f'"{digest.hexdigest()}"'

            def place() -> None:
                target.parent.mkdir(parents=True, exist_ok=True)
                temp.replace(target)
                if grant.upload_id:
                    target.with_suffix(".etag").write_text(etag)

            await asyncio.to_thread(place)
            return etag
        finally:
            await asyncio.to_thread(temp.unlink, missing_ok=True)

    def file(self, grant: BlobGrant) -> Path | None:
        """The file a GET grant names, if stored."""
        path = self._path(grant.key)
        return path if path.is_file() else None

    # ---- multipart ----

    def _part_dir(self, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise errors.NotFound("No such multipart upload.")
        return self.root / MULTIPART / upload_id

    async def start_multipart(self, key: str, content_type: str) -> str:
        """Begin a multipart upload; its parts are PUT through `sign_part` URLs."""
        self._path(key)
        upload_id = uuid.uuid4().hex
        folder = self._part_dir(upload_id)

        def make() -> None:
            folder.mkdir(parents=True)
            (folder / "key").write_text(key)

        await asyncio.to_thread(make)
        return upload_id

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[tuple[int, str]]) -> None:
        """Join the named parts, in order, into the blob; a part missing or with another ETag refuses."""
        folder, target = self._part_dir(upload_id), self._path(key)
        numbers = [n for n, _ in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise errors.ValidationFailed(fields={"parts": ["Give each part once, in ascending order."]})

        def join() -> None:
            if not (folder / "key").is_file() or (folder / "key").read_text() != key:
                raise errors.NotFound("No such multipart upload.")
            for number, etag in parts:
                stored = folder / f"{number:05d}.etag"
                if not stored.is_file() or stored.read_text() != _quoted(etag):
                    raise errors.ValidationFailed(fields={"parts": [f"Part {number} is missing or its ETag differs."]})
            temp = self.root / INCOMING / uuid.uuid4().hex
            temp.parent.mkdir(parents=True, exist_ok=True)
            try:
                with temp.open("wb") as out:
                    for number, _ in parts:
                        with (folder / f"{number:05d}").open("rb") as part:
                            shutil.copyfileobj(part, out, COPY_BUFFER)
                target.parent.mkdir(parents=True, exist_ok=True)
                temp.replace(target)
            finally:
                temp.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)

        await asyncio.to_thread(join)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop a multipart upload and its parts (idempotent)."""
        await asyncio.to_thread(shutil.rmtree, self._part_dir(upload_id), ignore_errors=True)

    # ---- reading ----

    async def size(self, key: str) -> int | None:
        """The blob's size in bytes, None when it is not stored."""

        def stat() -> int | None:
            path = self._path(key)
            return path.stat().st_size if path.is_file() else None

        return await asyncio.to_thread(stat)

    async def head(self, key: str, length: int) -> bytes:
        """The blob's first `length` bytes."""

        def read() -> bytes:
            with self._path(key).open("rb") as f:
                return f.read(length)

        return await asyncio.to_thread(read)

    async def delete(self, key: str) -> None:
        """Remove one blob; a missing one is fine."""
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def download(self, key: str, dest: Path) -> None:
        """Copy the blob to a local file (for processing)."""
        await asyncio.to_thread(shutil.copyfile, self._path(key), dest)

    async def upload(self, key: str, src: Path) -> None:
        """Store a local file under `key`: copied beside the store, then renamed into place."""
        path = self._path(key)
        temp = self.root / INCOMING / uuid.uuid4().hex

        def copy() -> None:
            temp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, temp)
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.replace(path)

        await asyncio.to_thread(copy)


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'
