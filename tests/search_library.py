"""A synthetic asset library written straight into the database, for the search benchmark and
the query-plan test: N assets, 3 tags each from 500, 200 folders, random sizes, dimensions and
dates over two years. Label rows and folders are built with the same code the server uses.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from medialoom.db.session import Database
from medialoom.search.labels import folder_ancestors, label_rows

TAGS = [f"tag-{n:03d}" for n in range(500)]
FOLDERS = [f"catalog/f{n:03d}" for n in range(200)]
FORMATS = [("jpg", "image", 50), ("png", "image", 25), ("webp", "image", 15), ("gif", "image", 5), ("txt", "raw", 5)]
_ASSET_COLUMNS = ("id", "environment_id", "asset_id", "public_id", "resource_type", "type", "format", "version",
                  "version_id", "bytes", "width", "height", "etag", "blob_key", "asset_folder", "display_name",
                  "tags", "context", "metadata", "moderation", "access_mode", "backup", "placeholder", "eager",
                  "media_info", "created_at", "uploaded_at", "updated_at")
BATCH = 20_000


def _formats(rng: random.Random) -> tuple[str, str]:
    roll = rng.randrange(100)
    for name, resource_type, weight in FORMATS:
        if roll < weight:
            return name, resource_type
        roll -= weight
    return FORMATS[0][0], FORMATS[0][1]


def _asset(rng: random.Random, pk: int, environment_id: int, now: datetime) -> dict:
    folder = rng.choice(FOLDERS)
    fmt, resource_type = _formats(rng)
    created = now - timedelta(seconds=rng.randrange(730 * 86400))
    # Sizes are log-normal around 300 KB, as photo libraries are: about 1% are over 4.5 MB.
    size = int(math.exp(rng.gauss(math.log(300 * 1024), 1.2)))
    is_image = resource_type == "image"
    return {
        "id": pk, "environment_id": environment_id, "asset_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "public_id": f"{folder}/asset-{pk}", "resource_type": resource_type, "type": "upload", "format": fmt,
        "version": 1_700_000_000 + pk, "version_id": uuid.UUID(int=rng.getrandbits(128)).hex, "bytes": size,
        "width": rng.randrange(200, 6000) if is_image else None,
        "height": rng.randrange(200, 6000) if is_image else None,
        "etag": "0" * 32, "blob_key": f"bench/{pk}", "asset_folder": folder, "display_name": f"asset-{pk}",
        "tags": rng.sample(TAGS, 3), "context": {}, "metadata": {}, "moderation": [], "access_mode": "public",
        "backup": False, "placeholder": False, "eager": [], "media_info": {},
        "created_at": created, "uploaded_at": created, "updated_at": created,
    }


def populate(db: Database, environment_id: int, count: int, *, seed: int = 7, progress=print) -> None:  # noqa: ANN001
    rng = random.Random(seed)
    now = datetime.now(UTC)
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as connection:
        start = (connection.execute(text("SELECT coalesce(max(id), 0) FROM assets")).scalar() or 0) + 1
    seen_folders: set[str] = set()
    for offset in range(0, count, BATCH):
        assets = [_asset(rng, start + offset + i, environment_id, now) for i in range(min(BATCH, count - offset))]
        labels = [(asset["id"], field, value, environment_id, asset["created_at"])
                  for asset in assets for field, value in label_rows(asset["tags"], {}, {})]
        folders = []
        for asset in assets:
            for path in folder_ancestors(asset["asset_folder"]):
                if path not in seen_folders:
                    seen_folders.add(path)
                    folders.append((environment_id, path, uuid.uuid4().hex, now))
        if postgres:
            _copy_postgres(db, assets, labels, folders)
        else:
            _insert_sqlite(db, assets, labels, folders)
        progress(f"  {offset + len(assets):>9,} assets written")
    db.refresh_statistics()  # what the server itself does on SQLite; a full ANALYZE on PostgreSQL


def _row(asset: dict, postgres: bool) -> tuple:
    values = []
    for column in _ASSET_COLUMNS:
        value = asset[column]
        if isinstance(value, (list, dict)):
            value = json.dumps(value)
        elif isinstance(value, datetime) and not postgres:
            value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        values.append(value)
    return tuple(values)


def _insert_sqlite(db: Database, assets: list[dict], labels: list[tuple], folders: list[tuple]) -> None:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")  # the server's connections run in autocommit mode
        marks = ", ".join("?" for _ in _ASSET_COLUMNS)
        cursor.executemany(f"INSERT INTO assets ({', '.join(_ASSET_COLUMNS)}) VALUES ({marks})",
                           [_row(asset, False) for asset in assets])
        cursor.executemany("INSERT INTO asset_labels (asset_pk, field, value, environment_id, created_at) "
                           "VALUES (?, ?, ?, ?, ?)",
                           [(*row[:4], row[4].strftime("%Y-%m-%d %H:%M:%S.%f")) for row in labels])
        cursor.executemany("INSERT INTO folders (environment_id, path, external_id, created_at) VALUES (?, ?, ?, ?)",
                           [(e, p, x, t.strftime("%Y-%m-%d %H:%M:%S.%f")) for e, p, x, t in folders])
        raw.commit()
    finally:
        raw.close()


def _copy_postgres(db: Database, assets: list[dict], labels: list[tuple], folders: list[tuple]) -> None:
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY assets ({', '.join(_ASSET_COLUMNS)}) FROM STDIN") as copy:
            for asset in assets:
                copy.write_row(_row(asset, True))
        with cursor.copy("COPY asset_labels (asset_pk, field, value, environment_id, created_at) FROM STDIN") as copy:
            for row in labels:
                copy.write_row(row)
        with cursor.copy("COPY folders (environment_id, path, external_id, created_at) FROM STDIN") as copy:
            for row in folders:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


# The five expressions of reference/performance.md §5d, plus an aggregation.
EXPRESSIONS = [
    ("tag + type, newest 50", {"expression": "tags=tag-042 AND resource_type:image", "max_results": 50}),
    ("folder + last week", {"expression": "folder=catalog/f017 AND created_at>1w", "max_results": 50}),
    ("bytes + format, by size", {"expression": "bytes>4.5mb AND format=png", "max_results": 50,
                                 "sort_by": [{"bytes": "desc"}]}),
    ("total_count of a tag", {"expression": "tags=tag-123", "max_results": 1}),
    ("public_id prefix", {"expression": "public_id:catalog/f017/asset-12*", "max_results": 50}),
    ("tag + format aggregation", {"expression": "tags:tag-321", "max_results": 10, "aggregate": ["format"]}),
]


def full_scans(db: Database, statements: list[tuple[str, dict]]) -> list[str]:
    """The lines of the query plans that read a whole table."""
    found = []
    with db.engine.connect() as connection:
        for sql, params in statements:
            if db.engine.dialect.name == "postgresql":
                plan = [row[0] for row in connection.execute(text(f"EXPLAIN {sql}"), params)]
                found += [line.strip() for line in plan if "Seq Scan" in line]
            else:
                plan = [row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)]
                found += [line for line in plan if line.startswith("SCAN") and "INDEX" not in line
                          # an index searched by environment alone reads every asset too
                          or line.endswith("(environment_id=?)")]
    return found


def plans(db: Database, statements: list[tuple[str, dict]]) -> list[str]:
    lines = []
    with db.engine.connect() as connection:
        for sql, params in statements:
            if db.engine.dialect.name == "postgresql":
                lines += [row[0] for row in connection.execute(text(f"EXPLAIN {sql}"), params)]
            else:
                lines += [row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}"), params)]
            lines.append("")
    return lines
