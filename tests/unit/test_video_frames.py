"""Still frames from videos for video thumbnails: the right moment, safely decoded.

The videos are made here with PyAV: three seconds at 10 fps, one solid colour per second,
so the colour of the frame returned says which moment it was taken from.
"""

from __future__ import annotations

import io
import subprocess
import sys

import av
import numpy
import pytest
import pyvips

from medialoom.media.video_frames import (InvalidOffset, Offset, VideoFrameError, VideoFramesUnavailable, frame_at,
                                          parse_offset)

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
FPS = 10
SIZE = (64, 48)


def make_video(codec: str = "libx264", container_format: str = "mp4", colours=(RED, BLUE, GREEN), *,
               rotation: int | None = None, size: tuple[int, int] = SIZE) -> bytes:
    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for colour in colours:
            pixels = numpy.empty((height, width, 3), dtype=numpy.uint8)
            pixels[:] = colour
            if rotation is not None:
                pixels[:, : width // 2] = GREEN  # a marker that shows which way the frame was turned
            for _ in range(FPS):
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def make_noisy_video(*, seconds: int, marker_second: int, marker: tuple[int, int, int],
                     size: tuple[int, int] = (160, 120)) -> bytes:
    """An MP4 of random noise (large for its length: noise does not compress) with a keyframe each
    second and one second of a solid ``marker`` colour; the index is written at the end, as usual."""
    width, height = size
    random = numpy.random.default_rng(7)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=FPS, options={"crf": "10", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = FPS
        for second in range(seconds):
            for _ in range(FPS):
                if second == marker_second:
                    pixels = numpy.empty((height, width, 3), dtype=numpy.uint8)
                    pixels[:] = marker
                else:
                    pixels = random.integers(0, 256, (height, width, 3), dtype=numpy.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def colour_of(image: pyvips.Image, x: int | None = None, y: int | None = None) -> tuple[int, ...]:
    x = image.width // 2 if x is None else x
    y = image.height // 2 if y is None else y
    return tuple(round(v) for v in image.getpoint(x, y))


def assert_colour(image: pyvips.Image, expected: tuple[int, int, int], x: int | None = None,
                  y: int | None = None) -> None:
    actual = colour_of(image, x, y)
    # Lossy YUV 4:2:0 coding shifts solid colours by a few levels, never by half the range.
    assert all(abs(a - e) <= 24 for a, e in zip(actual, expected, strict=True)), (actual, expected)


# MP4 (indexed: exact seeks), AVI with MPEG-4 part 2, and MPEG-TS, whose seeks are estimates
# that can land after the target (the module then decodes from the start).
FORMATS = [("libx264", "mp4"), ("mpeg4", "avi"), ("libx264", "mpegts")]


@pytest.fixture(scope="module", params=FORMATS, ids=[f"{c}-{f}" for c, f in FORMATS])
def video(request) -> bytes:
    return make_video(*request.param)


def test_the_frame_at_an_offset(video):
    assert_colour(frame_at(video, 0.5), RED)
    assert_colour(frame_at(video, 1.5), BLUE)
    assert_colour(frame_at(video, 2.5), GREEN)
    assert_colour(frame_at(video, 0), RED)


def test_the_frame_at_or_after_the_offset(video):
    # Frames are at 0.9 s (red) and 1.0 s (blue): between them the later one is shown.
    assert_colour(frame_at(video, 0.95), BLUE)
    assert_colour(frame_at(video, 1.0), BLUE)
    assert_colour(frame_at(video, 0.9), RED)


def test_no_offset_is_the_middle(video):
    assert_colour(frame_at(video, None), BLUE)
    assert_colour(frame_at(video), BLUE)
    assert_colour(frame_at(video, parse_offset("auto")), BLUE)


def test_past_the_end_is_the_last_frame(video):
    assert_colour(frame_at(video, 2.95), GREEN)
    assert_colour(frame_at(video, 60), GREEN)
    assert_colour(frame_at(video, 1e9), GREEN)


def test_percent_offsets(video):
    assert_colour(frame_at(video, parse_offset("10p")), RED)
    assert_colour(frame_at(video, parse_offset("50p")), BLUE)
    assert_colour(frame_at(video, parse_offset("90p")), GREEN)
    assert_colour(frame_at(video, parse_offset("100p")), GREEN)
    assert_colour(frame_at(video, Offset(seconds=2.2)), GREEN)


def test_the_result_is_an_srgb_image(video):
    image = frame_at(video, 1.2)
    assert (image.width, image.height, image.bands) == SIZE + (3,)
    assert (image.interpretation, image.format) == ("srgb", "uchar")
    assert image.write_to_buffer(".png")  # a complete image the renderer can take


def test_other_codecs():
    webm = make_video("libvpx-vp9", "webm")
    assert_colour(frame_at(webm, 0.5), RED)
    assert_colour(frame_at(webm, None), BLUE)
    assert_colour(frame_at(webm, 99), GREEN)


def test_display_rotation_is_applied():
    # Turned 90 degrees counter-clockwise for display: the green left half ends up at the bottom.
    image = frame_at(make_video(colours=(RED,), rotation=90), 0.5)
    assert (image.width, image.height) == (SIZE[1], SIZE[0])
    assert_colour(image, RED, image.width // 2, 5)
    assert_colour(image, GREEN, image.width // 2, image.height - 5)


def test_frames_over_the_pixel_limit_are_refused():
    video = make_video(colours=(RED,))
    with pytest.raises(VideoFrameError, match="64x48, over the limit"):
        frame_at(video, 0.5, max_pixels=64 * 48 - 1)
    assert frame_at(video, 0.5, max_pixels=64 * 48).width == 64


def audio_only() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(numpy.zeros((1, 1024), dtype=numpy.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize("data, message", [
    (b"", "Cannot read this video"),
    (b"this is not a video at all " * 100, "Cannot read this video"),
    (make_video()[:400], "Cannot read this video"),
    (pyvips.Image.black(20, 10).write_to_buffer(".png"), "Not a video"),
    (audio_only(), "no video stream"),
], ids=["empty", "text", "truncated-mp4", "png", "audio-only"])
def test_what_is_not_a_video_is_refused(data, message):
    with pytest.raises(VideoFrameError, match=message):
        frame_at(data, 0.5)


def test_a_damaged_middle_still_gives_a_frame():
    damaged = bytearray(make_video("libx264", "mpegts"))
    middle = len(damaged) // 2
    damaged[middle:middle + 2000] = b"\xff" * 2000
    image = frame_at(bytes(damaged), 2.5)
    assert (image.width, image.height) == SIZE


def test_parse_offset():
    assert parse_offset("2.5") == Offset(seconds=2.5)
    assert parse_offset("0") == Offset(seconds=0.0)
    assert parse_offset(".5") == Offset(seconds=0.5)
    assert parse_offset("50p") == Offset(percent=50.0)
    assert parse_offset("12.5p") == Offset(percent=12.5)
    assert parse_offset("auto") is None
    for bad in ("", "-1", "abc", "150p", "2.5s", "p", "1" * 400):
        with pytest.raises(InvalidOffset):
            parse_offset(bad)


def test_offsets_in_seconds():
    assert Offset(percent=25).seconds_in(8.0) == 2.0
    assert Offset(percent=25).seconds_in(None) == 0.0
    assert Offset(seconds=3).seconds_in(None) == 3
    with pytest.raises(ValueError):
        Offset()
    with pytest.raises(ValueError):
        Offset(seconds=1, percent=1)


def test_negative_and_non_numbers(video):
    assert_colour(frame_at(video, -5), RED)
    with pytest.raises(InvalidOffset):
        frame_at(video, float("nan"))


def test_without_pyav(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes "import av" raise ImportError
    with pytest.raises(VideoFramesUnavailable, match="PyAV"):
        frame_at(b"anything", None)


def test_pyav_is_imported_only_when_a_frame_is_asked_for():
    code = "import sys, medialoom.media.video_frames; sys.exit('av' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
