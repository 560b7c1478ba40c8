"""Property tests over the grammar and the geometry with inputs built from their own tables.

Whatever text arrives in a delivery URL, ``parse`` returns a chain or raises TransformationError
(which becomes a 400); its canonical form, the derived-file key, parses back to itself. For
whatever parses, ``geometry.plan`` on any source size either refuses with TransformationError or
plans steps a renderer can carry out: every cut inside the image it cuts, every size positive,
nothing larger than the output limit on the way.

The strategies here are shared with tests/sdk/test_delivery_fuzz.py, which sends them to a real
server; ``transformations(cheap=True)`` keeps sizes small there so that what parses also renders
quickly.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medialoom.transform import grammar as g
from medialoom.transform.geometry import MAX_OUTPUT_PIXELS, Cut, Pad, Resize, SmartCut, plan
from medialoom.transform.grammar import Transformation, TransformationError, canonical, parse

# -- strategies ------------------------------------------------------------------------------

# Keys the grammar knows, keys it refuses by name, and keys nobody knows.
KNOWN_KEYS = sorted(g._KEYS)
ODD_KEYS = [*sorted(g._VIDEO_KEYS), "if", "fn", "$v", "$width", "xx", "W", "C", "wh", "", "_", "e_"]

# Numbers as they may be written: plain, at and beyond the limits, signed, padded, malformed.
ODD_NUMBERS = ["0", "-0", "00", "007", "-1", "0.0", "-0.0", "0.5", "1.0", "1.", ".5", "1e3", "1E3", "+1", "10.0",
               "10.01", "10000", "10001", "20000", "99999999999999999999", "999999999999999999999",
               "0.00000000000000001", "1_000", "nan", "inf", "-inf", "1,5", "1:2", "\u0661", "\uff11"]

# Pieces of values from the grammar's own tables, for noisy values that get past the key.
TABLE_WORDS = sorted({
    *g.CROPS, *g.GRAVITIES, *(focus for foci in g.GRAVITIES.values() for focus in foci), *g.FORMATS,
    *g.QUALITY_LEVELS, *g.EFFECTS, *g.ANGLE_MODES, *g.FLAGS, *g.BACKGROUND_AUTO_MODES,
    *(style for group in g.FONT_STYLES for style in group), *g.FONT_ANTIALIAS, *g.FONT_HINTING, *g._LAYER_TYPES,
    "red", "RED", "rgb:", "#", "%23", "abc", "ff000080", "px", "solid", "auto", "max", "iw", "ih", "Arial",
    "letter", "line", "spacing", "antialias", "hinting", "normal", "none", "aHR0cDovL3g=", "aGVsbG8",
})
ESCAPES = ["%", "%2", "%2C", "%2c", "%252C", "%2F", "%252F", "%25", "%2525", "%20", "%00", "%0A", "%FF", "%C3%A9",
           "%C3", "%E2%9C%93", "%ZZ", "%5F", "%3A", "%2E%2E", "%3F", "%23"]
VARIABLES = ["$v", "$v_1", "$(v)", "$(width)", "$width_100", "$", "$$"]
SEPARATORS = [":", ".", "_", ",", "/", "-", "::", "..", ""]
UNICODE = st.characters(blacklist_categories=("Cs",))

_ATOM = st.one_of(
    st.sampled_from(TABLE_WORDS), st.sampled_from(ODD_NUMBERS), st.integers(-20000, 20000).map(str),
    st.sampled_from(ESCAPES), st.sampled_from(VARIABLES), st.sampled_from(sorted(g.CSS_COLORS)),
    st.text(UNICODE, min_size=1, max_size=3),
)
NOISY_VALUE = st.lists(st.tuples(_ATOM, st.sampled_from(SEPARATORS)), max_size=5).map(
    lambda parts: "".join(atom + sep for atom, sep in parts))


def _decimal_text(low: float, high: float) -> st.SearchStrategy[str]:
    """Numbers with a decimal point (``0.50``, ``2.00``: relative sizes, dpr) in ``[low, high]``."""
    return st.integers(round(low * 100), round(high * 100)).map(lambda n: f"{n / 100:.2f}")


def _colors() -> st.SearchStrategy[str]:
    names = st.sampled_from(sorted(g.CSS_COLORS))
    hexes = st.sampled_from([3, 4, 6, 8]).flatmap(lambda n: st.text("0123456789abcdefABCDEF", min_size=n,
                                                                   max_size=n))
    return names | st.tuples(st.sampled_from(["rgb:", "#", "%23"]), hexes).map("".join)


def _public_ids(existing: tuple[str, ...]) -> st.SearchStrategy[str]:
    segment = st.text("abcXYZ019_-.", min_size=1, max_size=10)
    return st.sampled_from(existing) | st.lists(segment, min_size=1, max_size=3).map(":".join)


def _layer_text() -> st.SearchStrategy[str]:
    """Text layer content escaped as the SDKs escape it (``,`` and ``/`` twice), or left raw."""
    text = st.text(UNICODE, min_size=1, max_size=12)
    escaped = text.map(lambda t: quote(t.replace(",", "%2C").replace("/", "%2F"), safe=""))
    return escaped | st.text("abcXYZ 019%,/:_.-", min_size=0, max_size=12)


def _values(cheap: bool, layer_ids: tuple[str, ...], named: tuple[str, ...]) -> dict[str, st.SearchStrategy[str]]:
    """One strategy per key for values the tables allow. ``cheap`` keeps whatever renders small:
    the server fuzz must not ask for 50-megapixel images a hundred times."""
    pixels = 400 if cheap else g.MAX_DIMENSION
    relative = 2.0 if cheap else g.MAX_RELATIVE
    ratio = 10 if cheap else 120  # beyond 100:1 is refused; w_400,ar_1:100 would be 16 megapixels
    sizes = st.one_of(st.integers(1, pixels).map(str), st.integers(1, pixels).map(str), _decimal_text(0.01, relative),
                      st.sampled_from(["0", "10001", "0.0", "auto", "-5"]))
    offsets = st.integers(-pixels, pixels).map(str) | _decimal_text(-relative, relative)
    effects = st.sampled_from(sorted(g.EFFECTS)).flatmap(lambda name: st.just(name) | (
        st.just(f"{name}:1") if g.EFFECTS[name] is None else st.integers(
            int(g.EFFECTS[name][0]), min(int(g.EFFECTS[name][1]), 300 if cheap else 10 ** 6)).map(
            lambda n: f"{name}:{n}")))
    fonts = st.tuples(
        st.sampled_from(["Arial", "Open%20Sans", "DejaVu%20Sans", "no-such-font", "%5Fx"]),
        st.integers(1, 60 if cheap else g.MAX_FONT_SIZE).map(str),
        st.lists(st.sampled_from(["bold", "italic", "underline", "strikethrough", "center", "right", "stroke",
                                  "normal", "letter_spacing_-2", "line_spacing_10", "antialias_gray",
                                  "hinting_full"]), unique=True, max_size=3),
    ).map(lambda parts: "_".join([parts[0], parts[1], *parts[2]]))
    layers = (
        _public_ids(layer_ids)
        | _public_ids(layer_ids).map("image:".__add__)
        | st.tuples(fonts, _layer_text()).map(lambda p: f"text:{p[0]}:{p[1]}")
        | st.sampled_from(["http://127.0.0.1/x.png", "ftp://x", "not a url"]).map(
            lambda url: "fetch:" + base64.urlsafe_b64encode(url.encode()).decode())
    )
    return {
        "w": sizes | st.just("iw"),
        "h": sizes | st.just("ih"),
        "c": st.sampled_from(sorted(g.CROPS)),
        "g": st.sampled_from(sorted(g.GRAVITIES)).flatmap(
            lambda mode: st.sampled_from([mode, *(f"{mode}:{focus}" for focus in sorted(g.GRAVITIES[mode]))])),
        "ar": st.tuples(st.integers(1, ratio), st.integers(1, ratio)).map(lambda p: f"{p[0]}:{p[1]}")
        | _decimal_text(1 / ratio, ratio) | st.sampled_from(["0:1", "1:0", "1000:1", "1.5:1", "0.5:0.25"]),
        "x": offsets,
        "y": offsets,
        "z": _decimal_text(0.01, 3.0 if cheap else g.MAX_ZOOM),
        "q": st.integers(0, 101).map(str) | st.sampled_from(["80:420", "80:444", "auto", "auto:best", "auto:eco",
                                                              "auto:low"]),
        "f": st.sampled_from(sorted(g.FORMATS)),
        "e": effects | st.tuples(st.integers(0, 100), _colors()).map(lambda p: f"trim:{p[0]}:{p[1]}"),
        "r": st.just("max") | st.lists(st.integers(0, pixels).map(str), min_size=1, max_size=5).map(":".join),
        "a": st.lists(st.sampled_from(sorted(g.ANGLE_MODES)) | st.integers(-360, 360).map(str), min_size=1,
                      max_size=3).map(".".join),
        "bo": st.tuples(st.integers(0, 20 if cheap else g.MAX_BORDER), _colors()).map(
            lambda p: f"{p[0]}px_solid_{p[1]}"),
        "b": _colors() | st.sampled_from(["auto", "auto:border", "blurred", "blurred:400:15"]),
        "co": _colors(),
        "o": st.integers(0, 101).map(str),
        "dpr": st.just("auto") | _decimal_text(0.1, 2.0 if cheap else g.MAX_DPR) | st.sampled_from(["1", "2"]),
        "fl": st.lists(st.sampled_from(sorted(g.FLAGS)), min_size=1, max_size=3).map(".".join)
        | st.just("attachment:my-file"),
        "l": layers,
        "u": layers,
        "d": _public_ids(layer_ids).map(lambda public_id: public_id + ".png"),
        "pg": st.integers(1, 3 if cheap else g.MAX_PAGE).map(str) | st.just("0"),
        "t": st.lists(st.text("abcXYZ019_-", min_size=1, max_size=8) | st.sampled_from(named or ("missing",)),
                      min_size=1, max_size=2).map(".".join),
    }


def transformations(*, cheap: bool = False, noise: bool = True, layer_ids: tuple[str, ...] = ("logo",),
                    named: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    """Transformation texts: mostly parameters the tables allow, some with noisy keys or values,
    some plain garbage, in chains of up to four components; without ``noise``, only parameters
    the tables allow (their values still reach past the limits). ``layer_ids`` and ``named`` are
    images and named transformations that exist where the texts are sent."""
    values = _values(cheap, layer_ids, named)
    well_formed = st.lists(st.sampled_from(KNOWN_KEYS), min_size=1, max_size=5, unique=True).flatmap(
        lambda keys: st.tuples(*(values[key].map(lambda v, key=key: f"{key}_{v}") for key in keys)))
    noisy = st.tuples(st.sampled_from(KNOWN_KEYS + ODD_KEYS), st.sampled_from(["_", "_", "", "__", "-"]),
                      NOISY_VALUE).map("".join)
    # Mostly components whose every parameter the tables allow (one bad parameter refuses the
    # whole chain, and the properties need chains that parse); then one noisy parameter mixed in.
    component = st.one_of(
        well_formed.map(",".join), well_formed.map(",".join), well_formed.map(",".join), well_formed.map(",".join),
        st.tuples(well_formed, noisy, st.randoms(use_true_random=False)).map(
            lambda p: ",".join(p[2].sample([*p[0], p[1]], len(p[0]) + 1))),
        st.sampled_from(["", " ", ",", "_", "w_100,", ",w_100"]),
    )
    if not noise:
        return st.lists(well_formed.map(",".join), min_size=1, max_size=4).map("/".join)
    chain = st.lists(component, min_size=1, max_size=4).map("/".join)
    garbage = st.text(UNICODE, max_size=40) | st.lists(_ATOM | st.sampled_from(SEPARATORS), max_size=20).map(
        "".join)
    return st.one_of(chain, chain, chain, chain, chain, chain, chain, garbage)


SIZING_KEYS = ("w", "h", "c", "g", "ar", "x", "y", "z", "dpr")


def sizings() -> st.SearchStrategy[str]:
    """Components of sizing parameters only, nearly always with a crop mode and both sides: what
    the geometry works on, which whole random chains rarely bring together."""
    values = _values(False, ("logo",), ())
    keys = st.lists(st.sampled_from(SIZING_KEYS), max_size=4, unique=True).map(
        lambda extra: ["c", "w", "h", *(key for key in extra if key not in ("c", "w", "h"))])
    component = keys.flatmap(lambda chosen: st.tuples(*(values[key].map(lambda v, key=key: f"{key}_{v}")
                                                        for key in chosen))).map(",".join)
    return st.lists(component, min_size=1, max_size=3).map("/".join)


# -- properties ------------------------------------------------------------------------------


def _header_safe(message: str) -> bool:
    return message.isascii() and message.isprintable() and 0 < len(message) <= g.MAX_MESSAGE


def _parsed_or_none(text: str) -> Transformation | None:
    """The parse, or None for a refusal, which must be a TransformationError fit for a header."""
    try:
        return parse(text)
    except TransformationError as error:
        assert _header_safe(str(error)), str(error)
        return None


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transformations())
def test_any_text_parses_or_is_a_transformation_error_and_canonical_is_stable(text):
    parsed = _parsed_or_none(text)
    if parsed is None:
        return
    key = canonical(parsed)
    again = parse(key)  # the derived-file key must parse: anything else is a 400 for a good URL
    assert canonical(again) == key
    assert again == parsed


@settings(max_examples=300, deadline=None)
@given(st.text(UNICODE, max_size=g.MAX_LENGTH + 50) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_arbitrary_unicode_and_bytes(text):
    parsed = _parsed_or_none(text)
    if parsed is not None:
        assert canonical(parse(canonical(parsed))) == canonical(parsed)


def _check_steps(steps: list, width: int, height: int, size: tuple[int, int]) -> None:
    """Carry out the steps on a size, as libvips would, checking each one can be carried out."""
    current = size
    for step in steps:
        if isinstance(step, Resize):
            assert step.width >= 1 and step.height >= 1, step
            assert step.width * step.height <= MAX_OUTPUT_PIXELS, (step, "an image over the limit on the way")
            current = (step.width, step.height)
        elif isinstance(step, Cut):
            assert step.width >= 1 and step.height >= 1 and step.left >= 0 and step.top >= 0, step
            assert step.left + step.width <= current[0] and step.top + step.height <= current[1], (step, current)
            current = (step.width, step.height)
        elif isinstance(step, SmartCut):
            assert 1 <= step.width <= current[0] and 1 <= step.height <= current[1], (step, current)
            current = (step.width, step.height)
        elif isinstance(step, Pad):
            assert step.width >= current[0] and step.height >= current[1], (step, current)
            assert 0 <= step.left <= step.width - current[0] and 0 <= step.top <= step.height - current[1], step
            current = (step.width, step.height)
        else:
            raise AssertionError(f"unknown step {step!r}")
    assert isinstance(width, int) and isinstance(height, int)
    assert current == (width, height)
    assert width >= 1 and height >= 1
    # Only a component that leaves the size alone may answer more than the limit (the renderer
    # refuses sources over its own megapixel limit before planning).
    assert width * height <= MAX_OUTPUT_PIXELS or (not steps and (width, height) == size)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transformations() | sizings(), st.integers(1, 20000), st.integers(1, 20000))
def test_geometry_plans_steps_that_fit_or_refuses(text, source_width, source_height):
    parsed = _parsed_or_none(text)
    if parsed is None:
        return
    size = (source_width, source_height)
    for component in parsed.components:  # each component sizes what the one before produced
        try:
            steps, width, height = plan(component, *size)
        except TransformationError as error:
            assert _header_safe(str(error)), str(error)
            return
        _check_steps(steps, width, height, size)
        size = (width, height)


# -- regressions -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "steps"), [
    # A strip far from the source's shape: the source is cut first, never scaled to 10000x13334.
    ("c_fill,g_auto,h_1,w_10000", [SmartCut(300, 1), Resize(10000, 1)]),
    ("c_fill,g_south,h_1,w_10000", [Cut(0, 399, 300, 1), Resize(10000, 1)]),
    ("c_fill,h_10000,w_1,x_100", [Cut(154, 0, 1, 400), Resize(1, 10000)]),  # x_100 at 25x is 4 px
    ("c_fill,dpr_5.0,g_auto,h_1,w_10000", [SmartCut(300, 1), Resize(50000, 5)]),
])
def test_fill_of_a_far_shape_cuts_before_scaling(text, steps):
    planned, width, height = plan(parse(text).components[0], 300, 400)
    assert planned == steps
    assert (width, height) == (steps[-1].width, steps[-1].height)
