"""The benchmark's search expressions never read a whole table on SQLite (the embedded default):
checked from EXPLAIN QUERY PLAN on a small synthetic library. PostgreSQL's planner rightly
prefers sequential scans on small tables, so its plans are shown by tests/bench/search.py at
100k and 1M assets instead."""

from __future__ import annotations

import pytest

from medialoom.auth.environments import Environments
from medialoom.search.service import Search, SearchRequest
from tests.db import migrated_sqlite
from tests.search_library import EXPRESSIONS, full_scans, populate


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    db = migrated_sqlite(tmp_path_factory.mktemp("plans") / "search.db")
    Environments(db).create("plans", "plans-key", "plans-secret")
    env = Environments(db).by_cloud_name("plans")
    populate(db, env.id, 5000, progress=lambda _line: None)
    yield db, env
    db.dispose()


@pytest.mark.parametrize(("name", "values"), EXPRESSIONS, ids=[name for name, _ in EXPRESSIONS])
def test_no_full_table_scan(library, name, values):
    db, env = library
    statements = Search(db).statements(env, SearchRequest.parse(values))
    assert full_scans(db, [(statements.page, statements.page_params), (statements.count, statements.params)]) == []
    assert Search(db).resources(env, values, "http://127.0.0.1")["total_count"] >= 0
