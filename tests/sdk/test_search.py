"""The Search API through the official Python SDK, on SQLite and on PostgreSQL.

A fixture uploads a small, known library; every expression in the table is run scoped to that
library (``tags=<run tag> AND (...)``) and must return exactly the expected assets.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import cloudinary
import cloudinary.api
import cloudinary.uploader
import httpx
import pytest
from cloudinary.exceptions import BadRequest
from cloudinary.search import Search
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sdk.conftest import make_image
from tests.sdk.helpers import basic_auth

LIBRARY = {
    # name: (file kind, upload options)
    "red_shoe": ("png", {"tags": ["shoes", "red"], "context": {"alt": "Red running shoe", "color": "red"}}),
    "blue_shoe": ("jpg", {"tags": ["shoes", "blue"], "context": {"color": "blue"}}),
    "banners/hero": ("big", {"tags": ["Banner", "Black Cat"]}),
    "banners/hero_small": ("square", {"tags": ["banner"]}),
    "docs/notes": ("raw", {"tags": ["docs"]}),
    "docs/readme": ("raw", {"tags": ["docs", "draft-2"], "moderation": "manual"}),
    "archive/old_photo": ("jpg", {"tags": ["archive"]}),
    "archive/older": ("tall", {"tags": ["archive"]}),
    "misc/with space": ("png", {"context": {"note": "a|b=c"}}),
    "misc/approved": ("square", {"moderation": "manual"}),
}
BACKDATED = {"archive/old_photo": "2023-05-01 10:00:00", "archive/older": "2022-01-15 08:30:00"}

ALL = set(LIBRARY)
IMAGES = ALL - {"docs/notes", "docs/readme"}
JPGS = {"blue_shoe", "banners/hero", "archive/old_photo"}

# (expression, expected names). "{P}" is the library's folder.
TABLE: list[tuple[str, set[str]]] = [
    ("", ALL),
    ("*", ALL),
    ("tags=shoes", {"red_shoe", "blue_shoe"}),
    ("tags:shoes", {"red_shoe", "blue_shoe"}),
    ("tag:shoes", {"red_shoe", "blue_shoe"}),
    ("tags=banner", {"banners/hero_small"}),
    ("tags:banner", {"banners/hero", "banners/hero_small"}),
    ("tags=Banner", {"banners/hero"}),
    ("tags:cat", {"banners/hero"}),
    ('tags:"black cat"', {"banners/hero"}),
    ('tags="Black Cat"', {"banners/hero"}),
    ("tags=Black*", {"banners/hero"}),
    ("tags:dra*", {"docs/readme"}),
    ("tags:2", {"docs/readme"}),
    ("tags=shoes AND tags=red", {"red_shoe"}),
    ("tags=shoes tags=blue", {"blue_shoe"}),
    ("tags=red OR tags=blue", {"red_shoe", "blue_shoe"}),
    ("tags:(red OR blue)", {"red_shoe", "blue_shoe"}),
    ("tags=shoes AND NOT tags=red", {"blue_shoe"}),
    ("tags=shoes -tags=red", {"blue_shoe"}),
    ("-tags=shoes", ALL - {"red_shoe", "blue_shoe"}),
    ("NOT (tags=shoes OR tags=docs OR tags=archive)", {"banners/hero", "banners/hero_small", "misc/with space",
                                                      "misc/approved"}),
    ("(tags=shoes OR tags=docs) AND resource_type:image", {"red_shoe", "blue_shoe"}),
    ("resource_type:raw", {"docs/notes", "docs/readme"}),
    ("resource_type=image", IMAGES),
    ("resource_type:IMAGE", IMAGES),
    ("format=jpg", JPGS),
    ("format:png AND width<200", {"banners/hero_small", "archive/older", "misc/approved"}),
    ("format:(jpg OR png) AND NOT format=jpg", IMAGES - JPGS),
    ("type=upload", ALL),
    ("type:private", set()),
    ("public_id={P}/red_shoe", {"red_shoe"}),
    ("public_id:{P}/banners/*", {"banners/hero", "banners/hero_small"}),
    ('public_id="{P}/misc/with space"', {"misc/with space"}),
    ("public_id={P}/misc/with\\ space", {"misc/with space"}),
    ("filename=hero", {"banners/hero"}),
    ("filename:hero*", {"banners/hero", "banners/hero_small"}),
    ("folder={P}/banners", {"banners/hero", "banners/hero_small"}),
    ("folder:{P}/docs", {"docs/notes", "docs/readme"}),
    ('folder:"{P}/*"', ALL),
    ("folder:{P}/banners/*", {"banners/hero", "banners/hero_small"}),
    ("asset_folder:{P}/ar*", {"archive/old_photo", "archive/older"}),
    ("folder={P}", {"red_shoe", "blue_shoe"}),
    ("width>1000", {"banners/hero"}),
    ("width>=400 AND height<=300", {"blue_shoe", "archive/old_photo"}),
    ("width:[100 TO 241]", {"red_shoe", "banners/hero_small", "misc/with space", "misc/approved"}),
    ("width:{100 TO 241]", {"red_shoe", "misc/with space"}),
    ("height:[* TO 100}", {"red_shoe", "misc/with space"}),
    ("pixels>100000", {"blue_shoe", "banners/hero", "archive/old_photo"}),
    ("aspect_ratio=1", {"banners/hero_small", "misc/approved"}),
    ('aspect_ratio>="4:3"', {"red_shoe", "misc/with space", "blue_shoe", "banners/hero", "archive/old_photo"}),
    ("aspect_ratio<1", {"archive/older"}),
    ("bytes>200kb", {"banners/hero"}),
    ("bytes<1kb", {"docs/notes", "docs/readme"}),
    ("bytes:[1kb TO 0.2mb]", IMAGES - {"banners/hero"}),
    ("created_at>1d", ALL - set(BACKDATED)),
    ("created_at<1w", set(BACKDATED)),
    ("uploaded_at>2020-01-01", ALL),
    ("created_at<2023-01-01", {"archive/older"}),
    ("created_at:[2022-01-01 TO 2023-12-31]", set(BACKDATED)),
    ("created_at:2023-05-01", {"archive/old_photo"}),
    ('created_at>"2023-05-01T09:00:00Z" AND created_at<1d', {"archive/old_photo"}),
    ("context.color=red", {"red_shoe"}),
    ("context.color:(red OR blue)", {"red_shoe", "blue_shoe"}),
    ("context.alt:running", {"red_shoe"}),
    ('context.alt="Red running shoe"', {"red_shoe"}),
    ('context.note="a|b=c"', {"misc/with space"}),
    ("context.color:*", {"red_shoe", "blue_shoe"}),
    ("context:running", {"red_shoe"}),
    ("moderation_status:pending", {"docs/readme"}),
    ("moderation_status=approved", {"misc/approved"}),
    ("moderation_kind:manual", {"docs/readme", "misc/approved"}),
    ("-moderation_status:pending", ALL - {"docs/readme"}),
    ("status:active", ALL),
    ("status:(active OR pending)", ALL),
    ("backup=false", ALL),
    ("running", {"red_shoe"}),
    ("hero*", {"banners/hero", "banners/hero_small"}),
    ('"with space"', {"misc/with space"}),
    ("shoe AND blue", {"blue_shoe"}),
    ("nosuchfield:anything", set()),
    ("image_metadata.Make:Canon", set()),
    ("-nosuchfield:anything", ALL),
]


@pytest.fixture(scope="module")
def library(server, tmp_path_factory):
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    folder = tmp_path_factory.mktemp("search-files")
    sources = {
        "png": make_image(folder / "a.png"),                          # 241x51
        "jpg": make_image(folder / "b.jpg", 400, 300, Q=90),
        "big": make_image(folder / "c.jpg", 1600, 1000, Q=98),
        "square": make_image(folder / "d.png", 100, 100),
        "tall": make_image(folder / "e.png", 50, 200),
    }
    raw = folder / "notes.txt"
    raw.write_text("plain notes\n")
    run = f"s{time.time_ns()}"
    prefix = f"search/{run}"
    for name, (kind, options) in LIBRARY.items():
        tags = [run, *options.get("tags", [])]
        extra = {key: value for key, value in options.items() if key != "tags"}
        source = raw if kind == "raw" else sources[kind]
        directory, _, leaf = name.rpartition("/")
        # `folder` places the asset in an asset folder and prefixes its public id (dynamic mode).
        cloudinary.uploader.upload(str(source), folder=f"{prefix}/{directory}".rstrip("/"), public_id=leaf,
                                   tags=tags, resource_type="raw" if kind == "raw" else "image", **extra)
    cloudinary.api.update(f"{prefix}/misc/approved", moderation_status="approved")
    for name, moment in BACKDATED.items():
        value = moment + ".000000" if server.is_sqlite else datetime.fromisoformat(moment).replace(tzinfo=UTC)
        server.execute("UPDATE assets SET created_at = :at WHERE public_id = :pid", at=value, pid=f"{prefix}/{name}")
        # Label rows repeat their asset's created_at (which no API call changes).
        server.execute("UPDATE asset_labels SET created_at = :at WHERE asset_pk = "
                       "(SELECT id FROM assets WHERE public_id = :pid)", at=value, pid=f"{prefix}/{name}")
    return run, prefix


def _names(prefix: str, resources: list[dict]) -> set[str]:
    return {item["public_id"].removeprefix(prefix + "/") for item in resources}


@pytest.mark.parametrize(("expression", "expected"), TABLE, ids=[row[0] or "<empty>" for row in TABLE])
def test_expression_table(library, expression, expected):
    run, prefix = library
    scoped = f"tags={run}" + (f" AND ({expression.replace('{P}', prefix)})" if expression else "")
    result = Search().expression(scoped).max_results(500).execute()
    assert _names(prefix, result["resources"]) == expected
    assert result["total_count"] == len(expected)


def test_sort_orders_and_cursor_paging(library):
    run, prefix = library
    by_name = Search().expression(f"tags={run}").sort_by("public_id", "asc").max_results(500).execute()
    names = [item["public_id"] for item in by_name["resources"]]
    assert names == sorted(names) and len(names) == len(LIBRARY)
    newest_first = Search().expression(f"tags={run}").max_results(500).execute()["resources"]
    assert [item["public_id"].removeprefix(prefix + "/") for item in newest_first][-2:] == \
        ["archive/old_photo", "archive/older"]
    by_width = Search().expression(f"tags={run} AND resource_type:image").sort_by("width", "desc") \
        .sort_by("public_id", "asc").max_results(500).execute()["resources"]
    widths = [item["width"] for item in by_width]
    assert widths == sorted(widths, reverse=True)

    seen, cursor = [], None
    while True:
        search = Search().expression(f"tags={run}").sort_by("bytes", "asc").max_results(3)
        if cursor:
            search = search.next_cursor(cursor)
        page = search.execute()
        assert page["total_count"] == len(LIBRARY)
        seen += page["resources"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == len(LIBRARY) == len({item["public_id"] for item in seen})
    assert [item["bytes"] for item in seen] == sorted(item["bytes"] for item in seen)


@pytest.mark.parametrize("expression", ["tags={run}", "resource_type:image AND tags={run}",
                                        "tags:{run} AND NOT format=png"])
def test_newest_first_pages_agree_with_one_page(library, expression):
    """Newest first with a label test reads the label index in date order (a different plan):
    three-result pages joined by their cursors give what the plain plan gives in one page."""
    run, _ = library
    expression = expression.format(run=run)
    # Under OR no single label test holds for every match, so this takes the plain plan.
    whole = Search().expression(f"({expression}) OR public_id=no/such/asset").max_results(500).execute()
    seen, cursor = [], None
    while True:
        search = Search().expression(expression).max_results(3)
        page = (search.next_cursor(cursor) if cursor else search).execute()
        assert page["total_count"] == whole["total_count"]
        seen += [item["public_id"] for item in page["resources"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [item["public_id"] for item in whole["resources"]] and len(seen) > 3


def test_aggregations(library):
    run, _ = library
    result = Search().expression(f"tags={run}").aggregate("format").aggregate("resource_type").max_results(1) \
        .execute()
    assert result["aggregations"]["format"] == {"png": 5, "jpg": 3, "txt": 2}
    assert result["aggregations"]["resource_type"] == {"image": 8, "raw": 2}
    ranges = {"type": "bytes", "ranges": [{"key": "tiny", "to": 1024}, {"key": "small", "from": 1024,
                                                                       "to": 200 * 1024},
                                          {"key": "big", "from": 200 * 1024}]}
    result = Search().expression(f"tags={run}").aggregate(ranges).execute()
    counts = {entry["key"]: entry["count"] for entry in result["aggregations"]["bytes"]["ranges"]}
    assert counts == {"tiny": 2, "small": 7, "big": 1}


def test_fields_and_with_field(library):
    run, prefix = library
    expression = f"public_id={prefix}/red_shoe"
    plain = Search().expression(expression).execute()["resources"][0]
    assert "tags" not in plain and "context" not in plain
    assert plain["filename"] == "red_shoe" and plain["status"] == "active" and plain["width"] == 241
    rich = Search().expression(expression).with_field("tags").with_field("context").execute()["resources"][0]
    assert rich["tags"] == sorted([run, "shoes", "red"])
    assert rich["context"] == {"custom": {"alt": "Red running shoe", "color": "red"}}
    narrow = Search().expression(expression).fields(["tags", "secure_url"]).execute()["resources"][0]
    assert set(narrow) == {"public_id", "asset_id", "asset_folder", "created_at", "status", "type",
                           "resource_type", "tags", "secure_url"}


def test_search_sees_a_write_at_once(library):
    run, prefix = library
    cloudinary.uploader.add_tag("fresh-tag-" + run, [f"{prefix}/blue_shoe"])
    result = Search().expression(f"tags=fresh-tag-{run}").execute()
    assert _names(prefix, result["resources"]) == {"blue_shoe"}


@pytest.mark.parametrize("expression", [
    "tags=(", "(tags=a", "tags=a)", "AND", "tags=a OR", 'tags="open', "bytes>lots", "width>wide",
    "created_at>yesterday", "aspect_ratio>4:0", "width:[1 TO", "width:[1 2]", "=x", "tags=a\\",
    "(" * 40 + "x" + ")" * 40,
])
def test_malformed_expressions_are_400s_that_say_where(library, expression):
    with pytest.raises(BadRequest, match="Invalid search expression"):
        Search().expression(expression).execute()


@pytest.mark.parametrize("body", [
    {"sort_by": [{"nonsense": "asc"}]},
    {"sort_by": [{"public_id": "sideways"}]},
    {"max_results": 501},
    {"max_results": "ten"},
    {"next_cursor": "garbage"},
    {"aggregate": ["colour"]},
    {"with_field": ["everything"]},
])
def test_bad_search_parameters_are_400s(server, library, body):
    response = httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/resources/search",
                          json={"expression": "tags=x", **body}, headers=basic_auth(server))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


def test_cursor_of_another_sort_is_refused(library):
    run, _ = library
    cursor = Search().expression(f"tags={run}").max_results(2).execute()["next_cursor"]
    with pytest.raises(BadRequest, match="next_cursor"):
        Search().expression(f"tags={run}").sort_by("public_id", "asc").next_cursor(cursor).execute()


_PIECES = st.sampled_from(["tags", "bytes", "width", "created_at", "folder", "context.k", "metadata.m", "public_id",
                           "aspect_ratio", ":", "=", ">", "<=", "(", ")", "[", "]", "{", "}", " TO ", " AND ",
                           " OR ", "NOT ", "-", '"', "\\", "*", "1d", "2mb", "4:3", "x", "2024-01-01", " ", "\u00e9"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_PIECES, max_size=14).map("".join))
def test_the_server_answers_any_expression_with_results_or_a_400(server, library, expression):
    response = httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/resources/search",
                          json={"expression": expression, "max_results": 5}, headers=basic_auth(server))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert "Invalid search expression" in response.json()["error"]["message"]
