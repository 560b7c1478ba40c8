"""Transformation URLs built by the official Node SDK (npm ``cloudinary``), fetched from a real server.

The Node SDK spells options its own way (``effect: ['sepia', 50]``, ``border: {width, color}``,
``angle: ['vflip', 90]``, ``dpr_2`` without the ``.0``) and appends an ``?_a=`` analytics query
to every URL; both must reach the same renderings the Python SDK's URLs do. The node script runs
once per server for every option set; the source is the banded image of test_delivery.py
(300x400: red rows 0-99, grey, blue rows 300-399).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import cloudinary.uploader
import pytest

from tests.sdk.test_delivery import (  # noqa: F401 - bands is a fixture used here
    BLACK,
    BLUE,
    GREEN,
    GREY,
    RED,
    bands,
    decoded,
    fetch,
    near,
    pixel,
)
from tests.server import RunningServer

NODE_DIR = Path(__file__).parent / "node"
BANDS, PRIVATE, LOGO = "node/bands", "node/private", "node/logo"
TRANSPARENT = (None, None, None, 0)


class Case(NamedTuple):
    options: dict  # cloudinary.url() options, Node spelling; "public_id" picks the asset
    size: tuple[int, int] | None  # None: not predictable (rotations by odd angles)
    content_type: str
    pixels: list  # (x, y, colour[, tolerance]) at fractions of width and height
    headers: dict | None = None  # request headers (Accept for f_auto)


CASES: dict[str, Case] = {
    "scale": Case({"width": 150, "crop": "scale", "format": "png"}, (150, 200), "image/png",
                  [(0.5, 0.05, RED), (0.5, 0.95, BLUE)]),
    # No format: the URL has no extension and the original's format (PNG) comes back.
    "height_only": Case({"height": 100}, (75, 100), "image/png", [(0.5, 0.5, GREY)]),
    "relative_width": Case({"width": 0.5, "crop": "scale"}, (150, 200), "image/png", [(0.5, 0.95, BLUE)]),
    "fit": Case({"width": 100, "height": 100, "crop": "fit"}, (75, 100), "image/png", [(0.5, 0.05, RED)]),
    "limit": Case({"width": 150, "height": 150, "crop": "limit"}, (112, 150), "image/png", []),
    "fill_north": Case({"gravity": "north", "crop": "fill", "width": 100, "height": 100}, (100, 100), "image/png",
                       [(0.5, 0.05, RED), (0.5, 0.9, GREY)]),
    "fill_auto": Case({"gravity": "auto", "crop": "fill", "width": 120, "height": 40}, (120, 40), "image/png", []),
    "thumb_south": Case({"crop": "thumb", "gravity": "south", "width": 100, "height": 100}, (100, 100), "image/png",
                        [(0.5, 0.95, BLUE)]),
    "pad_west": Case({"background": "#00ff00", "crop": "pad", "width": 200, "height": 200, "gravity": "west"},
                     (200, 200), "image/png", [(0.05, 0.5, GREY), (0.95, 0.5, (0, 255, 0))]),
    "lpad": Case({"background": "black", "crop": "lpad", "width": 600, "height": 600}, (600, 600), "image/png",
                 [(0.1, 0.5, BLACK), (0.5, 0.5, GREY)]),
    "crop_gravity": Case({"crop": "crop", "gravity": "south_east", "width": 100, "height": 50}, (100, 50),
                         "image/png", [(0.5, 0.5, BLUE)]),
    "crop_xy": Case({"crop": "crop", "x": 10, "y": 320, "width": 50, "height": 50}, (50, 50), "image/png",
                    [(0.5, 0.5, BLUE)]),
    "crop_zoom": Case({"crop": "crop", "gravity": "north", "width": 100, "height": 100, "zoom": 2}, (100, 100),
                      "image/png", [(0.5, 0.5, RED)]),
    "aspect_ratio": Case({"aspect_ratio": "16:9", "crop": "crop"}, (300, 169), "image/png", [(0.5, 0.5, GREY)]),
    "aspect_ratio_number": Case({"aspect_ratio": 1.5, "crop": "fill", "width": 90}, (90, 60), "image/png",
                                [(0.5, 0.5, GREY)]),
    # Node writes dpr_2 (the Python SDK dpr_2.0).
    "dpr": Case({"dpr": 2, "width": 100, "crop": "scale"}, (200, 267), "image/png", []),
    "chain": Case({"transformation": [{"width": 200, "crop": "scale"},
                                      {"width": 100, "height": 100, "crop": "crop", "gravity": "north"}]},
                  (100, 100), "image/png", [(0.5, 0.5, RED)]),
    "raw_transformation": Case({"raw_transformation": "c_scale,w_60"}, (60, 80), "image/png", [(0.5, 0.05, RED)]),
    # Sepia at its default strength (80) turns the grey band brown: red > green > blue.
    "sepia": Case({"effect": "sepia"}, (300, 400), "image/png", [(0.5, 0.5, (164, 149, 121), 12)]),
    "effect_array": Case({"effect": ["brightness", 50], "width": 100, "crop": "scale"}, (100, 133), "image/png",
                         [(0.5, 0.5, (192, 192, 192))]),
    "negate": Case({"effect": "negate"}, (300, 400), "image/png", [(0.5, 0.05, (0, 255, 255))]),
    "colorize": Case({"color": "#FF0000", "effect": "colorize:50"}, (300, 400), "image/png",
                     [(0.5, 0.5, (192, 64, 64), 20), (0.5, 0.95, (128, 0, 128), 20)]),
    "radius_max": Case({"radius": "max", "width": 100, "height": 100, "crop": "fill", "format": "png"}, (100, 100),
                       "image/png", [(0.01, 0.01, TRANSPARENT), (0.5, 0.5, GREY)]),
    # r_20:0:20:0: the top-left and bottom-right corners round, the other two stay square.
    "radius_corners": Case({"radius": [20, 0, 20, 0], "format": "png"}, (300, 400), "image/png",
                           [(0.0, 0.0, TRANSPARENT), (1.0, 0.0, (*RED, 255)), (1.0, 1.0, TRANSPARENT),
                            (0.0, 1.0, (*BLUE, 255))]),
    "hflip": Case({"angle": "hflip"}, (300, 400), "image/png", [(0.5, 0.05, RED), (0.5, 0.95, BLUE)]),
    # Flipped (blue on top), then turned clockwise: the top edge ends up on the right.
    "angle_steps": Case({"angle": ["vflip", 90]}, (400, 300), "image/png", [(0.05, 0.5, RED), (0.95, 0.5, BLUE)]),
    "angle_90": Case({"angle": 90}, (400, 300), "image/png", [(0.05, 0.5, BLUE), (0.95, 0.5, RED)]),
    "angle_45": Case({"angle": 45, "width": 100, "crop": "scale"}, None, "image/png", []),
    "border_string": Case({"border": "5px_solid_green", "width": 100, "crop": "scale"}, (110, 143), "image/png",
                          [(0.0, 0.5, GREEN)]),
    "border_object": Case({"border": {"width": 4, "color": "#0000ff"}, "width": 100, "crop": "scale"}, (108, 141),
                          "image/png", [(0.0, 0.5, BLUE), (0.5, 0.5, GREY)]),
    "opacity": Case({"opacity": 50, "width": 100, "crop": "scale", "format": "png"}, (100, 133), "image/png",
                    [(0.5, 0.5, (128, 128, 128, 127))]),
    "format_webp": Case({"format": "webp", "width": 100, "crop": "scale"}, (100, 133), "image/webp",
                        [(0.5, 0.05, RED)]),
    "fetch_format_avif": Case({"fetch_format": "avif", "width": 100, "crop": "scale"}, (100, 133), "image/avif", []),
    "fetch_format_auto": Case({"fetch_format": "auto", "width": 100, "crop": "scale"}, (100, 133), "image/webp",
                              [(0.5, 0.95, BLUE)], {"Accept": "image/webp,*/*"}),
    "quality_auto_good": Case({"quality": "auto:good", "format": "jpg"}, (300, 400), "image/jpeg",
                              [(0.5, 0.05, RED)]),
    "quality_number": Case({"quality": 30, "fetch_format": "jpg", "width": 100, "crop": "scale"}, (100, 133),
                           "image/jpeg", [(0.5, 0.95, BLUE)]),
    "progressive": Case({"flags": ["progressive"], "format": "jpg", "width": 80, "crop": "scale"}, (80, 107),
                        "image/jpeg", []),
    "text_overlay": Case({"overlay": {"font_family": "Arial", "font_size": 40, "text": "Hi"}}, (300, 400),
                         "image/png", [(0.5, 0.05, RED), (0.5, 0.95, BLUE)]),
    "version": Case({"version": 1700000000, "width": 50, "crop": "scale"}, (50, 67), "image/png", []),
    "signed_private": Case({"public_id": PRIVATE, "type": "private", "sign_url": True, "width": 40,
                            "crop": "scale", "format": "jpg"}, (40, 53), "image/jpeg", [(0.5, 0.05, RED)]),
    "signed_private_long": Case({"public_id": PRIVATE, "type": "private", "sign_url": True,
                                 "long_url_signature": True, "width": 41, "crop": "scale", "format": "jpg"},
                                (41, 55), "image/jpeg", []),
}

# Option sets with checks of their own below.
EXTRA = {
    "text_escaped": {"overlay": {"font_family": "Arial", "font_size": 60, "font_weight": "bold",
                                 "text": "A, B/C 100%"}, "color": "white", "gravity": "center"},
    "image_layer": {"transformation": [{"overlay": "node:logo", "width": 60, "crop": "scale"},
                                       {"flags": "layer_apply", "gravity": "south_east"}]},
    "attachment": {"flags": "attachment", "width": 40, "crop": "scale", "format": "png"},
    "private_unsigned": {"public_id": PRIVATE, "type": "private", "width": 40, "crop": "scale", "format": "jpg"},
    "bad_crop": {"crop": "bogus", "width": 10},
}


def node_urls_for(server: RunningServer, option_sets: list[dict]) -> list[str]:
    node = shutil.which("node")
    assert node, "node is required (scripts/test installs it)"
    assert (NODE_DIR / "node_modules" / "cloudinary").exists(), "run `npm ci` in tests/sdk/node (scripts/test does)"
    env = {**os.environ, "CLOUDINARY_URL": server.cloudinary_url}
    completed = subprocess.run([node, "delivery_urls.js"], input=json.dumps(option_sets), cwd=NODE_DIR, env=env,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    urls = json.loads(completed.stdout)
    assert len(urls) == len(option_sets)
    return urls


@pytest.fixture(scope="module")
def node_urls(server) -> dict[str, str]:
    """Every option set's URL, from one run of the node script against this server."""
    names = [*CASES, *EXTRA]
    option_sets = [{"public_id": BANDS, **(CASES[n].options if n in CASES else EXTRA[n])} for n in names]
    return dict(zip(names, node_urls_for(server, option_sets), strict=True))


