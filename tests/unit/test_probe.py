"""Media probing: the kind from the bytes, the size from the header, limits before decoding."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from fractions import Fraction

import av
import pytest
import pyvips
from hypothesis import given, settings
from hypothesis import strategies as st

from medialoom.media.probe import InvalidMedia, MediaRejected, probe


def image_bytes(suffix: str, width: int = 40, height: int = 30, **options) -> bytes:
    return pyvips.Image.black(width, height, bands=3).write_to_buffer(suffix, **options)


@pytest.mark.parametrize("suffix, fmt", [(".jpg", "jpg"), (".png", "png"), (".gif", "gif"), (".webp", "webp"),
                                         (".tif", "tiff"), (".avif", "avif")])
def test_images_by_their_bytes(suffix, fmt):
    info = probe(io.BytesIO(image_bytes(suffix)), max_megapixels=10)
    assert (info.resource_type, info.format, info.width, info.height, info.pages) == ("image", fmt, 40, 30, 1)


def test_animation_pages():
    frames = pyvips.Image.arrayjoin([pyvips.Image.black(20, 10, bands=3) + n * 50 for n in range(5)], across=1)
    frames = frames.cast("uchar").copy()
    frames.set_type(pyvips.GValue.gint_type, "page-height", 10)
    data = frames.write_to_buffer(".gif")
    info = probe(io.BytesIO(data), max_megapixels=10)
    assert (info.format, info.width, info.height, info.pages) == ("gif", 20, 10, 5)


def test_svg_bmp_ico_pdf():
    svg = b'<?xml version="1.0"?>\n<!-- c --><svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"/>'
    assert (probe(io.BytesIO(svg), max_megapixels=10).format, probe(io.BytesIO(svg), max_megapixels=10).width) == ("svg", 120)
    bmp = b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 7, -9) + b"\x00" * 40
    assert (probe(io.BytesIO(bmp), max_megapixels=10).width, probe(io.BytesIO(bmp), max_megapixels=10).height) == (7, 9)
    ico = b"\x00\x00\x01\x00\x01\x00" + bytes([16, 16]) + b"\x00" * 30
    assert probe(io.BytesIO(ico), max_megapixels=10).format == "ico"
    assert probe(io.BytesIO(b"%PDF-1.7\n..."), max_megapixels=10).format == "pdf"


def test_names_are_never_used_and_other_bytes_are_raw():
    html = b"<html><script>alert(1)</script></html>"
    assert probe(io.BytesIO(html), max_megapixels=10).resource_type == "raw"
    assert probe(io.BytesIO(b"plain text"), max_megapixels=10).resource_type == "raw"


def tiny_video(container_format: str = "mp4", codec: str = "libx264") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame(64, 48, "rgb24")
            frame.planes[0].update(bytes([index * 40]) * frame.planes[0].buffer_size)
            frame.pts = index
            frame.time_base = Fraction(1, 10)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def test_video_duration_and_codecs():
    info = probe(io.BytesIO(tiny_video()), max_megapixels=10)
    assert (info.resource_type, info.format, info.width, info.height) == ("video", "mp4", 64, 48)
    assert 0.3 <= info.duration <= 0.7
    assert info.details["video"]["codec"] == "h264" and info.details["is_audio"] is False
    webm = probe(io.BytesIO(tiny_video("webm", "libvpx")), max_megapixels=10)
    assert webm.format == "webm"


def test_broken_files_are_invalid():
    with pytest.raises(InvalidMedia):
        probe(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), max_megapixels=10)
    with pytest.raises(InvalidMedia):
        probe(io.BytesIO(b"\xff\xd8\xff\xe0" + b"garbage" * 10), max_megapixels=10)
    with pytest.raises(InvalidMedia):
        probe(io.BytesIO(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100), max_megapixels=10)


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 60000)) + chunk(b"IEND", b"")


def _jpeg_declaring(width: int, height: int) -> bytes:
    real = bytearray(image_bytes(".jpg", 16, 16))
    marker = real.find(b"\xff\xc0")
    struct.pack_into(">HH", real, marker + 5, height, width)
    return bytes(real)


BOMBS = {
    "png 20000x20000": lambda: _png_declaring(20000, 20000),
    "jpeg 65500x65500": lambda: _jpeg_declaring(65500, 65500),
    "webp lossless 16383x16383": lambda: pyvips.Image.black(16383, 16383).write_to_buffer(".webp", lossless=True),
    "svg 100000x100000": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"/>',
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_bombs_are_refused_from_the_header(name):
    data = BOMBS[name]()
    assert len(data) < 2 * 1024 * 1024
    with pytest.raises(MediaRejected, match="exceeds"):
        probe(io.BytesIO(data), max_megapixels=100)


def test_a_bomb_costs_no_memory():
    """Probe the PNG bomb in a fresh process and compare its peak RSS with a tiny image's."""
    script = (
        "import io,sys,resource; sys.path.insert(0, '.'); from tests.unit.test_probe import _png_declaring, image_bytes;"
        "from medialoom.media.probe import probe, MediaRejected; data = {}\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try: probe(io.BytesIO(data), max_megapixels=100)\nexcept MediaRejected: pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)"
    )
    growth_kb = int(subprocess.check_output([sys.executable, "-c", script.format("_png_declaring(20000, 20000)")]))
    assert growth_kb < 50 * 1024, f"probing a bomb grew RSS by {growth_kb} KB"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP",
                                                 b"\x00\x00\x00\x18ftypmp42", b"\x1a\x45\xdf\xa3", b"<svg ", b"BM"]))
def test_random_bytes_never_crash(body, prefix):
    try:
        probe(io.BytesIO(prefix + body), max_megapixels=100)
    except (InvalidMedia, MediaRejected):
        pass



def test_svg_is_still_an_image_once_the_renderer_has_blocked_untrusted_loaders():
    """The server imports the renderer, which blocks libvips' untrusted loaders for the whole
    process: SVG uploads must still be probed, and an SVG still reads no file and fetches nothing."""
    import medialoom.transform.render  # noqa: F401 - its import blocks the untrusted loaders

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"/>'
    assert probe(io.BytesIO(svg), max_megapixels=10).format == "svg"
    sneaky = (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" '
              b'height="8"><image xlink:href="file:///etc/passwd" width="8" height="8"/></svg>')
    assert pyvips.Image.new_from_buffer(sneaky, "").avg() == 0
