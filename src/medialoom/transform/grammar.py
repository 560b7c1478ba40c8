"""Cloudinary's transformation grammar: the text of a delivery URL <-> typed steps.

    c_fill,g_auto,w_320/f_auto/q_auto

The text is a chain of components separated by ``/``, applied in order. A component is a set of
parameters separated by ``,``; each parameter is ``key_value``, split at the *first* ``_`` only
(``t_my_named`` names ``my_named``; ``bo_3px_solid_red`` is the border ``3px_solid_red``).
Inside a value, ``:`` separates sub-values (``g_auto:faces``, ``ar_16:9``, ``e_blur:300``) and
``.`` separates list items (``fl_lossy.progressive``, ``a_hflip.90``, ``t_one.two``).

Within a component the order of parameters does not matter to Cloudinary, so a Component is a
record of typed fields and forgets it. ``canonical`` writes a component the way the official SDKs
do (tokens sorted alphabetically, section 7.3 of the API reference), so the string an SDK sends
comes back unchanged, and spellings that mean the same thing (``f_jpeg``/``f_jpg``,
``q_auto:good``/``q_auto``, ``#F00``/``rgb:ff0000``) collapse to one form. That string is the
key of derived files: two URLs for the same derivation must share it, and it must parse back
to the very same value. Where the two aims meet, the single form wins: an SDK string with
``f_jpeg``, upper-case hex colours, ``dpr_2`` (written ``dpr_2.0``, as the JavaScript SDKs do)
or flags out of alphabetical order comes back normalized.

Only what we can derive is accepted. Everything else, video parameters, variables (``$v_1``),
conditions (``if_...``), custom functions, unknown keys and values, numbers out of range, is a
TransformationError that names the offending parameter. It becomes an HTTP 400 with the message
in ``x-cld-error``; silently ignoring a parameter would serve a different image than the one
the caller asked for, and cache it. Limits keep one request from asking for unbounded work.

Values arrive raw, as they appear in the URL path (not percent-decoded): text layers need it,
because the SDKs escape ``,`` and ``/`` in overlay text twice (``%252C``) so that they survive
the one decoding a path goes through. Pure: standard library only, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import unquote_to_bytes

MAX_LENGTH = 2000  # characters in the whole transformation text
MAX_COMPONENTS = 10  # "/"-separated components in one chain
MAX_PARAMETERS = 20  # ","-separated parameters in one component
MAX_DIMENSION = 10000  # pixels: widths, heights, offsets, radii
MAX_RELATIVE = 10.0  # relative sizes (w_0.5) above 0 and up to this; offsets within +-this
MIN_DPR, MAX_DPR = 0.1, 5.0
MAX_ZOOM = 10.0
MAX_ASPECT_RATIO = 100.0  # and at least 1/100
MAX_BORDER = 1000  # pixels
MAX_FONT_SIZE = 1000
MAX_SPACING = 1000  # letter and line spacing of text layers, either sign
MAX_ANGLE_STEPS = 8
MAX_PAGE = 10000
MAX_MESSAGE = 200  # the error travels in an HTTP header
_ECHO = 60  # characters of user text repeated in an error
_NUMBER_CHARS = 20  # longer numbers are malformed (and int() of thousands of digits is slow)

# A leading digit is required (no ".5"): then the canonical form of a number is never longer than
# the number as written, so whatever parsed within the limits still does once normalized.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+")  # named transformations, attachment names
_ID_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")  # one folder or name of a public id
_HEX = re.compile(r"[0-9a-f]{3}|[0-9a-f]{4}|[0-9a-f]{6}|[0-9a-f]{8}")
_BORDER = re.compile(r"([0-9]{1,5})px_solid_(.+)")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_FAMILY = re.compile(r"[A-Za-z0-9.%-]+")
_SECOND_ESCAPE = re.compile(r"%2[CcFf]")


class TransformationError(ValueError):
    """A transformation we refuse. ``str()`` is one short ASCII line, fit for an HTTP header."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        message = _ascii_line(message)
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE - 3] + "..."
        super().__init__(message)
        self.message = message
        self.parameter = parameter  # the offending token as given, e.g. "w_abc"


def _ascii_line(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else ascii(ch)[1:-1] for ch in text)


def _bad(prefix: str, token: str, detail: str = "") -> TransformationError:
    echo = _ascii_line(token)
    if len(echo) > _ECHO:
        echo = echo[:_ECHO - 3] + "..."
    return TransformationError(f"{prefix} {echo}{detail}", token)


