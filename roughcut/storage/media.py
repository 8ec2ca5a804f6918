"""MediaTools: image thumbnails with Pillow; video metadata (size, duration, frame rate) and a poster frame with
the ffprobe/ffmpeg binaries.

Both run off the event loop (Pillow in a worker thread, FFmpeg as a subprocess with a time limit), on a
local copy of the object. A file they cannot decode raises MediaError, which fails the job's attempt.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from roughcut.domain.ports import MediaInfo

THUMBNAIL_BOX = (480, 480)  # the longest side of a thumbnail or poster
WEBP_QUALITY = 80
MAX_PIXELS = 100_000_000  # Pillow refuses larger images (decompression bombs)
TOOL_TIMEOUT = 120.0  # seconds for one ffprobe or ffmpeg run
POSTER_AT = 1.0  # seconds into the video (or its first frame when shorter)


class MediaError(Exception):
    """A file the tools cannot decode."""


class MediaTools:
    """Pillow for images; FFmpeg's command-line tools for videos (found on PATH)."""

    def __init__(self) -> None:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS

    async def thumbnail(self, src: Path, dest: Path) -> MediaInfo:
        """A WebP thumbnail of an image; answers the image's dimensions."""
        return await asyncio.to_thread(_thumbnail, src, dest)

    async def poster(self, src: Path, dest: Path) -> MediaInfo:
        """A WebP poster frame of a video; answers its dimensions and duration."""
        info = await _probe(src)
        frame = dest.with_suffix(".png")
        at = POSTER_AT if (info.duration_ms or 0) > POSTER_AT * 1000 else 0.0
        await _run("ffmpeg", "-v", "error", "-y", "-ss", str(at), "-i", str(src), "-frames:v", "1", str(frame))
        if not frame.is_file():
            raise MediaError("ffmpeg made no frame")
        await asyncio.to_thread(_thumbnail, frame, dest)
        return info


def _thumbnail(src: Path, dest: Path) -> MediaInfo:
    try:
        with Image.open(src) as image:
            size = image.size
            image.thumbnail(THUMBNAIL_BOX)
            image.convert("RGBA" if image.mode in {"RGBA", "LA", "P"} else "RGB").save(
                dest, "WEBP", quality=WEBP_QUALITY
            )
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise MediaError(f"not a readable image: {exc}") from exc
    return MediaInfo(width=size[0], height=size[1])


async def _probe(src: Path) -> MediaInfo:
    out = await _run(
        "ffprobe", "-v", "error", "-select_streams", "v:0",
        "-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate:format=duration", "-of", "json", str(src),
    )  # fmt: skip
    try:
        found = json.loads(out)
        stream = found["streams"][0]
        duration = float(found["format"]["duration"])
        size = int(stream["width"]), int(stream["height"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MediaError("ffprobe found no video stream") from exc
    fps = _rate(stream.get("avg_frame_rate")) or _rate(stream.get("r_frame_rate"))
    return MediaInfo(width=size[0], height=size[1], duration_ms=round(duration * 1000), fps=fps)


def _rate(value: object) -> float | None:
    """ffprobe's `30000/1001` as 29.97; None for `0/0` or anything unreadable."""
    if not isinstance(value, str):
        return None
    num, _, den = value.partition("/")
    try:
        rate = float(num) / float(den or "1")
    except (ValueError, ZeroDivisionError):
        return None
    return round(rate, 3) if rate > 0 else None


async def _run(tool: str, *args: str) -> bytes:
    path = shutil.which(tool)
    if path is None:
        raise MediaError(f"{tool} is not installed")
    proc = await asyncio.create_subprocess_exec(
        path, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TOOL_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise MediaError(f"{tool} took longer than {TOOL_TIMEOUT:g} s") from None
    except asyncio.CancelledError:  # the job's time limit, or the worker stopping: no tool outlives its job
        proc.kill()
        await asyncio.shield(proc.wait())
        raise
    if proc.returncode != 0:
        raise MediaError(f"{tool} failed: {err.decode(errors='replace')[-500:]}")
    return out
