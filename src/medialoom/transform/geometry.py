"""Where pixels go: one component's sizing parameters turned into resize, crop and pad steps.

Cloudinary's crop modes, for a requested box ``w x h`` (either may be missing, in which case
it follows from the other and the aspect ratio) and a source of ``W x H``:

* ``scale`` (the default): exactly ``w x h``, stretching if both are given.
* ``fit`` / ``limit`` / ``mfit``: the largest size inside the box that keeps the aspect ratio;
  ``limit`` only ever shrinks, ``mfit`` only ever enlarges.
* ``fill`` / ``lfill`` / ``thumb`` / ``auto``: cover the box, then cut it to exactly ``w x h``
  where ``g_`` points; ``lfill`` never enlarges (it then cuts the largest box of the requested
  shape that the source holds). ``auto`` defaults to ``g_auto``.
* ``pad`` / ``lpad`` / ``mpad`` / ``fill_pad``: fit inside the box, then extend the canvas to
  exactly ``w x h`` with the background colour, the image placed where ``g_`` points.
* ``crop``: cut ``w x h`` out of the source without scaling, at ``x``/``y`` or where ``g_``
  points; ``thumb`` and ``crop`` take ``z_`` to zoom into that point.

Relative values (``w_0.5``, ``x_0.1``) are fractions of the current image; ``dpr`` multiplies
the requested box. Pure: the executor applies the steps with libvips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from medialoom.transform.grammar import Component, Size, TransformationError

@dataclass(frozen=True)
class Resize:
    width: int
    height: int


@dataclass(frozen=True)
class Cut:
    left: int
    top: int
    width: int
    height: int


@dataclass(frozen=True)
class SmartCut:
    """Cut ``width x height`` where the content is most interesting: ``focus`` ``auto`` by
    libvips' attention measure, ``face``/``faces`` around detected faces (``fallback``
    gravity, ``center`` or ``auto``, when there are none)."""

    width: int
    height: int
    focus: str = "auto"
    fallback: str = "center"


@dataclass(frozen=True)
class Pad:
    width: int
    height: int
    left: int
    top: int


_GRAVITY_FACTORS = {
    "north_west": (0.0, 0.0), "north": (0.5, 0.0), "north_east": (1.0, 0.0),
    "west": (0.0, 0.5), "center": (0.5, 0.5), "east": (1.0, 0.5),
    "south_west": (0.0, 1.0), "south": (0.5, 1.0), "south_east": (1.0, 1.0),
    "xy_center": (0.5, 0.5),
}
_FILLS = frozenset({"fill", "lfill", "thumb", "auto"})
_FITS = frozenset({"fit", "limit", "mfit"})
PADS = frozenset({"pad", "lpad", "mpad", "fill_pad"})
MAX_OUTPUT_PIXELS = 50_000_000  # a derived image may not be larger than this


def _resolve(size: Size | None, natural: int, dpr: float) -> float | None:
    if size is None:
        return None
    value = size.value * natural if size.relative else size.value
    return value * dpr


def _offset(size: Size | None, natural: int) -> float:
    if size is None:
        return 0.0
    return size.value * natural if size.relative else size.value


def requested_box(component: Component, source_width: int, source_height: int) -> tuple[float | None, float | None]:
    """The ``w x h`` a component asks for, in pixels; ``ar_`` fills in a missing side."""
    dpr = component.dpr if isinstance(component.dpr, float | int) else 1.0
    width = _resolve(component.width, source_width, dpr)
    height = _resolve(component.height, source_height, dpr)
    ratio = component.aspect_ratio
    if ratio is not None:
        value = ratio.numerator / ratio.denominator if ratio.denominator else ratio.numerator
        if width is None and height is None:
            # ar alone: the largest box of that shape inside the source.
            if source_width / source_height > value:
                height = float(source_height)
                width = height * value
            else:
                width = float(source_width)
                height = width / value
        elif height is None:
            height = width / value
        elif width is None:
            width = height * value
    return width, height


def placed(container: tuple[float, float], box: tuple[float, float], component: Component,
            default: str = "center") -> tuple[int, int]:
    """Top-left corner of ``box`` inside ``container`` where the gravity and offsets put it."""
    mode = component.gravity.mode if component.gravity and component.gravity.mode in _GRAVITY_FACTORS else default
    fx, fy = _GRAVITY_FACTORS[mode]
    dx = _offset(component.x, int(container[0]))
    dy = _offset(component.y, int(container[1]))
    # Offsets move away from the gravity's edge: x_10 with g_east moves 10 px to the left.
    left = (container[0] - box[0]) * fx + (dx if fx < 1 else -dx)
    top = (container[1] - box[1]) * fy + (dy if fy < 1 else -dy)
    return round(left), round(top)


def _clamped_cut(container_w: int, container_h: int, left: int, top: int, width: int, height: int) -> Cut:
    width, height = min(width, container_w), min(height, container_h)
    left = min(max(left, 0), container_w - width)
    top = min(max(top, 0), container_h - height)
    return Cut(left, top, width, height)


def _pixels(value: float) -> int:
    return max(1, round(value))


def plan(component: Component, source_width: int, source_height: int) -> tuple[list, int, int]:
    """The steps for one component and the size they produce."""
    width, height = requested_box(component, source_width, source_height)
    crop = component.crop
    if width is None and height is None:
        if crop not in (None, "scale", "fit", "limit", "mfit", "crop"):
            raise TransformationError(f"c_{crop} needs w_ or h_", f"c_{crop}")
        return [], source_width, source_height
    crop = crop or "scale"
    if crop == "crop":
        return _crop(component, source_width, source_height, width, height)
    if crop == "scale":
        w = _pixels(width if width is not None else height * source_width / source_height)
        h = _pixels(height if height is not None else width * source_height / source_width)
        return _checked([Resize(w, h)] if (w, h) != (source_width, source_height) else [], w, h)
    if crop in _FITS or crop in PADS:
        scales = [s for s in (width / source_width if width else None, height / source_height if height else None)
                  if s is not None]
        scale = min(scales)
        if crop in ("limit", "lpad"):
            scale = min(scale, 1.0)
        elif crop in ("mfit", "mpad"):
            scale = max(scale, 1.0)
        w, h = _pixels(source_width * scale), _pixels(source_height * scale)
        steps: list = [Resize(w, h)] if (w, h) != (source_width, source_height) else []
        if crop in _FITS or width is None or height is None:
            return _checked(steps, w, h)
        canvas_w, canvas_h = max(_pixels(width), w), max(_pixels(height), h)
        if (canvas_w, canvas_h) == (w, h):
            return _checked(steps, w, h)
        left, top = placed((canvas_w, canvas_h), (w, h), component)
        left, top = min(max(left, 0), canvas_w - w), min(max(top, 0), canvas_h - h)
        return _checked([*steps, Pad(canvas_w, canvas_h, left, top)], canvas_w, canvas_h)
    return _fill(component, crop, source_width, source_height, width, height)


def _fill(component: Component, crop: str, source_width: int, source_height: int,
          width: float | None, height: float | None) -> tuple[list, int, int]:
    if width is None or height is None:  # one side only: nothing to cut, a plain resize
        scale = width / source_width if width is not None else height / source_height
        if crop == "lfill":
            scale = min(scale, 1.0)
        w, h = _pixels(source_width * scale), _pixels(source_height * scale)
        return _checked([Resize(w, h)] if (w, h) != (source_width, source_height) else [], w, h)
    target_w, target_h = _pixels(width), _pixels(height)
    zoom = component.zoom or 1.0
    scale = max(target_w / source_width, target_h / source_height) * zoom
    if crop == "lfill" and scale > 1.0:
        # Never enlarge: cut the largest box of the requested shape the source holds.
        shrink = min(source_width / target_w, source_height / target_h)
        target_w, target_h = _pixels(target_w * shrink), _pixels(target_h * shrink)
        scale = 1.0
    covered_w = max(target_w, math.ceil(source_width * scale - 1e-9))
    covered_h = max(target_h, math.ceil(source_height * scale - 1e-9))
    if covered_w * covered_h > MAX_OUTPUT_PIXELS:
        # A box far from the source's shape (c_fill,w_10000,h_1 of 300x400) covers it only when
        # scaled to gigapixels, which g_auto would then read whole: cut the source, then scale.
        return _cut_then_scale(component, crop, source_width, source_height, target_w, target_h, scale)
    steps: list = [Resize(covered_w, covered_h)] if (covered_w, covered_h) != (source_width, source_height) else []
    if (covered_w, covered_h) != (target_w, target_h):
        gravity = component.gravity.mode if component.gravity else ("auto" if crop == "auto" else "center")
        if gravity in _SMART:
            steps.append(_smart_cut(component, gravity, target_w, target_h))
        else:
            left, top = placed((covered_w, covered_h), (target_w, target_h), component)
            steps.append(_clamped_cut(covered_w, covered_h, left, top, target_w, target_h))
    return _checked(steps, target_w, target_h)


def _cut_then_scale(component: Component, crop: str, source_width: int, source_height: int, target_w: int,
                    target_h: int, scale: float) -> tuple[list, int, int]:
    """The same fill with the cut made on the source: the region that ``scale`` makes ``target``."""
    region_w = min(source_width, _pixels(target_w / scale))
    region_h = min(source_height, _pixels(target_h / scale))
    gravity = component.gravity.mode if component.gravity else ("auto" if crop == "auto" else "center")
    if gravity in _SMART:
        cut: Cut | SmartCut = _smart_cut(component, gravity, region_w, region_h)
    else:
        # Pixel offsets were meant for the scaled image; relative ones hold on either.
        shrunk = replace(component, x=_scaled(component.x, 1 / scale), y=_scaled(component.y, 1 / scale))
        left, top = placed((source_width, source_height), (region_w, region_h), shrunk)
        cut = _clamped_cut(source_width, source_height, left, top, region_w, region_h)
    return _checked([cut, Resize(target_w, target_h)], target_w, target_h)


def _scaled(size: Size | None, factor: float) -> Size | None:
    return size if size is None or size.relative else Size(size.value * factor)


def _crop(component: Component, source_width: int, source_height: int,
          width: float | None, height: float | None) -> tuple[list, int, int]:
    w = _pixels(width) if width is not None else source_width
    h = _pixels(height) if height is not None else source_height
    zoom = component.zoom or 1.0
    region_w, region_h = _pixels(w / zoom), _pixels(h / zoom)
    # x/y without a gravity place the region's top-left corner, as on Cloudinary.
    default = "north_west" if component.x is not None or component.y is not None else "center"
    gravity = component.gravity.mode if component.gravity else ""
    if gravity in _SMART:
        cut: Cut | SmartCut = _smart_cut(component, gravity, min(region_w, source_width),
                                         min(region_h, source_height))
    else:
        left, top = placed((source_width, source_height), (region_w, region_h), component, default)
        cut = _clamped_cut(source_width, source_height, left, top, region_w, region_h)
    steps: list = [cut] if (cut.width, cut.height) != (source_width, source_height) else []
    if zoom != 1.0:
        out_w, out_h = _pixels(cut.width * zoom), _pixels(cut.height * zoom)
        steps.append(Resize(out_w, out_h))
        return _checked(steps, out_w, out_h)
    return _checked(steps, cut.width, cut.height)


_SMART = frozenset({"auto", "face", "faces"})


def _smart_cut(component: Component, gravity: str, width: int, height: int) -> SmartCut:
    if gravity == "auto":
        return SmartCut(width, height)
    fallback = "auto" if component.gravity and component.gravity.focus == "auto" else "center"
    return SmartCut(width, height, gravity, fallback)


def _checked(steps: list, width: int, height: int) -> tuple[list, int, int]:
    if width * height > MAX_OUTPUT_PIXELS:
        raise TransformationError(
            f"The result would be {width}x{height}, over the limit of {MAX_OUTPUT_PIXELS // 1_000_000} megapixels",
            None)
    return steps, width, height
