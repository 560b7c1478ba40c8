"""A transformation in the SDKs' long parameter names: ``c_scale,w_103`` is
``[{"crop": "scale", "width": 103}]``, as the Admin API's ``info`` shows a transformation."""

from __future__ import annotations

import re
from typing import Any

from medialoom.transform.grammar import Transformation, canonical

LONG_NAMES = {
    "w": "width", "h": "height", "c": "crop", "g": "gravity", "ar": "aspect_ratio", "x": "x", "y": "y",
    "z": "zoom", "q": "quality", "f": "fetch_format", "e": "effect", "r": "radius", "a": "angle",
    "bo": "border", "b": "background", "co": "color", "o": "opacity", "dpr": "dpr", "fl": "flags",
    "l": "overlay", "u": "underlay", "d": "default_image", "pg": "page", "t": "transformation",
}
_INTEGER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+\.\d+")


def long_form(transformation: Transformation) -> list[dict[str, Any]]:
    text = canonical(transformation)
    if not text:
        return []
    return [dict(_entry(token) for token in component.split(",")) for component in text.split("/")]


def _entry(token: str) -> tuple[str, Any]:
    key, _, value = token.partition("_")
    if _INTEGER.fullmatch(value):
        return LONG_NAMES[key], int(value)
    if _DECIMAL.fullmatch(value):
        return LONG_NAMES[key], float(value)
    return LONG_NAMES[key], value
