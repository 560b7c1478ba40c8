"""Decode a JPEG already shrunk by 2, 4 or 8 with libjpeg-turbo (through simplejpeg).

Decoding is most of what a resized JPEG costs. pyvips-binary's libvips decodes with mozjpeg,
which takes ~1.7x the CPU of libjpeg-turbo at the same scale (a 2040x1356 photo at 1/2, one
thread: ~24 ms against ~13-15 ms), and thumbor (Pillow, libjpeg-turbo) and IPX are measured
against us on exactly that. simplejpeg decodes with the GIL released (two renderings decode
side by side) straight into a packed NumPy array, which libvips then reads in place: the rest
of the pipeline (resampling, effects, layers, encoders) stays libvips'.

Only the plain case is taken: an 8-bit YCbCr or greyscale JPEG of bounded size. Anything else
(CMYK, a file libjpeg-turbo calls damaged, a large original that libvips would stream) answers
None and the caller decodes with libvips as before, so what is rendered never depends on this
module being able to read the file.
"""

from __future__ import annotations

from pathlib import Path

import pyvips
import simplejpeg

# A shrunk decode is held whole in memory (libvips would stream it): bound what that can cost.
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DECODED_PIXELS = 16_000_000
# Metadata the encoders may keep (keep=icc, or icc:iptc:xmp); the orientation is copied too.
_BLOBS = ("icc-profile-data", "iptc-data", "xmp-data")


def decode_shrunk(source: bytes | Path, header: pyvips.Image, shrink: int) -> pyvips.Image | None:
    """``source`` decoded at 1/``shrink`` scale carrying ``header``'s metadata, or None when this
    decoder does not take the file."""
    if header.bands not in (1, 3) or header.format != "uchar":
        return None
    width, height = -(-header.width // shrink), -(-header.height // shrink)
    if width * height > MAX_DECODED_PIXELS:
        return None
    try:
        if isinstance(source, Path):
            if source.stat().st_size > MAX_FILE_BYTES:
                return None
            data = source.read_bytes()
        elif len(source) > MAX_FILE_BYTES:
            return None
        else:
            data = source
        grey = header.bands == 1
        # libjpeg-turbo picks the smallest of its M/8 scales that covers these: 1/shrink.
        pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grey else "RGB", min_width=width,
                                        min_height=height)
    except (OSError, ValueError):
        return None  # damaged or unusual (CMYK): libvips decodes what it can, as it did before
    if pixels.shape[:2] != (height, width):
        return None
    image = pyvips.Image.new_from_memory(pixels.data, width, height, 1 if grey else 3, "uchar")
    image = image.copy(interpretation="b-w" if grey else "srgb", xres=header.xres, yres=header.yres)
    for name in _BLOBS:
        if header.get_typeof(name):
            image.set_type(pyvips.GValue.blob_type, name, header.get(name))
    if header.get_typeof("orientation"):
        image.set_type(pyvips.GValue.gint_type, "orientation", header.get("orientation"))
    return image
