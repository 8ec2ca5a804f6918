"""The old create/update forms: JSON text fields kept (bounded), `files` parts spooled to disk in chunks.

aiohttp's `request.post()` would hold the whole body to `client_max_size`; here a file part never sits in
memory beyond one chunk, and one past the upload policy's size is refused while it streams.
"""

from __future__ import annotations

import asyncio
import mimetypes
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

from roughcut.domain import errors
from roughcut.domain.upload_model import Purpose
from roughcut.domain.uploads import StartUpload

FIELD_MAX = 1024 * 1024  # the old JSON fields (inputs, process, members) are a few kilobytes
CHUNK = 256 * 1024
FILES_MAX = 20  # files per form
FILES = "files"


@dataclass(frozen=True, slots=True)
class Spooled:
    filename: str
    content_type: str
    size: int
    path: Path

    def command(self, project_id: int) -> StartUpload:
        """The upload this file is, as a project file."""
        return StartUpload(project_id, Purpose.PROJECT_FILE, self.filename, self.size, self.content_type)


@dataclass(slots=True)
class OldForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Spooled] = field(default_factory=list)


@asynccontextmanager
async def read_form(request: web.Request, max_file_bytes: int) -> AsyncIterator[OldForm]:
    """The form's fields and spooled files; the files are removed when the block ends."""
    form = OldForm()
    if request.content_type != "multipart/form-data":  # a form without files may come url-encoded
        posted = await request.post()
        form.fields = {k: v for k, v in posted.items() if isinstance(v, str)}
        yield form
        return
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="roughcut-legacy-"))
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise errors.ValidationFailed("Nested multipart is not accepted.")
            if part.name == FILES and part.filename:
                if len(form.files) == FILES_MAX:
                    raise errors.ValidationFailed(fields={FILES: [f"At most {FILES_MAX} files."]})
                form.files.append(await _spool(part, folder / str(len(form.files)), max_file_bytes))
            else:
                form.fields[part.name] = await _text(part)
        yield form
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


async def _text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        data.extend(chunk)
        if len(data) > FIELD_MAX:
            raise errors.PayloadTooLarge(details={"field": part.name, "max_bytes": FIELD_MAX})
    try:
        return data.decode(part.get_charset("utf-8"))
    except (UnicodeDecodeError, LookupError):
        raise errors.ValidationFailed(fields={part.name or "": ["Not text."]}) from None


async def _spool(part: BodyPartReader, path: Path, max_bytes: int) -> Spooled:
    size = 0
    out: BinaryIO = await asyncio.to_thread(path.open, "wb")
    try:
        while chunk := await part.read_chunk(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise errors.PayloadTooLarge(details={"field": FILES, "max_bytes": max_bytes})
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    name = part.filename or "file"
    declared = part.headers.get("Content-Type", "")
    if not declared or declared == "application/octet-stream":
        declared = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Spooled(name, declared, size, path)
