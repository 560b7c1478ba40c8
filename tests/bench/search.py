"""Search API latency benchmark (prints figures; not a test).

Writes a synthetic library (tests/search_library.py) of 100k and 1M assets into SQLite and
PostgreSQL, then times the five expressions of reference/performance.md §5d and an
aggregation: 100 warm runs each through the search service, including parsing the expression
and serializing the results to JSON, as the API does. Prints p50/p99 in ms, the PostgreSQL /
SQLite ratio, and every full table scan found in the query plans (there should be none).

    .venv/bin/python tests/bench/search.py [--sizes 100000,1000000] [--runs 100] [--plans]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from medialoom.db import migrate  # noqa: E402
from medialoom.db.session import Database  # noqa: E402
from medialoom.auth.environments import Environments  # noqa: E402
from medialoom.search.service import Search, SearchRequest  # noqa: E402
from tests.postgres import temporary_database  # noqa: E402
from tests.search_library import EXPRESSIONS, full_scans, plans, populate  # noqa: E402


def measure(db: Database, runs: int, show_plans: bool) -> dict[str, tuple[float, float, int]]:
    environments = Environments(db)
    env = environments.by_cloud_name("bench")
    search = Search(db)
    results = {}
    for name, values in EXPRESSIONS:
        for _ in range(5):
            body = search.resources(env, values, "http://127.0.0.1:8000")
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            body = search.resources(env, values, "http://127.0.0.1:8000")
            json.dumps(body)
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        results[name] = (statistics.median(timings), timings[int(len(timings) * 0.99) - 1], body["total_count"])
        sql = search.statements(env, SearchRequest.parse(values))
        scans = full_scans(db, [(sql.page, sql.page_params), (sql.count, sql.params)])
        if scans:
            print(f"    FULL SCAN in {name!r}: {scans}")
        if show_plans:
            print(f"    plan for {name!r}:")
            for line in plans(db, [(sql.page, sql.page_params), (sql.count, sql.params)]):
                print(f"      {line}")
    return results


def build(url: str, size: int) -> Database:
    migrate.upgrade(url)
    db = Database(url)
    Environments(db).create("bench", "bench-key", "bench-secret")
    started = time.perf_counter()
    populate(db, Environments(db).by_cloud_name("bench").id, size, progress=lambda line: None)
    print(f"  built {size:,} assets in {time.perf_counter() - started:.0f} s")
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--plans", action="store_true", help="print every query plan")
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        figures = {}
        with tempfile.TemporaryDirectory() as folder, temporary_database() as postgres_url:
            for backend, url in (("SQLite", f"sqlite:///{folder}/search.db"), ("PostgreSQL", postgres_url)):
                print(f"{backend}, {size:,} assets")
                db = build(url, size)
                figures[backend] = measure(db, args.runs, args.plans)
                db.dispose()
        print(f"\n{size:,} assets, {args.runs} warm runs, ms (parse + SQL + 50-result JSON)")
        print(f"  {'expression':<26} {'matches':>8} {'SQLite p50':>11} {'p99':>7} {'PG p50':>9} {'p99':>7} "
              f"{'PG/SQLite':>10}")
        for name, _ in EXPRESSIONS:
            lite, pg = figures["SQLite"][name], figures["PostgreSQL"][name]
            print(f"  {name:<26} {lite[2]:>8,} {lite[0]:>11.2f} {lite[1]:>7.2f} {pg[0]:>9.2f} {pg[1]:>7.2f} "
                  f"{pg[0] / lite[0]:>9.2f}x")
        print()


if __name__ == "__main__":
    main()
