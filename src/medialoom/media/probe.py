"""Inspect an uploaded file: its kind and format from the bytes, its size from the header.

Limits are enforced from what the header *declares*, before any pixel is decoded: a 2 MB
PNG that declares 20000x20000 pixels is refused without allocating 1.2 GB for it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyvips

from medialoom.media.formats import SNIFF_BYTES, mime_type_for, sniff

__all__ = ["InvalidMedia", "MediaInfo", "MediaRejected", "mime_type_for", "probe"]

# Animations may hold many frames; their total pixel count is capped at this many times the
# per-frame limit (a 5,000-frame GIF bomb is refused, a normal animation is not).
ANIMATION_PIXEL_FACTOR = 10
# PyAV reads at most this much to find the streams of a video (never the whole file).
VIDEO_PROBE_BYTES = 5_000_000
# Files up to this size are given to libvips as one buffer; larger ones are streamed to it.
IN_MEMORY_PROBE_BYTES = 16 * 1024 * 1024


class MediaRejected(ValueError):
    """The file is well-formed but over a limit (dimensions, frames)."""


class InvalidMedia(ValueError):
    """The bytes are not a valid file of the kind they look like."""


@dataclass(frozen=True)
class MediaInfo:
    resource_type: str  # image | video | raw
    format: str
    mime_type: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    duration: float | None = None
    details: dict[str, Any] = field(default_factory=dict)  # extra response fields (video/audio)

    def response_extras(self) -> dict[str, Any]:
        return dict(self.details)


def _check_pixels(width: int, height: int, pages: int, max_megapixels: float) -> None:
    megapixels = width * height / 1e6
    if megapixels > max_megapixels:
        raise MediaRejected(
            f"Image of {width}x{height} pixels ({megapixels:.1f} MP) exceeds the {max_megapixels:g} MP limit")
    if pages > 1 and megapixels * pages > max_megapixels * ANIMATION_PIXEL_FACTOR:
        raise MediaRejected(
            f"Animation of {pages} frames of {width}x{height} pixels exceeds the "
            f"{max_megapixels * ANIMATION_PIXEL_FACTOR:g} MP total limit")


def _vips_header(source: BinaryIO) -> tuple[int, int, int]:
    """Width, height and page count as libvips reads them from the header only."""
    data = source.read(IN_MEMORY_PROBE_BYTES + 1)
    source.seek(0)
    if len(data) <= IN_MEMORY_PROBE_BYTES:
        # Small files: handing libvips the bytes is cheaper than Python read callbacks.
        return _vips_image_header(pyvips.Source.new_from_memory(data))
    custom = pyvips.SourceCustom()
    custom.on_read(lambda size: source.read(size))

    def seek(offset: int, whence: int) -> int:
        source.seek(offset, whence)
        return source.tell()

    custom.on_seek(seek)
    return _vips_image_header(custom)


def _vips_image_header(vips_source: pyvips.Source) -> tuple[int, int, int]:
    try:
        image = pyvips.Image.new_from_source(vips_source, "", access="sequential")
        pages = image.get("n-pages") if image.get_typeof("n-pages") else 1
        # Multi-page formats report the height of one page when loaded this way.
        return image.width, image.height, max(1, int(pages))
    except pyvips.Error as error:
        raise InvalidMedia(_first_line(error)) from error


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return (text[-1] if text else "unreadable file")[:200]


def _bmp_header(head: bytes) -> tuple[int, int]:
    width, height = struct.unpack_from("<ii", head, 18)
    if width <= 0 or height == 0:
        raise InvalidMedia("BMP header declares an empty image")
    return width, abs(height)


def _ico_header(head: bytes) -> tuple[int, int]:
    width, height = head[6] or 256, head[7] or 256
    return width, height


def _probe_video(source: BinaryIO, sniffed_format: str, max_megapixels: float) -> MediaInfo:
    import av  # PyAV bundles FFmpeg; loaded only when a video or audio file arrives

    try:
        container = av.open(source, mode="r", options={"probesize": str(VIDEO_PROBE_BYTES),
                                                        "analyzeduration": "5000000"})
    except (av.FFmpegError, ValueError, OSError) as error:
        raise InvalidMedia(f"unreadable {sniffed_format} file: {_first_line(error)}") from error
    try:
        video = next((s for s in container.streams.video), None)
        audio = next((s for s in container.streams.audio), None)
        if video is None and audio is None:
            raise InvalidMedia(f"no audio or video stream in the {sniffed_format} file")
        duration = container.duration / 1_000_000 if container.duration else None
        details: dict[str, Any] = {}
        if container.bit_rate:
            details["bit_rate"] = int(container.bit_rate)
        width = height = None
        if video is not None:
            context = video.codec_context
            width, height = context.width or None, context.height or None
            if width and height:
                _check_pixels(width, height, 1, max_megapixels)
            if video.average_rate:
                details["frame_rate"] = round(float(video.average_rate), 3)
            details["video"] = {k: v for k, v in {
                "codec": context.name, "pix_format": getattr(context, "pix_fmt", None),
                "bit_rate": context.bit_rate or None, "profile": getattr(context, "profile", None),
            }.items() if v}
            if video.frames:
                details["nb_frames"] = int(video.frames)
        if audio is not None:
            context = audio.codec_context
            details["audio"] = {k: v for k, v in {
                "codec": context.name, "bit_rate": context.bit_rate or None, "frequency": context.sample_rate,
                "channels": getattr(context, "channels", None) or getattr(getattr(context, "layout", None), "nb_channels", None),
                "channel_layout": getattr(getattr(context, "layout", None), "name", None),
            }.items() if v}
        details["is_audio"] = video is None
        return MediaInfo("video", sniffed_format, mime_type_for(sniffed_format), width, height, None,
                         round(duration, 3) if duration else None, details)
    finally:
        container.close()


def probe(source: BinaryIO, *, max_megapixels: float) -> MediaInfo:
    """Classify ``source`` (a seekable binary file, left at position 0) and read its header."""
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    sniffed = sniff(head)
    try:
        if sniffed.resource_type == "raw":
            return MediaInfo("raw", "", "application/octet-stream")
        if sniffed.resource_type == "video":
            return _probe_video(source, sniffed.format, max_megapixels)
        if sniffed.format == "pdf":
            return MediaInfo("image", "pdf", mime_type_for("pdf"))
        if sniffed.format in ("bmp", "ico"):
            width, height = _bmp_header(head) if sniffed.format == "bmp" else _ico_header(head)
            pages = 1
        else:
            width, height, pages = _vips_header(source)
        _check_pixels(width, height, pages, max_megapixels)
        return MediaInfo("image", sniffed.format, mime_type_for(sniffed.format), width, height, pages)
    finally:
        source.seek(0)
