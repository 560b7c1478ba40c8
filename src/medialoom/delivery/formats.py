"""Which format a delivery answers with: ``f_``, the URL's extension, ``f_auto`` or the original.

Pure. ``f_auto`` picks by the request's ``Accept`` header (AVIF, then WebP, else the original
family), so its answers must carry ``Vary: Accept``.
"""

from __future__ import annotations

from dataclasses import dataclass

from medialoom.transform.grammar import Transformation, TransformationError
from medialoom.transform.render import OUTPUT_FORMATS

# Extensions that name the same format as another (what an asset's format is stored as).
FORMAT_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff"}
# Originals we can read but not write are delivered as the closest format we can write.
_FALLBACK = {"tiff": "jpg", "tif": "jpg", "bmp": "png", "ico": "png", "heic": "jpg", "heif": "jpg", "svg": "png",
             "pdf": "jpg"}


@dataclass(frozen=True)
class Choice:
    format: str
    negotiated: bool  # chosen from Accept: the answer varies by it


def choose_format(transformation: Transformation, extension: str, original: str, accept: str) -> Choice:
    asked = next((c.format for c in reversed(transformation.components) if c.format), None)
    if asked and asked != "auto":
        return Choice(asked, False)
    if extension and asked != "auto":
        wanted = FORMAT_ALIASES.get(extension, extension)
        if wanted not in OUTPUT_FORMATS:
            raise TransformationError(f"Cannot deliver the format {extension}", extension)
        return Choice(wanted, False)
    if asked == "auto":
        accepted = accept.lower()
        if "image/avif" in accepted:
            return Choice("avif", True)
        if "image/webp" in accepted:
            return Choice("webp", True)
        return Choice(_writable(extension or original), True)
    return Choice(_writable(original), False)


def _writable(format_: str) -> str:
    format_ = FORMAT_ALIASES.get(format_, format_)
    return format_ if format_ in OUTPUT_FORMATS else _FALLBACK.get(format_, "jpg")
