"""Display filenames: only the last segment, no control characters, bounded; download names both ways."""

from __future__ import annotations

import pytest

from roughcut.domain.file_names import MAX_FILENAME, content_disposition, sanitize_filename


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("cut v2.mp4", "cut v2.mp4"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("/abs/path/clip.mov", "clip.mov"),
        ("a\x00b\x1fc\u202etxt.exe", "abctxt.exe"),  # NUL, a control and the right-to-left override go
        ("line\nbreak\ttab.png", "linebreaktab.png"),
        ("  spaced   out .mp4 ", "spaced out .mp4"),
        ("..", "file"),
        (".hidden", "hidden"),
        ("", "file"),
        ("e\u0301te\u0301.mov", "\u00e9t\u00e9.mov"),  # NFC
    ],
)
def test_sanitize_filename(given: str, kept: str) -> None:
    assert sanitize_filename(given) == kept


def test_long_names_keep_their_extension() -> None:
    name = sanitize_filename("x" * 500 + ".mp4")
    assert len(name) == MAX_FILENAME and name.endswith(".mp4")


def test_content_disposition_names_the_file_safely() -> None:
    value = content_disposition('../ré"sumé\r\n.pdf')
    assert value == "attachment; filename=\"r__sum_.pdf\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.pdf"
    assert "\r" not in value and "\n" not in value
