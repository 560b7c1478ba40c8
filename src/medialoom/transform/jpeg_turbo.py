"""JPEG decoding (shrunk by 2, 4 or 8) and encoding with libjpeg-turbo, through Pillow.

pyvips-binary's libvips reads and writes JPEG with mozjpeg, which costs far more CPU than
libjpeg-turbo on what delivery does most (one thread, a 2040x1356 photo, measured in-process):
decoding at 1/2 ~24 ms against ~14 ms, a progressive 500x333 encode ~5.7 ms against ~2.7 ms, a
baseline one with optimized Huffman tables ~2.9 ms against ~1.1 ms. thumbor (Pillow) is measured
against us on exactly that path. So the JPEG codec steps go through Pillow's libjpeg-turbo and
everything between them (resampling, crops, effects, layers) stays libvips': pixels cross over
as one buffer each way.

Only the plain cases are taken: 8-bit YCbCr or greyscale, bounded sizes, metadata Pillow
writes as libvips would. Anything else answers None and the caller uses libvips as before, so
what is rendered never depends on this module being able to handle the file.
"""

from __future__ import annotations

import io
from pathlib import Path

import pyvips
from PIL import Image

# A shrunk decode is held whole in memory (libvips would stream it): bound what that can cost.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DECODED_PIXELS = 16_000_000
# libvips turns chroma subsampling off from this quality up; the results must not depend on
# which encoder made them.
_FULL_CHROMA_FROM_Q = 90
# Metadata libvips' savers may keep (keep=icc, or icc:iptc:xmp) or the renderer reads later.
_BLOBS = ("icc-profile-data", "iptc-data", "xmp-data")
_MODES = {"RGB": ("srgb", 3), "L": ("b-w", 1)}


def decode_shrunk(source: bytes | Path, header: pyvips.Image, shrink: int) -> pyvips.Image | None:
    """``source`` decoded at 1/``shrink`` scale carrying ``header``'s metadata, or None when this
    decoder does not take the file."""
    if header.bands not in (1, 3) or header.format != "uchar":
        return None
    if header.width * header.height > Image.MAX_IMAGE_PIXELS:
        return None  # Pillow would warn of a decompression bomb; our own limit was checked already
    if -(-header.width // shrink) * -(-header.height // shrink) > MAX_DECODED_PIXELS:
        return None
    try:
        if (source.stat().st_size if isinstance(source, Path) else len(source)) > MAX_FILE_BYTES:
            return None
        with Image.open(source if isinstance(source, Path) else io.BytesIO(source), formats=["JPEG"]) as opened:
            if opened.mode not in _MODES or opened.size != (header.width, header.height):
                return None
            # Pillow picks the largest of 1/8, 1/4, 1/2 that keeps at least this size.
            opened.draft(opened.mode, (header.width // shrink, header.height // shrink))
            opened.load()
            interpretation, bands = _MODES[opened.mode]
            width, height = opened.size
            pixels = opened.tobytes()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None  # damaged or unusual: libvips decodes what it can, as it did before
    image = pyvips.Image.new_from_memory(pixels, width, height, bands, "uchar")
    image = image.copy(interpretation=interpretation, xres=header.xres, yres=header.yres)
    for name in _BLOBS:
        if header.get_typeof(name):
            image.set_type(pyvips.GValue.blob_type, name, header.get(name))
    if header.get_typeof("orientation"):
        image.set_type(pyvips.GValue.gint_type, "orientation", header.get("orientation"))
    return image


def encode(image: pyvips.Image, *, quality: int, progressive: bool, full_chroma: bool,
           keep: str) -> bytes | None:
    """``image`` (8-bit sRGB or grey, no alpha) as a JPEG with optimized Huffman tables, or None
    when it asks for what this encoder does not write as libvips would (IPTC, XMP)."""
    modes = {3: "RGB", 1: "L"}
    if image.format != "uchar" or image.bands not in modes or keep not in ("none", "icc"):
        return None
    options: dict = {"quality": quality, "optimize": True, "progressive": progressive,
                     "dpi": (image.xres * 25.4, image.yres * 25.4)}
    if image.bands == 3:
        options["subsampling"] = 0 if full_chroma or quality >= _FULL_CHROMA_FROM_Q else 2
    if keep == "icc" and image.get_typeof("icc-profile-data"):
        options["icc_profile"] = image.get("icc-profile-data")
    pixels = Image.frombuffer(modes[image.bands], (image.width, image.height), image.write_to_memory(),
                              "raw", modes[image.bands], 0, 1)
    output = io.BytesIO()
    pixels.save(output, "JPEG", **options)
    return output.getvalue()
