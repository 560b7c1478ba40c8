"""Crop-mode geometry on a 300x400 source: the steps each mode plans and the size it makes."""

from __future__ import annotations

import pytest

from medialoom.transform.geometry import Cut, Pad, Resize, SmartCut, plan
from medialoom.transform.grammar import TransformationError, parse

CASES = [
    ("w_150", [Resize(150, 200)], (150, 200)),
    ("h_100", [Resize(75, 100)], (75, 100)),
    ("w_0.5", [Resize(150, 200)], (150, 200)),
    ("c_scale,h_100,w_100", [Resize(100, 100)], (100, 100)),
    ("c_fit,h_100,w_100", [Resize(75, 100)], (75, 100)),
    ("c_limit,h_1000,w_1000", [], (300, 400)),
    ("c_mfit,h_600,w_600", [Resize(450, 600)], (450, 600)),
    ("c_fill,g_north,h_100,w_100", [Resize(100, 134), Cut(0, 0, 100, 100)], (100, 100)),
    ("c_fill,g_south,h_100,w_100", [Resize(100, 134), Cut(0, 34, 100, 100)], (100, 100)),
    ("c_fill,h_100,w_100", [Resize(100, 134), Cut(0, 17, 100, 100)], (100, 100)),
    ("c_fill,g_auto,h_40,w_120", [Resize(120, 160), SmartCut(120, 40)], (120, 40)),
    ("c_auto,h_40,w_120", [Resize(120, 160), SmartCut(120, 40)], (120, 40)),
    ("c_lfill,h_1000,w_1000", [Cut(0, 50, 300, 300)], (300, 300)),
    ("c_pad,h_100,w_100", [Resize(75, 100), Pad(100, 100, 12, 0)], (100, 100)),
    ("c_pad,g_west,h_100,w_100", [Resize(75, 100), Pad(100, 100, 0, 0)], (100, 100)),
    ("c_lpad,h_600,w_600", [Pad(600, 600, 150, 100)], (600, 600)),
    ("c_crop,g_south_east,h_50,w_100", [Cut(200, 350, 100, 50)], (100, 50)),
    ("c_crop,h_50,w_50,x_10,y_320", [Cut(10, 320, 50, 50)], (50, 50)),
    ("c_crop,h_50,w_50,x_290,y_390", [Cut(250, 350, 50, 50)], (50, 50)),  # clamped inside
    ("ar_16:9,c_crop", [Cut(0, 116, 300, 169)], (300, 169)),
    ("ar_1:1,c_fill,w_90", [Resize(90, 120), Cut(0, 15, 90, 90)], (90, 90)),
    ("dpr_2.0,w_100", [Resize(200, 267)], (200, 267)),
    ("c_crop,g_north,h_100,w_100,z_2", [Cut(125, 0, 50, 50), Resize(100, 100)], (100, 100)),
    ("e_grayscale", [], (300, 400)),
]


@pytest.mark.parametrize(("text", "steps", "size"), CASES, ids=[case[0] for case in CASES])
def test_plan(text, steps, size):
    component = parse(text).components[0]
    planned, width, height = plan(component, 300, 400)
    assert planned == steps
    assert (width, height) == size


def test_results_over_the_pixel_limit_are_refused():
    with pytest.raises(TransformationError, match="megapixels"):
        plan(parse("c_fill,h_9000,w_9000").components[0], 300, 400)


def test_fill_without_a_size_is_refused():
    with pytest.raises(TransformationError, match="needs w_ or h_"):
        plan(parse("c_fill").components[0], 300, 400)
