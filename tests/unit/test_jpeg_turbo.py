"""The libjpeg-turbo codec steps give what libvips' own would, and step aside when they cannot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyvips
import pytest

from medialoom.transform import grammar, jpeg_turbo
from medialoom.transform.render import Renderer


def _photo(width: int = 1200, height: int = 800, bands: int = 3) -> pyvips.Image:
    """Smooth colour ramps plus grain: decoders differ on detail, not only on flat colour."""
    x = pyvips.Image.xyz(width, height)
    ramps = [(x[0] * 255 / width), (x[1] * 255 / height), ((x[0] + x[1]) * 255 / (width + height))]
    image = ramps[0].bandjoin(ramps[1:]) if bands == 3 else ramps[0]
    grain = pyvips.Image.gaussnoise(width, height, sigma=6, mean=0)
    return (image + grain).cast("uchar").copy(interpretation="srgb" if bands == 3 else "b-w")


def _jpeg(image: pyvips.Image, **options) -> bytes:
    return image.write_to_buffer(".jpg", Q=90, **options)


def _difference(a: pyvips.Image, b: pyvips.Image) -> float:
    assert (a.width, a.height, a.bands) == (b.width, b.height, b.bands)
    return float((a.cast("float") - b.cast("float")).abs().avg())


def _header(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "", access="sequential")


@pytest.mark.parametrize("shrink", [2, 4, 8])
def test_shrunk_decode_matches_libvips(shrink: int) -> None:
    data = _jpeg(_photo(1201, 799))  # odd sizes: the scaled size rounds up, as libvips' does
    ours = jpeg_turbo.decode_shrunk(data, _header(data), shrink)
    theirs = pyvips.Image.new_from_buffer(data, "", shrink=shrink)
    assert ours is not None
    # libjpeg's scaled size rounds up (the last partial block is kept); libvips' rounds down.
    assert (ours.width, ours.height) == (-(-1201 // shrink), -(-799 // shrink))
    assert (theirs.width, theirs.height) == (1201 // shrink, 799 // shrink)
    assert _difference(ours.crop(0, 0, theirs.width, theirs.height), theirs) < 1.0


def test_shrunk_decode_reads_files_and_grey(tmp_path: Path) -> None:
    path = tmp_path / "grey.jpg"
    path.write_bytes(_jpeg(_photo(bands=1)))
    image = jpeg_turbo.decode_shrunk(path, _header(path.read_bytes()), 2)
    assert image is not None and image.bands == 1 and image.interpretation == "b-w"
    assert (image.width, image.height) == (600, 400)


def test_shrunk_decode_keeps_profile_orientation_and_resolution() -> None:
    source = _photo()
    profiled = pyvips.Image.new_from_buffer(_jpeg(source), "").icc_transform("p3", embedded=False)
    profiled = profiled.copy(xres=300 / 25.4, yres=300 / 25.4)
    profiled.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = profiled.write_to_buffer(".jpg", Q=90, keep="all")
    header = _header(data)
    image = jpeg_turbo.decode_shrunk(data, header, 2)
    assert image is not None
    assert image.get("icc-profile-data") == header.get("icc-profile-data")
    assert image.get("orientation") == 6
    assert image.xres == pytest.approx(300 / 25.4)


def test_cmyk_and_damaged_files_are_left_to_libvips() -> None:
    cmyk = _photo().icc_transform("cmyk").cast("uchar").write_to_buffer(".jpg", Q=90)
    assert jpeg_turbo.decode_shrunk(cmyk, _header(cmyk), 2) is None
    whole = _jpeg(_photo())
    truncated = whole[: len(whole) // 2]
    assert jpeg_turbo.decode_shrunk(truncated, _header(truncated), 2) is None
    # libvips still renders what it can of the damaged file, as before this decoder existed.
    rendered = Renderer(max_megapixels=50).render(truncated, grammar.parse("w_300"), "jpg")
    assert (rendered.width, rendered.height) == (300, 200)


def test_too_large_a_decode_is_left_to_libvips(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jpeg(_photo())
    monkeypatch.setattr(jpeg_turbo, "MAX_DECODED_PIXELS", 100 * 100)
    assert jpeg_turbo.decode_shrunk(data, _header(data), 2) is None


def test_rotated_source_renders_upright_through_the_shrunk_decode() -> None:
    image = _photo(1200, 800)
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)  # stored landscape, shown portrait
    data = image.write_to_buffer(".jpg", Q=90, keep="all")
    rendered = Renderer(max_megapixels=50).render(data, grammar.parse("w_200"), "jpg")
    assert (rendered.width, rendered.height) == (200, 300)


@pytest.mark.parametrize("progressive", [False, True])
def test_encode_matches_libvips(progressive: bool) -> None:
    image = _photo(500, 333)
    ours = jpeg_turbo.encode(image, quality=80, progressive=progressive, full_chroma=False, keep="none")
    theirs = image.write_to_buffer(".jpg", Q=80, interlace=progressive, optimize_coding=True, keep="none")
    assert ours is not None
    decoded = pyvips.Image.new_from_buffer(ours, "")
    assert _difference(decoded, pyvips.Image.new_from_buffer(theirs, "")) < 1.0
    assert decoded.get("jpeg-multiscan") == int(progressive)
    assert decoded.get("jpeg-chroma-subsample") == "4:2:0"
    assert 0.8 < len(ours) / len(theirs) < 1.2


def test_encode_full_chroma_when_asked_or_at_high_quality() -> None:
    image = _photo(300, 200)
    asked = jpeg_turbo.encode(image, quality=80, progressive=False, full_chroma=True, keep="none")
    high = jpeg_turbo.encode(image, quality=92, progressive=False, full_chroma=False, keep="none")
    for data in (asked, high):
        assert _header(data).get("jpeg-chroma-subsample") == "4:4:4"


def test_encode_keeps_the_profile_only_when_asked() -> None:
    image = pyvips.Image.new_from_buffer(_jpeg(_photo(300, 200)), "").icc_transform("p3", embedded=False)
    kept = jpeg_turbo.encode(image, quality=80, progressive=False, full_chroma=False, keep="icc")
    stripped = jpeg_turbo.encode(image, quality=80, progressive=False, full_chroma=False, keep="none")
    assert _header(kept).get("icc-profile-data") == image.get("icc-profile-data")
    assert not _header(stripped).get_typeof("icc-profile-data")
    # IPTC and XMP are written by libvips' saver, which the renderer then uses.
    assert jpeg_turbo.encode(image, quality=80, progressive=False, full_chroma=False, keep="icc:iptc:xmp") is None


def test_grey_encode() -> None:
    data = jpeg_turbo.encode(_photo(300, 200, bands=1), quality=80, progressive=False, full_chroma=False,
                             keep="none")
    decoded = pyvips.Image.new_from_buffer(data, "")
    assert decoded.bands == 1
    assert np.isclose(decoded.avg(), _photo(300, 200, bands=1).avg(), atol=2)
