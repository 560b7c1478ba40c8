"""Apply a parsed transformation to image bytes with libvips and encode the result.

Memory stays small for large sources: the header is checked against the megapixel limit before
any pixel is decoded, and when the first step is a resize the image is decoded already shrunk
(the JPEG decoder's 1/2, 1/4, 1/8 scales, ``thumbnail``'s shrink-on-load for other formats), so
a 100-megapixel JPEG asked for at ``w_320`` never exists at full size in memory. Loaders libvips
marks untrusted (ImageMagick, matload, ...) are blocked for the whole process. A shrunk JPEG is
decoded by libjpeg-turbo where ``transform.jpeg_turbo`` takes the file (see why there).

Within a component the order is: geometry (``transform.geometry``), effects, radius, angle,
border, opacity, then a layer is placed. A layer (``l_``/``u_``) is transformed by the
parameters of the component that opens it and of the components up to the one with
``fl_layer_apply``, whose ``g_``/``x_``/``y_`` place it on the image beneath.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyvips

from medialoom.transform import backgrounds, faces, geometry, jpeg_turbo
from medialoom.transform.grammar import (Background, Component, Layer, Quality, Size, Transformation,
                                         TransformationError, color_rgba)

pyvips.block_untrusted_set(True)
# SVG is one of the images we accept. libvips counts its loader as untrusted (librsvg is a large
# parser), but loaded from memory it has no base to resolve references against: it reads no file
# and fetches nothing (checked by tests), so it stays allowed; every other untrusted loader
# (ImageMagick, PDF, MATLAB ...) is blocked in every process that imports the renderer.
pyvips.operation_block_set("VipsForeignLoadSvg", False)

OUTPUT_FORMATS = ("jpg", "png", "webp", "avif", "gif")
# q_auto levels per encoder family: AVIF's scale reaches the same look at lower numbers.
AUTO_QUALITY = {"best": 90, "good": 80, "eco": 70, "low": 60}
AUTO_QUALITY_AVIF = {"best": 70, "good": 58, "eco": 50, "low": 40}
DEFAULT_QUALITY = 80
# Flags that change how the result is encoded or delivered (handled by the caller or the
# encoder); every other flag must be implemented here or the transformation is refused.
_HANDLED_FLAGS = frozenset({"attachment", "layer_apply", "progressive", "lossy", "png8", "strip_profile",
                            "keep_iptc", "preserve_transparency", "immutable_cache", "relative",
                            "force_strip", "keep_attribution"})
_SUPPORTED_EFFECTS = frozenset({"grayscale", "blackwhite", "sepia", "blur", "sharpen", "unsharp_mask",
                                "brightness", "contrast", "saturation", "negate", "pixelate", "trim", "hue",
                                "gamma", "vignette", "colorize", "oil_paint", "auto_brightness", "auto_contrast",
                                "auto_color"})
_EFFECT_DEFAULTS = {"blackwhite": 50, "sepia": 80, "blur": 100, "sharpen": 100, "unsharp_mask": 100,
                    "brightness": 80, "contrast": 0, "saturation": 80, "pixelate": 5, "trim": 10, "hue": 80,
                    "gamma": 0, "vignette": 20, "colorize": 100, "oil_paint": 30, "auto_brightness": 100,
                    "auto_contrast": 100, "auto_color": 100}
_VIPS_SAVERS = {"jpg": ".jpg", "png": ".png", "webp": ".webp", "avif": ".avif", "gif": ".gif"}


class RenderError(Exception):
    """The source cannot be rendered (corrupt, too large, unsupported): a 4xx for the caller."""


@dataclass(frozen=True)
class Rendered:
    data: bytes
    format: str
    width: int
    height: int


# An original's bytes, or the file holding them: libvips reads a file as it needs it, so a
# large original never sits whole in this process's memory.
Source = bytes | Path
LayerSource = Callable[[str], bytes | None]  # public id -> stored image bytes, None if missing


def check_supported(transformation: Transformation) -> None:
    """Refuse what the grammar accepts but this renderer cannot do, before any work."""
    for component in transformation.components:
        for effect in component.effects:
            if effect.name not in _SUPPORTED_EFFECTS:
                raise TransformationError(f"Effect {effect.name} is not supported by this server",
                                          f"e_{effect.name}")
        unsupported = component.flags - _HANDLED_FLAGS
        if unsupported:
            flag = sorted(unsupported)[0]
            raise TransformationError(f"Flag {flag} is not supported by this server", f"fl_{flag}")
        if component.named:
            raise TransformationError("Named transformations must be expanded before rendering", "t_")
        if component.background and component.background.kind != "color" and component.crop not in geometry.PADS:
            raise TransformationError(f"b_{component.background.kind} fills a pad: it needs c_pad, c_lpad, c_mpad "
                                      "or c_fill_pad", f"b_{component.background.kind}")
        for layer in (component.overlay, component.underlay):
            if layer is not None and layer.kind == "fetch":
                raise TransformationError("Fetched layers (l_fetch) are not supported by this server", "l_fetch")
        if component.zoom is not None and component.crop not in ("crop", "thumb", "fill", "auto"):
            raise TransformationError("z_ needs c_crop, c_thumb, c_fill or c_auto", "z_")


def output_quality(quality: Quality | None, format_: str, save_data: bool) -> int:
    """The encoder's quality: ``q_N`` as given; ``q_auto[:level]`` by level (``low`` when the
    client sent ``Save-Data: on``); otherwise the default."""
    if quality is not None and quality.value is not None:
        return quality.value
    levels = AUTO_QUALITY_AVIF if format_ == "avif" else AUTO_QUALITY
    if save_data:
        return levels["low"]
    if quality is not None:
        return levels[quality.auto or "good"]
    return levels["good"] if format_ == "avif" else DEFAULT_QUALITY


class Renderer:
    def __init__(self, *, max_megapixels: float, threads: int = 0) -> None:
        self.max_pixels = int(max_megapixels * 1_000_000)
        if threads > 0:
            pyvips.concurrency_set(threads)  # libvips' pool is per process
        # Rendered files are kept in the blob store; libvips' own cache of recent operations
        # would only hold on to memory for renderings that are never asked for again.
        pyvips.cache_set_max(0)

    # -- entry point ----------------------------------------------------------------------

    def render(self, source: Source, transformation: Transformation, output_format: str, *,
               save_data: bool = False, layer_source: LayerSource | None = None) -> Rendered:
        if output_format not in OUTPUT_FORMATS:
            raise TransformationError(f"Cannot deliver {output_format}", f"f_{output_format}")
        check_supported(transformation)
        components = transformation.components
        page = next((c.page for c in components if c.page is not None), None)
        try:
            image, first_steps = self._load(source, components[0] if components else None, page)
            image, layers = self._apply_all(image, components, layer_source, first_steps)
            if layers:
                raise TransformationError("A layer was opened but never applied", "l_")
            return self._encode(image, components, output_format, save_data)
        except pyvips.Error as error:
            raise RenderError(_first_line(error)) from None

    # -- loading --------------------------------------------------------------------------

    def _header(self, source: Source, page: int | None) -> pyvips.Image:
        options = _page_option(page)
        try:
            header = _open(source, access="sequential", **options)
        except pyvips.Error as error:
            raise RenderError(f"Cannot read this image: {_first_line(error)}") from None
        if header.width * header.height > self.max_pixels:
            raise RenderError(f"The image is {header.width}x{header.height}, over the limit of "
                              f"{self.max_pixels // 1_000_000} megapixels")
        return header

    def _load(self, source: Source, first: Component | None, page: int | None) -> tuple[pyvips.Image, list | None]:
        """The decoded image, and when decoding already did the first component's resize, the
        rest of that component's steps (planned on the source's size, so relative sizes hold)."""
        header = self._header(source, page)
        width, height = header.width, header.height
        if _orientation(header) >= 5:  # rotated by 90 degrees: the upright image is H x W
            width, height = height, width
        steps = []
        if first is not None and first.overlay is None and first.underlay is None:
            steps, _, _ = geometry.plan(first, width, height)
        options = _page_option(page)
        if steps and isinstance(steps[0], geometry.Resize) and steps[0].width * steps[0].height < width * height:
            resize = steps[0]
            jpeg_shrink = _jpeg_shrink(header, min(width / resize.width, height / resize.height))
            if jpeg_shrink > 1:
                # libvips' thumbnail keeps a 2x margin before shrinking a JPEG while decoding
                # (2040 px to 512 decodes every pixel); decoding at the largest 1/2, 1/4 or 1/8
                # that still covers the target, as sharp and Pillow's draft mode do, then
                # resampling with lanczos3 is ~20 % less CPU for the same look.
                shrunk = jpeg_turbo.decode_shrunk(source, header, jpeg_shrink)
                if shrunk is None:
                    shrunk = _open(source, shrink=jpeg_shrink)
                image = _srgb(shrunk.autorot())
                image = image.resize(resize.width / image.width, vscale=resize.height / image.height,
                                     kernel="lanczos3")
                return image.copy_memory(), steps[1:]
            loader = ",".join(f"{key}={value}" for key, value in options.items())
            if isinstance(source, Path):
                image = pyvips.Image.thumbnail(f"{source}[{loader}]", resize.width, height=resize.height,
                                               size="force")
            else:
                image = pyvips.Image.thumbnail_buffer(source, resize.width, height=resize.height, size="force",
                                                      option_string=loader)
            # Later steps (cuts, rotations) read out of order; the shrunk image is small.
            return _srgb(image).copy_memory(), steps[1:]
        image = _open(source, **options).autorot()
        return _srgb(image), None

    # -- components -----------------------------------------------------------------------

    def _apply_all(self, image: pyvips.Image, components: tuple[Component, ...], layer_source: LayerSource | None,
                   first_steps: list | None) -> tuple[pyvips.Image, list]:
        # Open layers, innermost last: (layer image, is underlay).
        layers: list[list] = []
        for component in components:
            opens = component.overlay or component.underlay
            if opens is not None:
                layer = self._layer_image(opens, component, layer_source)
                layer = self._component(layer, _without_placement(component), base=image)
                if "layer_apply" in component.flags or not _continues(components, component):
                    image = _place(image, layer, component, underlay=component.underlay is not None)
                else:
                    layers.append([layer, component.underlay is not None])
                continue
            if layers:
                target = layers[-1]
                if "layer_apply" in component.flags:
                    layer, underlay = layers.pop()
                    layer = self._component(layer, _without_placement(component), base=image)
                    parent = layers[-1][0] if layers else image
                    placed = _place(parent, layer, component, underlay=underlay)
                    if layers:
                        layers[-1][0] = placed
                    else:
                        image = placed
                else:
                    target[0] = self._component(target[0], component, base=image)
                continue
            steps, first_steps = first_steps, None
            image = self._component(image, component, base=None, steps=steps)
        return image, layers

    def _component(self, image: pyvips.Image, component: Component, *, base: pyvips.Image | None,
                   steps: list | None = None) -> pyvips.Image:
        if base is not None and "relative" in component.flags:
            # fl_relative: a layer's w_0.5 means half the width of the image beneath.
            component = replace(component, width=_absolute(component.width, base.width),
                                height=_absolute(component.height, base.height))
        if steps is None:
            steps, _, _ = geometry.plan(component, image.width, image.height)
        for step in steps:
            image = _apply_step(image, step, component)
        for effect in component.effects:
            image = _effect(image, effect.name, effect.value, effect.extra, component)
        if component.radius is not None:
            image = _round_corners(image, component.radius)
        for angle in component.angle:
            image = _rotate(image, angle, component)
        if component.border is not None:
            image = _border(image, component.border.width, component.border.color)
        if component.opacity is not None:
            image = _with_alpha(image)
            # The last band is alpha: grey images (e_blackwhite) have two bands, not four.
            *colour, alpha = image.bandsplit()
            image = colour[0].bandjoin([*colour[1:], (alpha * (component.opacity / 100)).cast("uchar")])
        if component.background is not None and component.background.color and component.crop not in geometry.PADS:
            image = _flatten(image, component.background.color)
        return image

    def _layer_image(self, layer: Layer, component: Component, layer_source: LayerSource | None) -> pyvips.Image:
        if layer.kind == "text":
            return _text_layer(layer, component)
        data = layer_source(layer.public_id) if layer_source else None
        if data is None:
            raise TransformationError(f"Layer image {layer.public_id} not found", f"l_{layer.public_id}")
        self._header(data, None)  # the megapixel limit holds for layers too
        return _srgb(pyvips.Image.new_from_buffer(data, "").autorot())

    # -- encoding -------------------------------------------------------------------------

    def _encode(self, image: pyvips.Image, components: tuple[Component, ...], output_format: str,
                save_data: bool) -> Rendered:
        flags = frozenset().union(*(c.flags for c in components)) if components else frozenset()
        quality = next((c.quality for c in reversed(components) if c.quality is not None), None)
        q = output_quality(quality, output_format, save_data)
        keep = "none" if "strip_profile" in flags or "force_strip" in flags else "icc"
        if "keep_iptc" in flags:
            keep = "icc:iptc:xmp"
        options: dict = {"keep": keep}
        if output_format == "jpg":
            background = next((c.background.color for c in components if c.background and c.background.color),
                              "white")
            image = _flatten(image, background)
            options.update(Q=q, interlace="progressive" in flags, optimize_coding=True)
            if quality is not None and quality.chroma == 444:
                options["subsample_mode"] = "off"
        elif output_format == "png":
            # Adaptive row filters (what Pillow and so thumbor use): ~1.8x smaller photos' PNGs.
            options.update(interlace="progressive" in flags, compression=6, filter="all")
            if "png8" in flags or "lossy" in flags:
                options.update(palette=True, Q=q)
        elif output_format == "webp":
            options.update(Q=q, lossless=False)
        elif output_format == "avif":
            # Effort above 2 costs seconds per megapixel: too slow to render on request.
            options.update(Q=q, compression="av1", effort=2)
        try:
            data = image.write_to_buffer(_VIPS_SAVERS[output_format], **options)
        except pyvips.Error as error:
            raise RenderError(_first_line(error)) from None
        return Rendered(data, output_format, image.width, image.height)


# -- helpers -------------------------------------------------------------------------------

def _first_line(error: pyvips.Error) -> str:
    """libvips' own reason (its detail), not pyvips' "unable to call ..." wrapper."""
    lines = [line for line in (getattr(error, "detail", "") or str(error)).strip().splitlines() if line.strip()]
    return (lines[0] if lines else "libvips error")[:200]


def _orientation(image: pyvips.Image) -> int:
    try:
        return int(image.get("orientation")) if image.get_typeof("orientation") else 1
    except (pyvips.Error, ValueError):
        return 1


def _srgb(image: pyvips.Image) -> pyvips.Image:
    """Everything is worked on as 8-bit sRGB (with alpha when the source has it)."""
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb")
        if image.format != "uchar":
            image = image.cast("uchar")
    if image.interpretation == "b-w":
        image = image.colourspace("srgb")
    return image


def _with_alpha(image: pyvips.Image) -> pyvips.Image:
    return image if image.hasalpha() else image.bandjoin(255)


def _rgba(color: str) -> list[float]:
    red, green, blue, alpha = color_rgba(color)
    return [red, green, blue, alpha]


def _flatten(image: pyvips.Image, color: str) -> pyvips.Image:
    if not image.hasalpha():
        return image
    red, green, blue, _ = color_rgba(color)
    return image.flatten(background=[red, green, blue])


def _apply_step(image: pyvips.Image, step, component: Component) -> pyvips.Image:  # noqa: ANN001
    if isinstance(step, geometry.Resize):
        if (step.width, step.height) == (image.width, image.height):
            return image
        return image.resize(step.width / image.width, vscale=step.height / image.height, kernel="lanczos3")
    if isinstance(step, geometry.Cut):
        return image.crop(step.left, step.top, step.width, step.height)
    if isinstance(step, geometry.SmartCut):
        return _smart_cut(image, step)
    if isinstance(step, geometry.Pad):
        return _pad(image, step, component.background)
    raise AssertionError(step)


def _pad(image: pyvips.Image, step: geometry.Pad, background: Background | None) -> pyvips.Image:
    if background is not None and background.kind == "blurred":
        canvas = backgrounds.blurred_canvas(image, step.width, step.height, background.intensity,
                                            background.brightness)
        if image.hasalpha():
            return canvas.composite2(image, "over", x=step.left, y=step.top)
        return canvas.insert(image, step.left, step.top)
    if background is not None and background.kind == "auto":
        fill = [*backgrounds.auto_color(image, background.mode), 255]
    elif background is not None and background.color:
        fill = _rgba(background.color)
    else:
        # No b_: transparent where the result can hold it, white otherwise (decided at encoding).
        image = _with_alpha(image)
        fill = [255, 255, 255, 0]
    if not image.hasalpha():
        fill = fill[:3]
    return image.embed(step.left, step.top, step.width, step.height, extend="background", background=fill)


def _jpeg_shrink(header: pyvips.Image, factor: float) -> int:
    """The JPEG decoder's own shrink (2, 4 or 8) for an image ``factor`` times larger than
    wanted; 1 when the source is no JPEG or is not that much larger."""
    loader = header.get("vips-loader") if header.get_typeof("vips-loader") else ""
    if not loader.startswith("jpegload"):
        return 1
    return next((shrink for shrink in (8, 4, 2) if factor >= shrink), 1)


def _page_option(page: int | None) -> dict[str, int]:
    """``pg_N`` as a loader option; the first page is what every loader reads anyway, and
    single-page formats refuse the option."""
    return {"page": page - 1} if page and page > 1 else {}


def _open(source: Source, **options: Any) -> pyvips.Image:
    if isinstance(source, Path):
        return pyvips.Image.new_from_file(str(source), **options)
    return pyvips.Image.new_from_buffer(source, "", **options)


def _smart_cut(image: pyvips.Image, step: geometry.SmartCut) -> pyvips.Image:
    width, height = min(step.width, image.width), min(step.height, image.height)
    if step.focus == "auto":
        return image.smartcrop(width, height, interesting="attention")
    image = image.copy_memory()  # the detector reads the pixels, and so does the cut after it
    try:
        box = faces.focus(faces.detect_faces(image), step.focus)
    except faces.FacesUnavailable as error:
        raise RenderError(str(error)) from None
    if box is None:
        if step.fallback == "auto":
            return image.smartcrop(width, height, interesting="attention")
        box = faces.Face(image.width // 2, image.height // 2, 0, 0)
    # The cut centred on the faces, kept inside the image.
    left = min(max(round(box.left + box.width / 2 - width / 2), 0), image.width - width)
    top = min(max(round(box.top + box.height / 2 - height / 2), 0), image.height - height)
    return image.crop(left, top, width, height)


def _color_bands(image: pyvips.Image) -> tuple[pyvips.Image, pyvips.Image | None]:
    if image.hasalpha():
        return image[:image.bands - 1], image[image.bands - 1]
    return image, None


def _join(colour: pyvips.Image, alpha: pyvips.Image | None) -> pyvips.Image:
    colour = colour.cast("uchar")
    return colour if alpha is None else colour.bandjoin(alpha)


def _effect(image: pyvips.Image, name: str, value: float | None, extra: str | None,
            component: Component) -> pyvips.Image:
    strength = _EFFECT_DEFAULTS.get(name, 0) if value is None else value
    colour, alpha = _color_bands(image)
    if name == "grayscale":
        colour = colour.colourspace("b-w").colourspace("srgb")
    elif name == "blackwhite":
        gray = colour.colourspace("b-w")[0]
        colour = (gray > strength * 255 / 100).ifthenelse([255, 255, 255], [0, 0, 0])
    elif name == "sepia":
        sepia = colour.recomb([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
        mix = strength / 100
        colour = (sepia * mix + colour * (1 - mix)).cast("uchar")
    elif name == "blur":
        colour = colour.gaussblur(max(0.3, strength / 20))
    elif name in ("sharpen", "unsharp_mask"):
        colour = colour.sharpen(sigma=0.5 + strength / 200, m2=3 if name == "sharpen" else 2)
        colour = colour.colourspace("srgb")
    elif name == "brightness":
        colour = colour.linear([1, 1, 1], [strength * 2.55 / 2] * 3)
    elif name == "contrast":
        factor = 1 + strength / 100
        colour = colour.linear([factor] * 3, [128 * (1 - factor)] * 3)
    elif name in ("saturation", "hue"):
        lch = colour.colourspace("lch")
        if name == "saturation":
            lch = lch.linear([1, 1 + strength / 100, 1], [0, 0, 0])
        else:
            lch = lch.linear([1, 1, 1], [0, 0, strength * 1.8])
        colour = lch.colourspace("srgb")
    elif name == "negate":
        colour = colour.invert()
    elif name == "pixelate":
        block = max(1, int(strength))
        small = colour.resize(1 / block, kernel="linear")
        colour = small.resize(block, kernel="nearest").crop(0, 0, min(colour.width, small.width * block),
                                                              min(colour.height, small.height * block))
        colour = colour.embed(0, 0, image.width, image.height, extend="copy")
    elif name == "trim":
        background = _rgba(extra)[:3] if extra else colour.getpoint(0, 0)[:3]
        left, top, width, height = colour.find_trim(threshold=max(1.0, strength), background=background)
        if width > 0 and height > 0:
            return image.crop(left, top, width, height)
        return image
    elif name == "gamma":
        colour = colour.gamma(exponent=max(0.1, 1 + strength / 100))
    elif name == "vignette":
        colour = _vignette(colour, strength)
    elif name == "oil_paint":
        # A median filter: flat strokes of colour with the edges kept. Window 3 to 11 pixels.
        colour = colour.median(3 + 2 * round(strength / 25))
    elif name in ("auto_brightness", "auto_contrast", "auto_color"):
        colour = _auto_level(colour, name, strength / 100)
    elif name == "colorize":
        tint = color_rgba(component.color or "black")[:3]
        mix = strength / 100
        colour = colour * (1 - mix) + [c * mix for c in tint]
    return _join(colour, alpha)


def _auto_level(colour: pyvips.Image, name: str, mix: float) -> pyvips.Image:
    """Automatic levels, blended with the original by ``mix`` (the effect's strength / 100):
    auto_brightness moves the mean lightness to mid-grey; auto_contrast stretches lightness (CIE
    L*, hue and chroma kept) so that 1 % of the pixels end up black and 1 % white; auto_color
    stretches each channel on its own, which also takes out a colour cast."""
    grey = colour.bands < 3
    if name == "auto_brightness":
        offset = (128 - (colour[0] if grey else colour.colourspace("b-w")[0]).avg()) * mix
        return colour.linear([1] * colour.bands, [offset] * colour.bands)
    if name == "auto_color" or grey:
        scales, offsets = zip(*(_stretch(colour[band], mix) for band in range(colour.bands)), strict=True)
        return colour.linear(list(scales), list(offsets))
    lab = colour.colourspace("lab")
    scale, offset = _stretch((lab[0] * 2.55).cast("uchar"), mix)  # L* (0-100) as 0-255 for its histogram
    return lab.linear([scale, 1, 1], [offset / 2.55, 0, 0]).colourspace("srgb")


def _stretch(channel: pyvips.Image, mix: float) -> tuple[float, float]:
    """Scale and offset taking the channel's 1st and 99th percentiles to 0 and 255, blended with
    doing nothing by ``mix``."""
    low, high = channel.percent(1), channel.percent(99)
    if high <= low:
        return 1.0, 0.0
    scale = 255 / (high - low)
    return 1 + (scale - 1) * mix, -low * scale * mix


def _vignette(colour: pyvips.Image, strength: float) -> pyvips.Image:
    width, height = colour.width, colour.height
    xy = pyvips.Image.xyz(width, height)
    dx = (xy[0] - width / 2) / (width / 2)
    dy = (xy[1] - height / 2) / (height / 2)
    distance = (dx * dx + dy * dy) ** 0.5
    fade = 1 - distance * (strength / 100)
    return colour * (fade > 0).ifthenelse(fade, 0)


def _round_corners(image: pyvips.Image, radius) -> pyvips.Image:  # noqa: ANN001
    """Make the corners transparent: quarter circles of the given radii, or an ellipse for r_max."""
    width, height = image.width, image.height
    if radius == "max":
        xy = pyvips.Image.xyz(width, height)
        dx = (xy[0] + 0.5 - width / 2) / (width / 2)
        dy = (xy[1] + 0.5 - height / 2) / (height / 2)
        mask = (dx * dx + dy * dy <= 1).ifthenelse(255, 0).cast("uchar")
    else:
        radii = list(radius)
        # 1 value: every corner; 2: top-left/bottom-right and top-right/bottom-left; 3: tl, tr/bl, br.
        if len(radii) == 1:
            corners = radii * 4
        elif len(radii) == 2:
            corners = [radii[0], radii[1], radii[0], radii[1]]
        elif len(radii) == 3:
            corners = [radii[0], radii[1], radii[2], radii[1]]
        else:
            corners = radii
        mask = pyvips.Image.black(width, height).new_from_image(255).cast("uchar").copy_memory()
        centres = ((0, 0, 1, 1), (width, 0, -1, 1), (width, height, -1, -1), (0, height, 1, -1))
        for r, (cx, cy, sx, sy) in zip(corners, centres, strict=True):
            r = int(min(r, width / 2, height / 2))
            if r <= 0:
                continue
            left, top = (cx if sx > 0 else cx - r), (cy if sy > 0 else cy - r)
            mask = mask.draw_rect(0, left, top, r, r, fill=True)
            mask = mask.draw_circle(255, cx + sx * r - (1 if sx < 0 else 0), cy + sy * r - (1 if sy < 0 else 0), r,
                                    fill=True)
    image = _with_alpha(image)
    alpha = (image[image.bands - 1] * (mask / 255)).cast("uchar")
    return image[:image.bands - 1].bandjoin(alpha)


def _rotate(image: pyvips.Image, angle, component: Component) -> pyvips.Image:  # noqa: ANN001
    if angle == "hflip":
        return image.flip("horizontal")
    if angle == "vflip":
        return image.flip("vertical")
    if angle in ("auto_right", "auto_left"):
        # Rotate only when the image's orientation differs from the requested box's.
        wanted_portrait = component.height is not None and component.width is not None and \
            component.height.value > component.width.value
        if (image.height > image.width) != wanted_portrait:
            return image.rot90() if angle == "auto_right" else image.rot270()
        return image
    if angle == "ignore":
        return image
    degrees = int(angle) % 360
    if degrees % 90 == 0:
        return {0: image, 90: image.rot90(), 180: image.rot180(), 270: image.rot270()}[degrees]
    image = _with_alpha(image)
    return image.rotate(degrees, background=[0, 0, 0, 0])


def _border(image: pyvips.Image, width: int, color: str) -> pyvips.Image:
    rgba = _rgba(color)
    background = rgba if image.hasalpha() else rgba[:3]
    return image.embed(width, width, image.width + 2 * width, image.height + 2 * width, extend="background",
                       background=background)


def _text_layer(layer: Layer, component: Component) -> pyvips.Image:
    font = layer.font
    styles = " ".join(style.capitalize() for style in font.styles if style in ("bold", "italic", "light", "thin"))
    description = f"{font.family} {styles} {font.size}".replace("  ", " ")
    align = next((s for s in font.styles if s in ("left", "center", "right")), "left")
    text = (layer.text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "underline" in font.styles:
        text = f"<u>{text}</u>"
    if "strikethrough" in font.styles:
        text = f"<s>{text}</s>"
    mask = pyvips.Image.text(text, font=description, dpi=72, align={"left": "low", "center": "centre",
                                                                   "right": "high"}[align],
                             spacing=font.line_spacing or 0)
    red, green, blue, alpha = color_rgba(component.color or "black")
    ink = mask.new_from_image([red, green, blue]).copy(interpretation="srgb")
    return ink.bandjoin((mask * (alpha / 255)).cast("uchar"))


def _without_placement(component: Component) -> Component:
    """A layer's own transformation: what the component says except where to put the layer."""
    gravity = component.gravity if component.crop is not None else None  # g_ without c_ places the layer
    return replace(component, overlay=None, underlay=None, gravity=gravity, x=None, y=None,
                   flags=component.flags - {"layer_apply"})


def _continues(components: tuple[Component, ...], opener: Component) -> bool:
    """Whether a later component closes the layer ``opener`` opens with fl_layer_apply."""
    after = components[components.index(opener) + 1:]
    return any("layer_apply" in c.flags for c in after)


def _absolute(size: Size | None, natural: int) -> Size | None:
    if size is None or not size.relative:
        return size
    return Size(size.value * natural, False)


def _place(base: pyvips.Image, layer: pyvips.Image, component: Component, *, underlay: bool) -> pyvips.Image:
    """Composite ``layer`` onto ``base`` (or ``base`` onto it, for an underlay)."""
    left, top = geometry.placed((base.width, base.height), (layer.width, layer.height), component)
    opaque = not base.hasalpha()
    base = _with_alpha(base)
    layer = _with_alpha(layer)
    if underlay:
        # The layer goes beneath: draw it on an empty canvas of the base's size, then the base over it.
        canvas = pyvips.Image.black(base.width, base.height, bands=4).copy(interpretation="srgb")
        canvas = canvas.composite2(layer, "over", x=left, y=top)
        return canvas.composite2(base, "over").cast("uchar")
    result = base.composite2(layer, "over", x=left, y=top).cast("uchar")
    return result[:3] if opaque else result  # a layer over an opaque image leaves it opaque