@pytest.fixture(scope="module")
def node_assets(server, bands, files) -> None:  # noqa: F811 - bands is the imported fixture
    """The assets the URLs name, uploaded once per server with the Python SDK."""
    account = {"cloud_name": server.cloud_name, "api_key": server.api_key, "api_secret": server.api_secret,
               "upload_prefix": server.base_url}
    cloudinary.uploader.upload(bands, public_id=BANDS, overwrite=True, **account)
    cloudinary.uploader.upload(bands, public_id=PRIVATE, type="private", overwrite=True, **account)
    cloudinary.uploader.upload(str(files["png"]), public_id=LOGO, overwrite=True, **account)


@pytest.mark.parametrize("name", list(CASES))
def test_node_sdk_url_renders(server, node_urls, node_assets, name):  # noqa: ARG001
    case = CASES[name]
    url = node_urls[name]
    # Built against our server (cname from CLOUDINARY_URL), with the SDK's analytics query left on.
    assert url.startswith(f"{server.base_url}/{server.cloud_name}/image/"), url
    assert "?_a=" in url
    response = fetch(url, **(case.headers or {}))
    image = decoded(response)
    assert response.headers["content-type"] == case.content_type
    if case.size is not None:
        assert (image.width, image.height) == case.size
    for x, y, colour, *tolerance in case.pixels:
        actual = pixel(image, x, y)
        assert near(actual, colour, *tolerance), (x, y, actual, colour)


