"""Blob stores: a local folder on the embedded default (S3 arrives with uploads)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path


class LocalBlobStore:
    """Blobs as files under one folder; keys are relative paths like `projects/7/files/x.mp4`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes) -> None:
        """Write a blob (used by tests and, later, uploads)."""
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
