"""The libjpeg-turbo decoder gives what libvips' own would, and steps aside when it cannot."""

from __future__ import annotations

from pathlib import Path

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
