"""Upload rules without I/O: content signatures, the part size for huge files, the progress throttle."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from roughcut.domain.project_files import PROGRESS_INTERVAL, ProgressThrottle
from roughcut.domain.upload_model import S3_MAX_PARTS, SIGNATURES, Purpose, UploadPolicy, matches_type
from roughcut.domain.uploads import _part_size

MIB = 1024 * 1024
POLICY = UploadPolicy(
    max_file_bytes=5 * 1024**4,
    max_video_bytes=5 * 1024**4,
    file_types=frozenset(SIGNATURES) | {"application/x-unknown"},
    video_types=frozenset({"video/mp4"}),
    single_max_bytes=64 * MIB,
    part_bytes=16 * MIB,
    url_ttl=60,
    stale_after=600,
)


@pytest.mark.parametrize(
    ("content_type", "head", "ok"),
    [
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42", True),
        ("video/mp4", b"<!doctype html><html>", False),
        ("video/quicktime", b"\x00\x00\x00\x14ftypqt  ", True),
        ("video/webm", b"\x1a\x45\xdf\xa3\x01", True),
        ("image/png", b"\x89PNG\r\n\x1a\n....", True),
        ("image/png", b"MZ\x90\x00\x03", False),  # a Windows executable
        ("image/jpeg", b"\xff\xd8\xff\xe0", True),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", True),
        ("image/webp", b"RIFF\x00\x00\x00\x00AVI LIST", False),
        ("application/pdf", b"%PDF-1.7", True),
        ("text/plain", "caf\u00e9 notes\n".encode() + b"\xc3", True),  # a character cut at the end is fine
        ("text/plain", b"\x7fELF\x02\x01\x01\x00", False),
        ("application/zip", b"PK\x03\x04", True),
        ("application/x-unknown", b"anything", False),
    ],
)
def test_signatures(content_type: str, head: bytes, ok: bool) -> None:
    assert matches_type(content_type, head) is ok


def test_a_type_whose_bytes_cannot_be_checked_is_never_allowed() -> None:
    assert "application/x-unknown" not in POLICY.types(Purpose.PROJECT_FILE)
    assert POLICY.types(Purpose.FEEDBACK_VERSION) == {"video/mp4"}


@pytest.mark.parametrize("size", [65 * MIB, 160_000 * MIB, 5 * 1024**4])
def test_parts_stay_within_s3_limits(size: int) -> None:
    part = _part_size(POLICY, size)
    assert part >= POLICY.part_bytes and part % MIB == 0
    assert -(-size // part) <= S3_MAX_PARTS


def test_progress_is_at_most_four_a_second_per_upload_and_the_last_always_goes() -> None:
    throttle, t0 = ProgressThrottle(), datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(milliseconds=50)
    admitted = [n for n in range(40) if throttle.admit(1, False, t0 + n * step)]  # 2 s of reports every 50 ms
    assert len(admitted) == 8 and all(b - a >= PROGRESS_INTERVAL / step for a, b in itertools.pairwise(admitted))
    assert throttle.admit(2, False, t0)  # other uploads have their own budget
    assert throttle.admit(1, True, t0 + 40 * step + timedelta(milliseconds=1))  # the last one, however soon