def test_node_sdk_spellings_reach_the_url(node_urls):
    """The Node-only spellings the table relies on, as they appear in the path."""
    assert "/c_scale,dpr_2,w_100/" in node_urls["dpr"]
    assert ",e_brightness:50," in node_urls["effect_array"]
    assert "/a_vflip.90/" in node_urls["angle_steps"]
    assert "bo_4px_solid_rgb:0000ff" in node_urls["border_object"]
    assert "/v1700000000/node/bands?" in node_urls["version"]
    assert "/s--" in node_urls["signed_private"] and "/s--" in node_urls["signed_private_long"]
    assert len(node_urls["signed_private_long"].split("/s--")[1].split("--/")[0]) == 32


def test_node_text_layer_with_escaped_comma_and_slash(server, node_urls, node_assets):  # noqa: ARG001
    url = node_urls["text_escaped"]
    assert "A%252C%20B%252FC%20100%25" in url  # "," and "/" escaped twice, as Cloudinary expects
    image = decoded(fetch(url))
    assert (image.width, image.height) == (300, 400)
    # White text in the grey band; the red and blue bands are untouched at their edges.
    assert image.crop(0, 120, 300, 160).max() > 230
    assert near(pixel(image, 0.5, 0.02), RED) and near(pixel(image, 0.5, 0.98), BLUE)


def test_node_image_layer_is_placed_by_layer_apply(server, node_urls, node_assets):  # noqa: ARG001
    url = node_urls["image_layer"]
    assert "/c_scale,l_node:logo,w_60/fl_layer_apply,g_south_east/" in url
    image = decoded(fetch(url))
    assert (image.width, image.height) == (300, 400)
    assert not near(pixel(image, 0.95, 0.99), BLUE, 10)  # the logo covers the bottom-right corner
    assert near(pixel(image, 0.05, 0.99), BLUE)


def test_node_versioned_url_is_immutable(server, node_urls, node_assets):  # noqa: ARG001
    response = fetch(node_urls["version"])
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]


def test_node_attachment_flag_downloads(server, node_urls, node_assets):  # noqa: ARG001
    response = fetch(node_urls["attachment"])
    assert decoded(response).width == 40
    assert response.headers["content-disposition"] == 'attachment; filename="bands.png"'


def test_node_private_asset_needs_the_signature(server, node_urls, node_assets):  # noqa: ARG001
    assert fetch(node_urls["private_unsigned"]).status_code == 401
    signed = node_urls["signed_private"]
    assert fetch(signed.replace("w_40", "w_39")).status_code == 401  # the signature covers the transformation


def test_node_bad_option_is_a_400_naming_it(server, node_urls, node_assets):  # noqa: ARG001
    response = fetch(node_urls["bad_crop"])
    assert response.status_code == 400
    assert "c_bogus" in response.headers["x-cld-error"]
