"""The search expression parser and compiler on their own: shapes, error positions, and any
input whatsoever giving either SQL or an ExpressionError, quickly."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medialoom.search import expression as ex
from medialoom.search.compiler import POSTGRESQL, SQLITE, compile_expression
from medialoom.search.expression import ExpressionError, parse

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_juxtaposition_is_and_and_or_binds_loosest():
    tree = parse("a b OR c")
    assert tree == ex.Or((ex.And((ex.Term(ex.Value("a")), ex.Term(ex.Value("b")))), ex.Term(ex.Value("c"))))


def test_fields_operators_and_values():
    assert parse("bytes:>=10kb") == ex.Match("bytes", ">=", ex.Value("10kb"))
    assert parse("aspect_ratio=4:3") == ex.Match("aspect_ratio", "=", ex.Value("4:3"))
    assert parse('folder:"a b/*"') == ex.Match("folder", ":", ex.Value("a b/", prefix=True, quoted=True))
    assert parse(r"public_id=a\ b\*") == ex.Match("public_id", "=", ex.Value("a b*"))
    assert parse("width:{1 TO *]") == ex.Range("width", ex.Value("1"), None, False, True)
    assert parse("-tags=x") == ex.Not(ex.Match("tags", "=", ex.Value("x")))
    assert parse("status:(active OR pending)") == ex.Or((ex.Match("status", ":", ex.Value("active")),
                                                          ex.Match("status", ":", ex.Value("pending"))))
    assert parse("   ") is None


@pytest.mark.parametrize(("text", "position"), [
    ("(a", 2), ("a)", 1), ("tags=", 5), ('"open', 0), ("width:[1 TO 2", 13), ("a OR", 4), ("=x", 0),
])
def test_errors_say_where(text, position):
    with pytest.raises(ExpressionError) as caught:
        parse(text)
    assert caught.value.position == position
    assert f"at position {position}" in str(caught.value)


def test_limits_on_size_depth_and_terms():
    with pytest.raises(ExpressionError, match="longer"):
        parse("a" * 5000)
    with pytest.raises(ExpressionError, match="deeper"):
        parse("(" * 40 + "a" + ")" * 40)
    with pytest.raises(ExpressionError, match="terms"):
        parse(" ".join(["a"] * 201))


def test_values_travel_as_parameters_never_as_sql():
    compiled = compile_expression(parse("public_id=\"x'); DROP TABLE assets; --\""), dialect=SQLITE, now=NOW)
    assert "DROP" not in compiled.sql and "x'); DROP TABLE assets; --" in compiled.params.values()


def test_dates_and_sizes():
    compiled = compile_expression(parse("uploaded_at>1w AND bytes<1.5mb"), dialect=POSTGRESQL, now=NOW)
    values = list(compiled.params.values())
    assert datetime(2026, 11, 16, 12, 0, tzinfo=UTC) in values and int(1.5 * 1024 * 1024) in values
    day = compile_expression(parse("created_at:2024-02-29"), dialect=SQLITE, now=NOW)
    assert sorted(day.params.values()) == ["2024-02-29 00:00:00.000000", "2024-03-01 00:00:00.000000"]


_ALPHABET = st.sampled_from(list("abcXYZ019 _-.:=<>()[]{}\"\\*!^~?&|/+,'%") +
                            ["AND", "OR", "NOT", "TO", "tags", "bytes", "created_at", "context.k", "metadata.m",
                             "folder", "1d", "2mb", "4:3", "\u00e9", "\x00", "\u0301"])
_SCHEMA = """
CREATE TABLE assets (id INTEGER PRIMARY KEY, environment_id INT, public_id TEXT, asset_id TEXT, display_name TEXT,
  etag TEXT, resource_type TEXT, type TEXT, format TEXT, access_mode TEXT, moderation_status TEXT,
  moderation_kind TEXT, asset_folder TEXT, bytes INT, width INT, height INT, duration REAL, pages INT,
  version INT, created_at TEXT, uploaded_at TEXT, updated_at TEXT, backup BOOLEAN, placeholder BOOLEAN,
  metadata JSON);
CREATE TABLE asset_labels (asset_pk INT, field TEXT, value TEXT, environment_id INT, created_at TEXT);
"""


@pytest.fixture(scope="module")
def sqlite_db():
    connection = sqlite3.connect(":memory:")
    connection.executescript(_SCHEMA)
    yield connection
    connection.close()


@settings(max_examples=600, deadline=None)
@given(st.lists(_ALPHABET, max_size=30).map("".join) | st.text(max_size=60))
def test_any_input_compiles_or_is_a_clean_error(sqlite_db, text):
    try:
        tree = parse(text)
        for dialect in (SQLITE, POSTGRESQL):
            compiled = compile_expression(tree, dialect=dialect, now=NOW)
            assert compiled.sql
        # The SQLite SQL must also be valid SQL that runs.
        compiled = compile_expression(tree, dialect=SQLITE, now=NOW)
        assert all(f":{name}" in compiled.sql for name in compiled.params), "every parameter is used"
        sqlite_db.execute(f"SELECT a.id FROM assets a WHERE {compiled.sql}", {**compiled.params, "env": 1}).fetchall()
    except ExpressionError:
        pass