# -- the typed steps -------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """Pixels (written as an integer) or a fraction of the input (written with a decimal point:
    ``w_0.5`` is half, ``w_1.0`` all of it). Also used for the x/y offsets, which may be negative."""

    value: float
    relative: bool = False


@dataclass(frozen=True)
class Gravity:
    mode: str  # a compass point, "xy_center", "auto", "face" or "faces"
    focus: str | None = None  # g_auto:subject, g_face:center, g_faces:auto


@dataclass(frozen=True)
class AspectRatio:
    """``ar_16:9`` or ``ar_1.5``. Kept in the form written (integer ratios reduced) because the
    SDKs send ``16:9`` and a float could not give it back; ``value`` is what resizing needs."""

    numerator: float
    denominator: float | None = None  # None: written as one decimal number

    @property
    def value(self) -> float:
        return self.numerator / (self.denominator or 1.0)


@dataclass(frozen=True)
class Quality:
    value: int | None = None  # 1-100
    chroma: int | None = None  # 420 or 444 subsampling, with a value only
    auto: str | None = None  # q_auto: best, good (the default), eco, low


@dataclass(frozen=True)
class Effect:
    name: str
    value: float | None = None  # None: the effect's own default strength
    extra: str | None = None  # e_trim's colour override (a normalized colour)


@dataclass(frozen=True)
class Border:
    width: int
    color: str
    style: str = "solid"  # the only style Cloudinary has


@dataclass(frozen=True)
class Background:
    kind: str  # "color", "auto" (b_auto[:mode]) or "blurred" (b_blurred[:intensity[:brightness]])
    color: str | None = None
    mode: str | None = None
    intensity: int | None = None
    brightness: int | None = None


@dataclass(frozen=True)
class Font:
    family: str
    size: int
    styles: tuple[str, ...] = ()  # weight, style, decoration, alignment, stroke; in that order
    letter_spacing: int | None = None
    line_spacing: int | None = None
    antialias: str | None = None
    hinting: str | None = None


@dataclass(frozen=True)
class Layer:
    """An overlay or underlay. Only the fields of its kind are set."""

    kind: str  # "image", "text" or "fetch"
    public_id: str | None = None  # image: with "/" between folders (":" in the URL)
    font: Font | None = None  # text
    text: str | None = None  # text, fully decoded
    url: str | None = None  # fetch: the remote URL, decoded; whether to fetch it is policy elsewhere


@dataclass(frozen=True)
class Component:
    width: Size | None = None
    height: Size | None = None
    crop: str | None = None
    gravity: Gravity | None = None
    aspect_ratio: AspectRatio | None = None
    x: Size | None = None
    y: Size | None = None
    zoom: float | None = None
    quality: Quality | None = None
    format: str | None = None
    effects: tuple[Effect, ...] = ()  # Cloudinary allows one e_ per component
    radius: tuple[float, ...] | str | None = None  # 1-4 corner radii or "max"
    angle: tuple[int | str, ...] = ()  # degrees and/or hflip, vflip, auto_right, auto_left, ignore
    border: Border | None = None
    background: Background | None = None
    opacity: int | None = None
    dpr: float | str | None = None  # or "auto"
    flags: frozenset[str] = frozenset()
    attachment_name: str | None = None  # fl_attachment:<name>
    overlay: Layer | None = None
    underlay: Layer | None = None
    default_image: str | None = None  # public id with "/" and extension
    page: int | None = None
    named: tuple[str, ...] = ()
    color: str | None = None


@dataclass(frozen=True)
class Transformation:
    components: tuple[Component, ...] = ()


# -- tables ------------------------------------------------------------------------------------

CROPS = frozenset({
    "scale", "fit", "limit", "mfit", "fill", "lfill", "fill_pad", "pad", "lpad", "mpad", "crop",
    "thumb", "auto",
})
COMPASS = ("north_west", "north", "north_east", "west", "center", "east", "south_west", "south",
           "south_east")
# Gravity mode -> the sub-values it takes after ":".
GRAVITIES: dict[str, frozenset[str]] = {
    **{point: frozenset() for point in COMPASS},
    "xy_center": frozenset(),
    "face": frozenset({"center", "auto"}),
    "faces": frozenset({"center", "auto"}),
    "auto": frozenset({"subject", "classic", "face", "faces", "body", "no_faces"}),
}
FORMATS = {"auto": "auto", "jpg": "jpg", "jpeg": "jpg", "png": "png", "webp": "webp", "avif": "avif",
           "gif": "gif"}
QUALITY_LEVELS = ("best", "good", "eco", "low")
CHROMA = (420, 444)
# Effect -> (lowest, highest) strength it accepts after ":", or None when it takes no value.
EFFECTS: dict[str, tuple[float, float] | None] = {
    "grayscale": None, "negate": None,
    "blackwhite": (0, 100), "sepia": (1, 100), "vignette": (0, 100), "colorize": (0, 100),
    "oil_paint": (0, 100), "auto_brightness": (0, 100), "auto_contrast": (0, 100),
    "auto_color": (0, 100), "trim": (0, 100),
    "blur": (1, 2000), "sharpen": (1, 2000), "unsharp_mask": (1, 2000), "pixelate": (1, 200),
    "brightness": (-99, 100), "contrast": (-100, 100), "saturation": (-100, 100),
    "hue": (-100, 100), "gamma": (-50, 150),
}
_EFFECTS_WITH_COLOR = frozenset({"trim"})  # e_trim:<tolerance>:<colour override>
ANGLE_MODES = frozenset({"hflip", "vflip", "auto_right", "auto_left", "ignore"})
FLAGS = frozenset({
    "animated", "attachment", "awebp", "force_strip", "ignore_aspect_ratio", "immutable_cache",
    "keep_attribution", "keep_iptc", "layer_apply", "lossy", "no_overflow", "png8",
    "preserve_transparency", "progressive", "region_relative", "relative", "strip_profile",
})
BACKGROUND_AUTO_MODES = frozenset({"border", "predominant", "border_contrast", "predominant_contrast"})
# Text layer styles in the order the SDKs write them; "normal"/"none" are the defaults, dropped.
FONT_STYLES: tuple[frozenset[str], ...] = (
    frozenset({"bold", "thin", "light"}), frozenset({"italic"}),
    frozenset({"underline", "strikethrough"}), frozenset({"left", "center", "right", "justify", "start", "end"}),
    frozenset({"stroke"}),
)
_FONT_DEFAULTS = frozenset({"normal", "none"})
FONT_ANTIALIAS = frozenset({"none", "gray", "subpixel", "fast", "good", "best"})
FONT_HINTING = frozenset({"none", "slight", "medium", "full"})
# A layer value starting with one of these names a resource type, not a folder.
_LAYER_TYPES = ("image", "text", "fetch", "video", "subtitles", "audio", "raw", "lut")
_VIDEO_KEYS = frozenset({"vc", "ac", "af", "br", "du", "so", "eo", "fps", "ki", "sp", "vs"})

CSS_COLORS: dict[str, str] = {
    "aliceblue": "f0f8ff", "antiquewhite": "faebd7", "aqua": "00ffff", "aquamarine": "7fffd4",
    "azure": "f0ffff", "beige": "f5f5dc", "bisque": "ffe4c4", "black": "000000",
    "blanchedalmond": "ffebcd", "blue": "0000ff", "blueviolet": "8a2be2", "brown": "a52a2a",
    "burlywood": "deb887", "cadetblue": "5f9ea0", "chartreuse": "7fff00", "chocolate": "d2691e",
    "coral": "ff7f50", "cornflowerblue": "6495ed", "cornsilk": "fff8dc", "crimson": "dc143c",
    "cyan": "00ffff", "darkblue": "00008b", "darkcyan": "008b8b", "darkgoldenrod": "b8860b",
    "darkgray": "a9a9a9", "darkgreen": "006400", "darkgrey": "a9a9a9", "darkkhaki": "bdb76b",
    "darkmagenta": "8b008b", "darkolivegreen": "556b2f", "darkorange": "ff8c00",
    "darkorchid": "9932cc", "darkred": "8b0000", "darksalmon": "e9967a", "darkseagreen": "8fbc8f",
    "darkslateblue": "483d8b", "darkslategray": "2f4f4f", "darkslategrey": "2f4f4f",
    "darkturquoise": "00ced1", "darkviolet": "9400d3", "deeppink": "ff1493",
    "deepskyblue": "00bfff", "dimgray": "696969", "dimgrey": "696969", "dodgerblue": "1e90ff",
    "firebrick": "b22222", "floralwhite": "fffaf0", "forestgreen": "228b22", "fuchsia": "ff00ff",
    "gainsboro": "dcdcdc", "ghostwhite": "f8f8ff", "gold": "ffd700", "goldenrod": "daa520",
    "gray": "808080", "green": "008000", "greenyellow": "adff2f", "grey": "808080",
    "honeydew": "f0fff0", "hotpink": "ff69b4", "indianred": "cd5c5c", "indigo": "4b0082",
    "ivory": "fffff0", "khaki": "f0e68c", "lavender": "e6e6fa", "lavenderblush": "fff0f5",
    "lawngreen": "7cfc00", "lemonchiffon": "fffacd", "lightblue": "add8e6", "lightcoral": "f08080",
    "lightcyan": "e0ffff", "lightgoldenrodyellow": "fafad2", "lightgray": "d3d3d3",
    "lightgreen": "90ee90", "lightgrey": "d3d3d3", "lightpink": "ffb6c1", "lightsalmon": "ffa07a",
    "lightseagreen": "20b2aa", "lightskyblue": "87cefa", "lightslategray": "778899",
    "lightslategrey": "778899", "lightsteelblue": "b0c4de", "lightyellow": "ffffe0",
    "lime": "00ff00", "limegreen": "32cd32", "linen": "faf0e6", "magenta": "ff00ff",
    "maroon": "800000", "mediumaquamarine": "66cdaa", "mediumblue": "0000cd",
    "mediumorchid": "ba55d3", "mediumpurple": "9370db", "mediumseagreen": "3cb371",
    "mediumslateblue": "7b68ee", "mediumspringgreen": "00fa9a", "mediumturquoise": "48d1cc",
    "mediumvioletred": "c71585", "midnightblue": "191970", "mintcream": "f5fffa",
    "mistyrose": "ffe4e1", "moccasin": "ffe4b5", "navajowhite": "ffdead", "navy": "000080",
    "oldlace": "fdf5e6", "olive": "808000", "olivedrab": "6b8e23", "orange": "ffa500",
    "orangered": "ff4500", "orchid": "da70d6", "palegoldenrod": "eee8aa", "palegreen": "98fb98",
    "paleturquoise": "afeeee", "palevioletred": "db7093", "papayawhip": "ffefd5",
    "peachpuff": "ffdab9", "peru": "cd853f", "pink": "ffc0cb", "plum": "dda0dd",
    "powderblue": "b0e0e6", "purple": "800080", "rebeccapurple": "663399", "red": "ff0000",
    "rosybrown": "bc8f8f", "royalblue": "4169e1", "saddlebrown": "8b4513", "salmon": "fa8072",
    "sandybrown": "f4a460", "seagreen": "2e8b57", "seashell": "fff5ee", "sienna": "a0522d",
    "silver": "c0c0c0", "skyblue": "87ceeb", "slateblue": "6a5acd", "slategray": "708090",
    "slategrey": "708090", "snow": "fffafa", "springgreen": "00ff7f", "steelblue": "4682b4",
    "tan": "d2b48c", "teal": "008080", "thistle": "d8bfd8", "tomato": "ff6347",
    "turquoise": "40e0d0", "violet": "ee82ee", "wheat": "f5deb3", "white": "ffffff",
    "whitesmoke": "f5f5f5", "yellow": "ffff00", "yellowgreen": "9acd32",
}


def color_rgba(color: str) -> tuple[int, int, int, int]:
    """Red, green, blue, alpha (0-255) of a colour as ``parse`` normalized it."""
    digits = color[4:] if color.startswith("rgb:") else CSS_COLORS[color]
    digits = digits if len(digits) == 8 else digits + "ff"
    red, green, blue, alpha = (int(digits[i:i + 2], 16) for i in range(0, 8, 2))
    return red, green, blue, alpha


# -- values ------------------------------------------------------------------------------------


def _number(text: str, token: str, what: str) -> float:
    if len(text) > _NUMBER_CHARS or not _NUMBER.fullmatch(text):
        raise _bad(f"Invalid {what} in", token, ": not a number")
    return float(text)


def _ranged(text: str, token: str, what: str, low: float, high: float, *, integer: bool = False) -> float:
    if integer and not _INTEGER.fullmatch(text):
        raise _bad(f"Invalid {what} in", token, ": not an integer")
    number = _number(text, token, what)
    if not low <= number <= high:
        raise _bad(f"Invalid {what} in", token, f": expected {_num(low)} to {_num(high)}")
    return number


def _num(value: float) -> str:
    """A plain number: integral values without a decimal point, others in full, never 1e-05."""
    return str(int(value)) if value == int(value) else _decimal(value)


def _decimal(value: float) -> str:
    """Always with a decimal point: that is what makes a size relative (and how dpr is written)."""
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else text + ".0"


def _parse_color(text: str, token: str) -> str:
    lower = text.lower()
    if lower in CSS_COLORS:
        return lower
    for prefix in ("rgb:", "#", "%23"):
        if lower.startswith(prefix) and _HEX.fullmatch(lower[len(prefix):]):
            digits = lower[len(prefix):]
            return "rgb:" + (digits if len(digits) >= 6 else "".join(ch * 2 for ch in digits))
    raise _bad("Invalid color in", token, ": expected a CSS color name or rgb:RRGGBB[AA]")


def _parse_public_id(text: str, token: str) -> str:
    segments = text.split(":")
    if not all(_ID_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments):
        raise _bad("Invalid public id in", token)
    return "/".join(segments)


def _size(natural: str, what: str) -> Callable[[str, str], Size]:
    def parse(value: str, token: str) -> Size:
        if value == natural:  # w_iw: the input's own width
            return Size(1.0, relative=True)
        if value.startswith("auto"):  # w_auto needs the browser's Client Hints
            raise _bad(f"Unsupported {what} in", token, ": automatic sizes are not supported")
        number = _number(value, token, what)
        if "." in value and 0 < number <= MAX_RELATIVE:
            return Size(number, relative=True)
        if "." not in value and 1 <= number <= MAX_DIMENSION:
            return Size(number)
        raise _bad(f"Invalid {what} in", token,
                   f": expected 1 to {MAX_DIMENSION} pixels or a decimal above 0 up to {_num(MAX_RELATIVE)}")
    return parse


def _offset(what: str) -> Callable[[str, str], Size]:
    def parse(value: str, token: str) -> Size:
        number = _number(value, token, what)
        relative = "." in value
        if abs(number) > (MAX_RELATIVE if relative else MAX_DIMENSION):
            raise _bad(f"Invalid {what} in", token, ": too large")
        return Size(number, relative)
    return parse


def _format_size(size: Size) -> str:
    return _decimal(size.value) if size.relative else _num(size.value)


def _choice(options: frozenset[str] | dict[str, str], what: str) -> Callable[[str, str], str]:
    def parse(value: str, token: str) -> str:
        if value not in options:
            raise _bad(f"Unsupported {what} in", token)
        return options[value] if isinstance(options, dict) else value
    return parse


def _parse_gravity(value: str, token: str) -> Gravity:
    mode, _, focus = value.partition(":")
    if mode not in GRAVITIES or (":" in value and focus not in GRAVITIES[mode]):
        raise _bad("Unsupported gravity in", token)
    return Gravity(mode, focus or None)


def _format_gravity(gravity: Gravity) -> str:
    return gravity.mode + (f":{gravity.focus}" if gravity.focus else "")


def _parse_aspect_ratio(value: str, token: str) -> AspectRatio:
    parts = value.split(":")
    if len(parts) > 2:
        raise _bad("Invalid aspect ratio in", token)
    numbers = [_number(part, token, "aspect ratio") for part in parts]
    value = numbers[0] / numbers[1] if len(numbers) == 2 and numbers[1] > 0 else numbers[0]
    if min(numbers) <= 0 or not 1 / MAX_ASPECT_RATIO <= value <= MAX_ASPECT_RATIO:
        limit = _num(MAX_ASPECT_RATIO)
        raise _bad("Invalid aspect ratio in", token, f": expected 1:{limit} to {limit}:1")
    if len(numbers) == 1:
        return AspectRatio(numbers[0])
    numerator, denominator = numbers
    if numerator.is_integer() and denominator.is_integer():  # 32:18 is 16:9
        divisor = math.gcd(int(numerator), int(denominator))
        numerator, denominator = numerator / divisor, denominator / divisor
    return AspectRatio(numerator, denominator)


def _format_aspect_ratio(ratio: AspectRatio) -> str:
    if ratio.denominator is None:
        return _num(ratio.numerator)
    return f"{_num(ratio.numerator)}:{_num(ratio.denominator)}"


def _parse_quality(value: str, token: str) -> Quality:
    parts = value.split(":")
    if parts[0] == "auto" and len(parts) <= 2:
        level = parts[1] if len(parts) == 2 else "good"
        if level in QUALITY_LEVELS:
            return Quality(auto=level)
    elif len(parts) <= 2 and _INTEGER.fullmatch(parts[0]):
        number = int(_ranged(parts[0], token, "quality", 1, 100, integer=True))
        if len(parts) == 1:
            return Quality(value=number)
        if parts[1] in {str(c) for c in CHROMA}:
            return Quality(value=number, chroma=int(parts[1]))
    raise _bad("Invalid quality in", token, ": expected 1-100[:420|:444] or auto[:best|good|eco|low]")


def _format_quality(quality: Quality) -> str:
    if quality.auto is not None:
        return "auto" if quality.auto == "good" else f"auto:{quality.auto}"
    return f"{quality.value}" + (f":{quality.chroma}" if quality.chroma else "")


def _parse_effect(value: str, token: str) -> tuple[Effect, ...]:
    name, *args = value.split(":", 2)
    if name not in EFFECTS:
        raise _bad("Unsupported effect in", token)
    strength = EFFECTS[name]
    if args and strength is None:
        raise _bad("Effect takes no value in", token)
    if len(args) == 2 and name not in _EFFECTS_WITH_COLOR:
        raise _bad("Invalid effect in", token)
    number = _ranged(args[0], token, "effect strength", *strength) if args and strength else None
    extra = _parse_color(args[1], token) if len(args) == 2 else None
    return (Effect(name, number, extra),)


def _format_effects(effects: tuple[Effect, ...]) -> str:
    (effect,) = effects
    parts = [effect.name]
    if effect.value is not None:
        parts.append(_num(effect.value))
    if effect.extra is not None:
        parts.append(effect.extra)
    return ":".join(parts)


def _parse_radius(value: str, token: str) -> tuple[float, ...] | str:
    if value == "max":
        return value
    parts = value.split(":")
    if len(parts) > 4:
        raise _bad("Invalid radius in", token, ": at most 4 values")
    return tuple(_ranged(part, token, "radius", 0, MAX_DIMENSION) for part in parts)


def _format_radius(radius: tuple[float, ...] | str) -> str:
    return radius if isinstance(radius, str) else ":".join(_num(r) for r in radius)


def _parse_angle(value: str, token: str) -> tuple[int | str, ...]:
    steps = value.split(".")
    if len(steps) > MAX_ANGLE_STEPS:
        raise _bad("Too many angles in", token)
    return tuple(step if step in ANGLE_MODES else int(_ranged(step, token, "angle", -360, 360, integer=True))
                 for step in steps)


def _parse_border(value: str, token: str) -> Border:
    match = _BORDER.fullmatch(value)
    if match is None or not 1 <= int(match.group(1)) <= MAX_BORDER:
        raise _bad("Invalid border in", token, f": expected <1-{MAX_BORDER}>px_solid_<color>")
    return Border(int(match.group(1)), _parse_color(match.group(2), token))


def _parse_background(value: str, token: str) -> Background:
    kind, *args = value.split(":")
    if kind == "auto" and len(args) <= 1:
        if not args or args[0] in BACKGROUND_AUTO_MODES:
            return Background("auto", mode=args[0] if args else None)
        raise _bad("Unsupported background mode in", token)
    if kind == "blurred" and len(args) <= 2:
        limits = (("blur intensity", 1, 2000), ("brightness", -300, 100))
        numbers: list[int | None] = [int(_ranged(arg, token, what, low, high, integer=True))
                                     for arg, (what, low, high) in zip(args, limits, strict=False)]
        intensity, brightness = numbers + [None] * (2 - len(numbers))
        return Background("blurred", intensity=intensity, brightness=brightness)
    return Background("color", color=_parse_color(value, token))


def _format_background(background: Background) -> str:
    if background.kind == "color":
        return str(background.color)
    extras = (background.mode, background.intensity, background.brightness)
    return ":".join([background.kind, *(str(v) for v in extras if v is not None)])


def _parse_dpr(value: str, token: str) -> float | str:
    return value if value == "auto" else _ranged(value, token, "dpr", MIN_DPR, MAX_DPR)


def _parse_flags(value: str, token: str) -> dict[str, Any]:
    names: set[str] = set()
    attachment: str | None = None
    for item in value.split("."):
        name, sep, argument = item.partition(":")
        if name not in FLAGS:
            raise _bad("Unsupported flag in", token)
        if sep:
            if name != "attachment" or not _NAME.fullmatch(argument) or attachment not in (None, argument):
                raise _bad("Invalid flag in", token)
            attachment = argument
        names.add(name)
    return {"flags": frozenset(names), "attachment_name": attachment}


def _format_flags(component: Component) -> str | None:
    named = {"attachment": f"attachment:{component.attachment_name}"} if component.attachment_name else {}
    return ".".join(named.get(flag, flag) for flag in sorted(component.flags)) or None


# -- layers ------------------------------------------------------------------------------------

_TEXT_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-:")


def _percent_decode(text: str, token: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("Invalid percent-encoding in", token) from None


def _percent_encode(text: str, safe: frozenset[str]) -> str:
    return "".join(ch if ch in safe else "".join(f"%{b:02X}" for b in ch.encode()) for ch in text)


def _parse_font(spec: str, token: str) -> Font:
    words = spec.split("_")
    if len(words) < 2 or not _FAMILY.fullmatch(words[0]):
        raise _bad("Invalid font in", token, ": expected <family>_<size>[_<style>...]")
    family = _percent_decode(words[0], token)
    if not family.isprintable():
        raise _bad("Invalid font in", token)
    size = int(_ranged(words[1], token, "font size", 1, MAX_FONT_SIZE, integer=True))
    styles: list[str | None] = [None] * len(FONT_STYLES)
    extras: dict[str, Any] = {}
    rest = words[2:]
    while rest:
        word = rest.pop(0)
        if word in ("letter", "line") and rest[:1] == ["spacing"] and len(rest) >= 2:
            key, number = f"{word}_spacing", rest[1]
            del rest[:2]
            value: Any = int(_ranged(number, token, "spacing", -MAX_SPACING, MAX_SPACING, integer=True))
        elif word in ("antialias", "hinting") and rest:
            key, value = word, rest.pop(0)
            if value not in (FONT_ANTIALIAS if word == "antialias" else FONT_HINTING):
                raise _bad("Invalid font in", token)
        elif word in _FONT_DEFAULTS:
            continue
        else:
            group = next((i for i, options in enumerate(FONT_STYLES) if word in options), None)
            if group is None or styles[group] is not None:
                raise _bad("Invalid font style in", token)
            styles[group] = word
            continue
        if key in extras:
            raise _bad("Invalid font in", token)
        extras[key] = value
    return Font(family, size, tuple(s for s in styles if s), **extras)


def _format_font(font: Font) -> str:
    words = [_percent_encode(font.family, _TEXT_SAFE - {"_", ":"}), str(font.size), *font.styles]
    for name in ("letter_spacing", "line_spacing", "antialias", "hinting"):
        if getattr(font, name) is not None:
            words.append(f"{name}_{getattr(font, name)}")
    return "_".join(words)


def _parse_text(raw: str, token: str) -> str:
    if "$(" in raw:
        raise _bad("Variables are not supported in", token)
    # Decode the path's own escaping, then the second level the SDKs add for "," and "/".
    text = _percent_decode(raw, token)
    text = _SECOND_ESCAPE.sub(lambda m: "," if m.group()[2] in "Cc" else "/", text)
    if not text or any((ch < " " and ch != "\n") or ch == "\x7f" for ch in text):
        raise _bad("Invalid text in", token)
    return text


def _format_text(text: str) -> str:
    escaped = {",": "%252C", "/": "%252F"}
    return "".join(escaped.get(ch) or _percent_encode(ch, _TEXT_SAFE) for ch in text)


def _parse_layer(value: str, token: str) -> Layer:
    kind, colon, rest = value.partition(":")
    if not colon or kind not in _LAYER_TYPES:
        return Layer("image", public_id=_parse_public_id(value, token))
    if kind == "text":
        spec, _, raw = rest.partition(":")
        return Layer("text", font=_parse_font(spec, token), text=_parse_text(raw, token))
    if kind == "fetch":
        return Layer("fetch", url=_parse_fetch_url(rest, token))
    if kind != "image":
        raise _bad("Unsupported layer type in", token, ": only image, text and fetch layers")
    return Layer("image", public_id=_parse_public_id(rest, token))


def _parse_fetch_url(encoded: str, token: str) -> str:
    try:
        if not _BASE64URL.fullmatch(encoded):
            raise ValueError
        url = base64.urlsafe_b64decode(encoded.rstrip("=") + "=" * (-len(encoded.rstrip("=")) % 4)).decode("utf-8")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise _bad("Invalid fetch layer in", token, ": expected base64url of a URL") from None
    if not url.startswith(("http://", "https://")) or not url.isprintable():
        raise _bad("Invalid fetch layer in", token, ": expected an http(s) URL")
    return url


def _format_layer(layer: Layer) -> str:
    if layer.kind == "text":
        assert layer.font is not None and layer.text is not None
        return f"text:{_format_font(layer.font)}:{_format_text(layer.text)}"
    if layer.kind == "fetch":
        return "fetch:" + base64.urlsafe_b64encode(str(layer.url).encode()).decode()
    public_id = str(layer.public_id).replace("/", ":")
    # A first folder named like a resource type must keep the explicit "image:" in front.
    return f"image:{public_id}" if public_id.split(":")[0] in _LAYER_TYPES else public_id


def _parse_named(value: str, token: str) -> tuple[str, ...]:
    names = tuple(value.split("."))
    if not all(_NAME.fullmatch(name) for name in names):
        raise _bad("Invalid named transformation in", token)
    return names


# -- the key table -----------------------------------------------------------------------------


class _Key(NamedTuple):
    parse: Callable[[str, str], dict[str, Any]]  # (value, token) -> Component fields
    format: Callable[[Component], str | None]  # None: the parameter is absent


def _one(name: str, parse: Callable[[str, str], Any], fmt: Callable[[Any], str] = str) -> _Key:
    def format_field(component: Component) -> str | None:
        value = getattr(component, name)
        return None if value is None or value == () else fmt(value)
    return _Key(lambda value, token: {name: parse(value, token)}, format_field)


_KEYS: dict[str, _Key] = {
    "w": _one("width", _size("iw", "width"), _format_size),
    "h": _one("height", _size("ih", "height"), _format_size),
    "c": _one("crop", _choice(CROPS, "crop mode")),
    "g": _one("gravity", _parse_gravity, _format_gravity),
    "ar": _one("aspect_ratio", _parse_aspect_ratio, _format_aspect_ratio),
    "x": _one("x", _offset("x offset"), _format_size),
    "y": _one("y", _offset("y offset"), _format_size),
    "z": _one("zoom", lambda v, t: _ranged(v, t, "zoom", 0.01, MAX_ZOOM), _num),
    "q": _one("quality", _parse_quality, _format_quality),
    "f": _one("format", _choice(FORMATS, "format")),
    "e": _one("effects", _parse_effect, _format_effects),
    "r": _one("radius", _parse_radius, _format_radius),
    "a": _one("angle", _parse_angle, lambda steps: ".".join(map(str, steps))),
    "bo": _one("border", _parse_border, lambda b: f"{b.width}px_{b.style}_{b.color}"),
    "b": _one("background", _parse_background, _format_background),
    "co": _one("color", _parse_color),
    "o": _one("opacity", lambda v, t: int(_ranged(v, t, "opacity", 0, 100, integer=True))),
    "dpr": _one("dpr", _parse_dpr, lambda d: d if isinstance(d, str) else _decimal(d)),
    "fl": _Key(_parse_flags, _format_flags),
    "l": _one("overlay", _parse_layer, _format_layer),
    "u": _one("underlay", _parse_layer, _format_layer),
    "d": _one("default_image", _parse_public_id, lambda d: d.replace("/", ":")),
    "pg": _one("page", lambda v, t: int(_ranged(v, t, "page", 1, MAX_PAGE, integer=True))),
    "t": _one("named", _parse_named, ".".join),
}


# -- parse and canonical -----------------------------------------------------------------------


# Delivery asks for the same few transformations again and again: parsing and formatting them
# were a fifth of a cached answer's work. Both functions are pure and their values immutable.
_CACHED = 4096


@lru_cache(maxsize=_CACHED)
def parse(text: str) -> Transformation:
    """The typed chain for the transformation part of a delivery URL ("" is the empty chain)."""
    if len(text) > MAX_LENGTH:
        raise TransformationError(f"Transformation is longer than {MAX_LENGTH} characters")
    if not text:
        return Transformation()
    parts = text.split("/")
    if len(parts) > MAX_COMPONENTS:
        raise TransformationError(f"Too many chained transformations ({len(parts)}, at most {MAX_COMPONENTS})")
    result = Transformation(tuple(_parse_component(part) for part in parts))
    # Normalizing can lengthen the text (b_#abc, %20 in texts); the cache key must parse too.
    if len(canonical(result)) > MAX_LENGTH:
        raise TransformationError(f"Transformation is longer than {MAX_LENGTH} characters once normalized")
    return result


def _parse_component(text: str) -> Component:
    if not text:
        raise TransformationError("Empty transformation component (a doubled or trailing '/')", text)
    tokens = text.split(",")
    if len(tokens) > MAX_PARAMETERS:
        raise _bad(f"More than {MAX_PARAMETERS} parameters in", text)
    fields: dict[str, Any] = {}
    seen: set[str] = set()
    for token in tokens:
        key, underscore, value = token.partition("_")
        if not token:
            raise _bad("Empty parameter in", text)
        if not (token.isascii() and token.isprintable()):
            raise _bad("Invalid character in", token)
        if token.startswith("$"):
            raise _bad("Variables are not supported:", token)
        if key == "if":
            raise _bad("Conditional transformations are not supported:", token)
        if key == "fn":
            raise _bad("Custom functions are not supported:", token)
        if key in _VIDEO_KEYS:
            raise _bad("Unsupported video parameter", token)
        if key not in _KEYS:
            raise _bad("Unsupported parameter", token)
        if not underscore or not value:
            raise _bad("Missing value in", token)
        if key in seen:
            raise _bad("Duplicate parameter", token)
        seen.add(key)
        fields.update(_KEYS[key].parse(value, token))
    return Component(**fields)


@lru_cache(maxsize=_CACHED)
def canonical(transformation: Transformation) -> str:
    """The one string for this chain, in the SDKs' serialization; the derived-file cache key."""
    return "/".join(_format_component(component) for component in transformation.components)


def _format_component(component: Component) -> str:
    tokens = []
    for key, spec in _KEYS.items():
        value = spec.format(component)
        if value is not None:
            tokens.append(f"{key}_{value}")
    if not tokens:
        raise TransformationError("Empty transformation component")
    return ",".join(sorted(tokens))  # the SDKs sort whole "key_value" strings (reference 7.3)
