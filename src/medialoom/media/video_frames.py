"""One still frame out of a video: the picture behind a Cloudinary video thumbnail.

A video delivered with an image extension (``.../video/upload/so_2.5/clip.jpg``) is the frame
shown at the start offset, or at the middle of the video when no offset is given (``so_auto``
is also taken as the middle: Cloudinary's "best frame" choice is not reproduced).

Only what that frame needs is decoded: the demuxer seeks to the last keyframe at or before the
offset and decoding runs forward from there, so a thumbnail at 50 minutes costs one group of
pictures, not 50 minutes of video (where a seek proves unreliable, as in MPEG-TS, decoding
starts over from the first frame instead). A frame's size is checked before it is converted to RGB, so
a stream that declares (or turns out to carry) gigantic frames is refused, not allocated.

PyAV (FFmpeg) is imported on the first request only; without it, :class:`VideoFramesUnavailable`.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, BinaryIO

import pyvips

__all__ = ["DEFAULT_MAX_PIXELS", "InvalidOffset", "Offset", "VideoFrameError", "VideoFramesUnavailable",
           "frame_at", "parse_offset"]

DEFAULT_MAX_PIXELS = 50_000_000
_OFFSET = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)(?P<percent>[p%]?)")


class VideoFrameError(ValueError):
    """The bytes hold no frame that can be shown (not a video, corrupt, or frames too large)."""


class VideoFramesUnavailable(RuntimeError):
    """Frames cannot be taken from videos on this server: the optional PyAV package is missing."""


class InvalidOffset(ValueError):
    """A start offset that is neither seconds, a percentage nor ``auto``."""


@dataclass(frozen=True)
class Offset:
    """A position in a video: ``seconds`` from the start, or ``percent`` of its duration."""

    seconds: float | None = None
    percent: float | None = None

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.percent is None):
            raise ValueError("an Offset is either seconds or a percentage")

    def seconds_in(self, duration: float | None) -> float:
        """Seconds from the start; a percentage of an unknown duration is the start."""
        if self.seconds is not None:
            return self.seconds
        return (duration or 0.0) * self.percent / 100


def parse_offset(value: str) -> Offset | None:
    """A Cloudinary ``so_`` value: ``2.5`` seconds, ``50p`` percent, or ``auto`` (``None``: the middle)."""
    text = value.strip().lower()
    if text == "auto":
        return None
    match = _OFFSET.fullmatch(text)
    if match is None:
        raise InvalidOffset(f"Invalid start offset {value!r}: expected seconds (2.5), a percentage (50p) or auto")
    number = float(match["number"])
    if not math.isfinite(number):
        raise InvalidOffset(f"Invalid start offset {value!r}: too large")
    if match["percent"]:
        if number > 100:
            raise InvalidOffset(f"Invalid start offset {value!r}: a percentage is at most 100")
        return Offset(percent=number)
    return Offset(seconds=number)


def frame_at(source: bytes | Callable[[], BinaryIO], offset: float | Offset | None = None, *,
             max_pixels: int = DEFAULT_MAX_PIXELS) -> pyvips.Image:
    """The frame shown at ``offset`` (seconds, or an :class:`Offset`; ``None``: the middle) as 8-bit sRGB.

    ``source`` is the video's bytes, or a function opening it as a seekable file (a large video
    is then read in the ranges the demuxer asks for, never whole). The first frame at or after
    the offset is taken; an offset past the end gives the last frame.
    """
    av = _av()
    with ExitStack() as cleanup:
        container = _open(av, source, cleanup)
        stream = next(iter(container.streams.video), None)
        if stream is None:
            raise VideoFrameError("The file holds no video stream")
        declared = (stream.codec_context.width or 0) * (stream.codec_context.height or 0)
        if declared > max_pixels:
            raise VideoFrameError(_too_large(stream.codec_context.width, stream.codec_context.height, max_pixels))
        time_base = stream.time_base or Fraction(1, 1_000_000)
        start = stream.start_time or 0
        duration = _duration(container, stream, time_base)
        seconds = _target_seconds(offset, duration)
        if duration is not None:
            seconds = min(seconds, duration)
        # The target in the stream's own ticks, rounded up ("at or after": 0.95 s in AVI's
        # 1/10 s ticks is tick 10), less a thousandth of a tick so a float just over an exact
        # stamp (0.1 s is 0.1000000000000000055) still matches the frame stamped there.
        target = start + math.ceil(Fraction(seconds) / time_base - Fraction(1, 1000))
        frame = _after_seek(av, container, stream, target, max_pixels) if target > start else None
        if frame is None:
            if target > start:
                # The seek could not be trusted: start over and decode from the first frame.
                container.close()
                container = _open(av, source, cleanup)
                stream = next(iter(container.streams.video))
            frame = _decode_from(av, container, stream, target, max_pixels)
        return _to_image(frame)


# -- helpers -------------------------------------------------------------------------------

def _av() -> Any:
    try:
        import av
    except ImportError as error:
        raise VideoFramesUnavailable("Video thumbnails need the optional PyAV package (pip install av)") from error
    return av


def _open(av: Any, source: bytes | Callable[[], BinaryIO], cleanup: ExitStack) -> Any:
    """The container, closed by ``cleanup`` with the file under it (PyAV leaves a file object open)."""
    file = io.BytesIO(source) if isinstance(source, bytes) else source()
    cleanup.callback(file.close)
    try:
        container = av.open(file, mode="r")
    except (av.FFmpegError, ValueError, OSError, EOFError) as error:
        raise VideoFrameError(f"Cannot read this video: {_reason(error)}") from None
    cleanup.callback(container.close)
    # FFmpeg also opens single pictures (PNG, JPEG, ... through its image pipes); they are
    # images, not videos, and belong to the image renderer.
    if container.format.name.endswith("_pipe") or container.format.name == "image2":
        raise VideoFrameError(f"Not a video: the file is a single {container.format.name.removesuffix('_pipe')} "
                              "picture")
    return container


def _duration(container: Any, stream: Any, time_base: Fraction) -> float | None:
    if stream.duration:
        return float(stream.duration * time_base)
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE: microseconds
    return None


def _target_seconds(offset: float | Offset | None, duration: float | None) -> float:
    if offset is None:
        return (duration or 0.0) / 2  # unknown duration: the first frame is the best guess
    seconds = offset.seconds_in(duration) if isinstance(offset, Offset) else float(offset)
    if not math.isfinite(seconds):
        raise InvalidOffset(f"Invalid start offset {seconds}")
    return max(0.0, seconds)


def _after_seek(av: Any, container: Any, stream: Any, target: int, max_pixels: int) -> Any:
    """The frame for ``target`` reached by seeking, or None when the seek cannot be trusted."""
    try:
        # backward=True asks for the last keyframe at or before the target: decoding can only
        # start at a keyframe.
        container.seek(target, stream=stream, backward=True, any_frame=False)
    except av.FFmpegError:
        return None
    return _decode_from(av, container, stream, target, max_pixels, after_seek=True)


def _decode_from(av: Any, container: Any, stream: Any, target: int, max_pixels: int, *,
                 after_seek: bool = False) -> Any:
    """The first frame stamped at or after ``target``, else the last frame decoded.

    After a seek, None when the landing is suspect. Demuxers without an index (MPEG-TS, some
    AVI) seek by estimate and may land after the target, or between keyframes where nothing
    decodes: the first frame decoded is then stamped after the target, or none comes out.
    """
    last = None
    try:
        for frame in container.decode(stream):
            if frame.width * frame.height > max_pixels:
                raise VideoFrameError(_too_large(frame.width, frame.height, max_pixels))
            if after_seek and last is None and (frame.pts is None or frame.pts > target):
                return None
            last = frame
            if frame.pts is not None and frame.pts >= target:
                break
    except av.FFmpegError as error:
        # A damaged tail still leaves the frames before it; with none decoded, the file is
        # unusable (unless a seek landed badly: the caller then decodes from the start).
        if last is None and not after_seek:
            raise VideoFrameError(f"Cannot decode this video: {_reason(error)}") from None
    if last is None and not after_seek:
        raise VideoFrameError("The video holds no decodable frame")
    return last


def _to_image(frame: Any) -> pyvips.Image:
    # Full-range RGB out; the source range is the frame's own (limited for most video, full
    # for "yuvj" streams), which FFmpeg would otherwise assume to be limited.
    pixels = frame.to_ndarray(format="rgb24", src_color_range=frame.color_range or None, dst_color_range="JPEG")
    image = pyvips.Image.new_from_array(pixels, interpretation="srgb")
    # Phones record portrait video as landscape frames plus a display rotation (degrees
    # counter-clockwise); show it the way players do. libvips' rot90 turns clockwise.
    clockwise = -round(frame.rotation or 0) % 360
    if clockwise == 90:
        image = image.rot90()
    elif clockwise == 180:
        image = image.rot180()
    elif clockwise == 270:
        image = image.rot270()
    return image


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (f"The video's frames are {width}x{height}, over the limit of "
            f"{max_pixels / 1_000_000:g} megapixels")


def _reason(error: Exception) -> str:
    text = (getattr(error, "strerror", None) or str(error)).strip().splitlines()
    return (text[-1] if text else "unreadable file")[:200]
