"""Entities of uploads and project files, the upload policy, and the content signatures complete checks."""

from __future__ import annotations

import codecs
import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

S3_MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
MAX_PARTS_PER_CALL = 100  # part URLs signed by one POST /uploads/{id}/parts
SIGNATURE_BYTES = 512  # the first bytes complete reads to check the declared type (a tar header needs 262)


class Purpose(enum.StrEnum):
    PROJECT_FILE = "project_file"
    FEEDBACK_VERSION = "feedback_version"
    SAMPLE_FILE = "sample_file"  # a global template file; administrators only, no project


class Strategy(enum.StrEnum):
    SINGLE = "single"
    MULTIPART = "multipart"


class UploadStatus(enum.StrEnum):
    PENDING = "pending"  # signed URLs out, bytes on their way
    COMPLETED = "completed"  # checked and kept
    USED = "used"  # a feedback version was made of it
    ABORTED = "aborted"  # by its uploader, the sweeper, or a failed check (the object is gone)


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    """Limits from settings: sizes and content types by purpose, the multipart threshold, URL lifetime."""

    max_file_bytes: int
    max_video_bytes: int
    file_types: frozenset[str]
    video_types: frozenset[str]
    single_max_bytes: int
    part_bytes: int
    url_ttl: int
    stale_after: int

    def limit(self, purpose: Purpose) -> int:
        return self.max_video_bytes if purpose is Purpose.FEEDBACK_VERSION else self.max_file_bytes

    def types(self, purpose: Purpose) -> frozenset[str]:
        allowed = self.video_types if purpose is Purpose.FEEDBACK_VERSION else self.file_types
        return frozenset(t for t in allowed if t in SIGNATURES)  # a type whose bytes cannot be checked is refused


@dataclass(frozen=True, slots=True)
class Upload:
    id: int
    project_id: int | None  # None for a sample file
    user_id: int | None
    purpose: Purpose
    filename: str
    content_type: str
    size: int
    key: str
    strategy: Strategy
    multipart_id: str | None
    part_size: int | None
    status: UploadStatus
    created_at: datetime
    expires_at: datetime

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size) if self.part_size else 1


@dataclass(frozen=True, slots=True)
class NewUpload:
    project_id: int | None
    user_id: int
    purpose: Purpose
    filename: str
    content_type: str
    size: int
    key: str
    strategy: Strategy
    multipart_id: str | None
    part_size: int | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """What POST /uploads answers: how to send the bytes."""

    upload: Upload
    url: str | None


@dataclass(frozen=True, slots=True)
class ProjectFile:
    id: int
    project_id: int
    uploader_id: int | None
    uploader_nickname: str | None
    filename: str
    content_type: str
    size: int
    key: str
    created_at: datetime
    status: str = "ready"  # processing (a preview is being made), ready, or failed
    preview_key: str | None = None
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None
    fps: float | None = None


@dataclass(frozen=True, slots=True)
class SignedFile:
    file: ProjectFile
    url: str
    preview_url: str | None = None


@dataclass(frozen=True, slots=True)
class SampleFile:
    """A global sample file: uploaded by an administrator, or imported from the old system (`legacy`, its
    object at the old key, its size unknown)."""

    id: int
    filename: str
    content_type: str
    size: int | None
    key: str
    created_at: datetime
    legacy: bool = False


def _ftyp(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _quicktime(head: bytes) -> bool:
    return head[4:8] in {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut last character is fine
    except UnicodeDecodeError:
        return False
    return True


def _prefix(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: any(head.startswith(m) for m in magics)


ZIP = _prefix(b"PK\x03\x04", b"PK\x05\x06")

# Content type -> a check of the file's first bytes (its "magic number").
SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "video/mp4": _ftyp,
    "video/quicktime": _quicktime,
    "video/webm": _prefix(b"\x1a\x45\xdf\xa3"),
    "video/x-matroska": _prefix(b"\x1a\x45\xdf\xa3"),
    "image/png": _prefix(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": _prefix(b"\xff\xd8\xff"),
    "image/gif": _prefix(b"GIF87a", b"GIF89a"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "application/pdf": _prefix(b"%PDF-"),
    "text/plain": _text,
    "application/zip": ZIP,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ZIP,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ZIP,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ZIP,
    "application/x-7z-compressed": _prefix(b"7z\xbc\xaf\x27\x1c"),
    "application/gzip": _prefix(b"\x1f\x8b"),
}


def matches_type(content_type: str, head: bytes) -> bool:
    """Whether a file's first bytes are what its declared content type starts with."""
    check = SIGNATURES.get(content_type)
    return check is not None and check(head)
