"""Display filenames: what a client calls its file, made safe to show and to offer as a download name.

The name is never part of a storage key (keys are made by the server); it is kept only to display and
to name downloads.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

MAX_FILENAME = 200
FALLBACK = "file"


def sanitize_filename(name: str) -> str:
    """The last path segment, without control or format characters, trimmed to MAX_FILENAME characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    kept = " ".join(kept.split()).strip(" .")  # no leading dots (hidden files, `..`), no trailing dots
    if len(kept) > MAX_FILENAME:
        stem, dot, ext = kept.rpartition(".")
        kept = (stem[: MAX_FILENAME - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else kept[:MAX_FILENAME]
    return kept or FALLBACK


def content_disposition(filename: str) -> str:
    """An `attachment` header value naming the file (RFC 6266: an ASCII fallback and the UTF-8 name)."""
    name = sanitize_filename(filename)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
