"""What fills the free space of a pad (``c_pad``, ``c_lpad``, ``c_mpad``, ``c_fill_pad``) when the
background is not a plain colour.

- ``b_auto[:mode]`` picks one colour from the image: the commonest colour of its border (``border``,
  the default) or of all of it (``predominant``), or the colour that stands out most against
  either (``border_contrast``, ``predominant_contrast``).
- ``b_blurred[:intensity[:brightness]]`` fills the canvas with the image itself, enlarged to cover
  it, blurred and lightened or darkened.

Both work on a small copy of the image, so their cost does not grow with the canvas.
"""

from __future__ import annotations

from collections import Counter

import pyvips

# The colour sample: the image squeezed to this many pixels a side.
_SAMPLE_SIDE = 64
# Pixels of the sample (out of 64) on each side that count as the border: ~5 % of the image.
_BORDER_SAMPLE = 3
# Colours are counted in buckets of 16 levels per channel, so that JPEG noise and gradients
# do not split one visible colour into many slightly different ones.
_BUCKET_SHIFT = 4
# A pixel less opaque than this does not show, so it does not vote for the colour.
_VISIBLE_ALPHA = 128
DEFAULT_BLUR_INTENSITY = 100
DEFAULT_BLUR_BRIGHTNESS = 0


def auto_color(image: pyvips.Image, mode: str | None) -> tuple[int, int, int]:
    """The ``b_auto`` colour of an sRGB (or grey) image, alpha allowed."""
    mode = mode or "border"
    colour = predominant_color(image, border_only=mode.startswith("border"))
    return contrasting_color(colour) if mode.endswith("_contrast") else colour


def predominant_color(image: pyvips.Image, *, border_only: bool) -> tuple[int, int, int]:
    """The average of the visible pixels in the most common colour bucket."""
    sample = _rgba_sample(image)
    data = sample.write_to_memory()
    side = _SAMPLE_SIDE
    buckets: Counter[tuple[int, int, int]] = Counter()
    sums: dict[tuple[int, int, int], list[int]] = {}
    for index in range(0, len(data), 4):
        red, green, blue, alpha = data[index:index + 4]
        if alpha < _VISIBLE_ALPHA:
            continue
        if border_only:
            x, y = (index // 4) % side, (index // 4) // side
            if _BORDER_SAMPLE <= x < side - _BORDER_SAMPLE and _BORDER_SAMPLE <= y < side - _BORDER_SAMPLE:
                continue
        key = (red >> _BUCKET_SHIFT, green >> _BUCKET_SHIFT, blue >> _BUCKET_SHIFT)
        buckets[key] += 1
        total = sums.setdefault(key, [0, 0, 0])
        total[0] += red
        total[1] += green
        total[2] += blue
    if not buckets:  # nothing visible at all: a transparent image pads with white
        return (255, 255, 255)
    key, count = buckets.most_common(1)[0]
    red, green, blue = sums[key]
    return (round(red / count), round(green / count), round(blue / count))


def contrasting_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """The colour opposite on the colour wheel and in lightness; for colours near mid-grey,
    whose opposite is mid-grey too, black or white (whichever differs more)."""
    opposite = tuple(255 - channel for channel in color)
    if _contrast_ratio(color, opposite) >= 3:  # WCAG's threshold for large shapes
        return opposite  # type: ignore[return-value]
    black, white = (0, 0, 0), (255, 255, 255)
    return black if _contrast_ratio(color, black) >= _contrast_ratio(color, white) else white


def blurred_canvas(image: pyvips.Image, width: int, height: int, intensity: int | None,
                   brightness: int | None) -> pyvips.Image:
    """``width`` x ``height`` of the image enlarged to cover it (centred), blurred by
    ``intensity`` (1-2000; e_blur's scale) and shifted by ``brightness`` (-300-100; e_brightness's
    scale). Without alpha: the pad's canvas is opaque."""
    sigma = (DEFAULT_BLUR_INTENSITY if intensity is None else intensity) / 20
    offset = (DEFAULT_BLUR_BRIGHTNESS if brightness is None else brightness) * 2.55 / 2
    if image.hasalpha():
        image = image.flatten(background=[255] * (image.bands - 1))
    # Blur a copy small enough that the blur radius is ~3 of its pixels, then enlarge it: the
    # enlargement's own softness is far below the blur's, and the cost stays that of a thumbnail.
    reduce = max(1.0, sigma / 3)
    small_width, small_height = max(1, round(width / reduce)), max(1, round(height / reduce))
    cover = max(small_width / image.width, small_height / image.height)
    small = image.resize(cover, kernel="linear")
    small = small.crop((small.width - small_width) // 2 if small.width > small_width else 0,
                       (small.height - small_height) // 2 if small.height > small_height else 0,
                       min(small_width, small.width), min(small_height, small.height))
    small = small.gaussblur(max(0.3, sigma / reduce))
    canvas = small.resize(width / small.width, vscale=height / small.height, kernel="linear")
    if offset:
        canvas = canvas.linear([1] * canvas.bands, [offset] * canvas.bands)
    return canvas.cast("uchar")


def _rgba_sample(image: pyvips.Image) -> pyvips.Image:
    sample = image.resize(_SAMPLE_SIDE / image.width, vscale=_SAMPLE_SIDE / image.height, kernel="linear")
    if sample.bands < 3:  # grey, with or without alpha
        grey = sample[0]
        alpha = sample[1] if sample.bands == 2 else None
        sample = grey.bandjoin([grey, grey])
        if alpha is not None:
            sample = sample.bandjoin(alpha)
    if sample.bands == 3:
        sample = sample.bandjoin(255)
    return sample.cast("uchar")


def _contrast_ratio(first: tuple[int, ...], second: tuple[int, ...]) -> float:
    lighter, darker = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(color: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4
    red, green, blue = (linear(c) for c in color[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue
