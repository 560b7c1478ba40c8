"""The Search API: ``POST resources/search`` runs a compiled expression against the database.

One page is three statements at most: the page of row ids in sort order (keyset paging, so a
deep page costs what the first does), ``total_count``, and one per aggregation. Reads go to
the database directly, so a search sees every write that committed before it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import load_only

from medialoom.assets.codecs import parse_max_results
from medialoom.assets.serialize import iso, resource_json
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset
from medialoom.db.session import Database
from medialoom.errors import BadRequest
from medialoom.search import compiler
from medialoom.search.expression import ExpressionError, parse

_RESULT_COLUMNS = (Asset.asset_id, Asset.public_id, Asset.format, Asset.version, Asset.resource_type, Asset.type,
                   Asset.created_at, Asset.uploaded_at, Asset.bytes, Asset.asset_folder, Asset.display_name,
                   Asset.access_mode, Asset.access_control, Asset.etag, Asset.width, Asset.height, Asset.placeholder,
                   Asset.moderation)
DEFAULT_MAX_RESULTS = 50
LIMIT_MAX_RESULTS = 500
ALWAYS_RETURNED = ("public_id", "asset_id", "asset_folder", "created_at", "status", "type", "resource_type")
WITH_FIELDS = ("tags", "context", "metadata", "image_metadata", "image_analysis", "quality_analysis",
               "accessibility_analysis")
DEFAULT_RANGES = {
    "bytes": [("tiny", None, 100 * 1024), ("small", 100 * 1024, 1024 ** 2), ("medium", 1024 ** 2, 10 * 1024 ** 2),
              ("large", 10 * 1024 ** 2, None)],
    "image_pixels": [("small", None, 1_000_000), ("medium", 1_000_000, 5_000_000),
                     ("large", 5_000_000, 20_000_000), ("huge", 20_000_000, None)],
    "video_pixels": [("sd", None, 921_600), ("hd", 921_600, 2_073_600), ("full_hd", 2_073_600, 8_294_400),
                     ("uhd", 8_294_400, None)],
    "pixels": [("small", None, 1_000_000), ("medium", 1_000_000, 5_000_000), ("large", 5_000_000, None)],
    "duration": [("short", None, 10), ("medium", 10, 60), ("long", 60, 600), ("very_long", 600, None)],
}


@dataclass(frozen=True)
class SearchRequest:
    expression: str
    sort: list[tuple[str, str]]
    max_results: int
    next_cursor: str | None
    with_fields: frozenset[str]
    fields: frozenset[str] | None
    aggregate: list[Any]

    @property
    def shown(self) -> frozenset[str]:
        """The optional parts results carry: ``fields`` wins over ``with_field``."""
        return self.with_fields if self.fields is None else self.fields

    @classmethod
    def parse(cls, values: dict[str, Any]) -> SearchRequest:
        expression = values.get("expression") or ""
        if not isinstance(expression, str):
            raise BadRequest("expression must be a string")
        max_results = parse_max_results(values, DEFAULT_MAX_RESULTS, LIMIT_MAX_RESULTS)
        with_fields = frozenset(_string_list(values.get("with_field"), "with_field"))
        unknown = with_fields - set(WITH_FIELDS)
        if unknown:
            raise BadRequest(f"Invalid with_field {sorted(unknown)[0]!r}: use one of {', '.join(WITH_FIELDS)}")
        fields = values.get("fields")
        aggregate = values.get("aggregate") or []
        return cls(
            expression=expression,
            sort=_sort_list(values.get("sort_by")),
            max_results=max_results,
            next_cursor=values.get("next_cursor") or None,
            with_fields=with_fields,
            fields=frozenset(_string_list(fields, "fields")) if fields else None,
            aggregate=aggregate if isinstance(aggregate, list) else [aggregate],
        )


def _string_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    if not all(isinstance(item, str) for item in items):
        raise BadRequest(f"{name} must be a list of names")
    return [item.strip() for item in items if item.strip()]


def _sort_list(value: Any) -> list[tuple[str, str]]:
    """``[{"public_id": "asc"}]`` as the SDKs send it; ``"public_id"`` and ``["x", "asc"]`` too."""
    if not value:
        return []
    entries = value if isinstance(value, list) else [value]
    if len(entries) == 2 and all(isinstance(e, str) for e in entries) and entries[1].lower() in ("asc", "desc"):
        entries = [{entries[0]: entries[1]}]
    sort: list[tuple[str, str]] = []
    for entry in entries:
        if isinstance(entry, str) and entry.startswith("{"):
            try:
                entry = json.loads(entry)  # a JSON body's objects reach us re-encoded
            except ValueError:
                raise BadRequest("sort_by must be a list of {field: direction} objects") from None
        if isinstance(entry, str):
            sort.append((entry, "desc"))
        elif isinstance(entry, dict) and len(entry) == 1:
            (name, direction), = entry.items()
            sort.append((str(name), str(direction).lower()))
        else:
            raise BadRequest("sort_by must be a list of {field: direction} objects")
    if len(sort) > 5:
        raise BadRequest("sort_by takes at most 5 fields")
    return sort


@dataclass(frozen=True)
class Statements:
    keys: list[compiler.SortKey]
    condition: str  # every matching asset (for total_count and aggregations)
    params: dict[str, Any]
    page: str  # one page of ids in sort order, plus one row to tell whether more follow
    page_params: dict[str, Any]
    count: str


class Search:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return compiler.POSTGRESQL if self.db.engine.dialect.name == "postgresql" else compiler.SQLITE

    def statements(self, env: EnvironmentInfo, request: SearchRequest, schema: compiler.Schema = compiler.ASSETS,
                   *, table: str = "assets", selected: str = "") -> Statements:
        """The SQL one search runs (also what the benchmark and the plan test EXPLAIN)."""
        now = datetime.now(UTC)
        try:
            tree = parse(request.expression)
            where = compiler.compile_expression(tree, dialect=self.dialect, now=now, schema=schema)
            keys = compiler.compile_sort(request.sort, dialect=self.dialect, schema=schema)
            driven = (compiler.label_driven(tree, dialect=self.dialect, now=now)
                      if table == "assets" and [key.name for key in keys] == ["created_at", "id"] else None)
        except ExpressionError as error:
            raise BadRequest(f"Invalid search expression: {error}") from None
        except ValueError as error:
            raise BadRequest(str(error)) from None
        live = " AND a.placeholder = FALSE" if table == "assets" else ""
        condition = f"a.environment_id = :env{live} AND {where.sql}"
        params = {**where.params, "env": env.id}
        source, page_keys, page_condition, page_params = f"{table} a", keys, condition, dict(params)
        if driven is not None:
            # The label row carries the asset's created_at: read the page in index order.
            source = "asset_labels l JOIN assets a ON a.id = l.asset_pk"
            page_keys = [replace(keys[0], sql="l.created_at"), replace(keys[1], sql="l.asset_pk")]
            page_condition = (f"l.environment_id = :env AND {driven.label_test} "
                              f"AND a.environment_id = :env{live} AND {driven.rest}")
            page_params = {**driven.params, "env": env.id}
        if request.next_cursor:
            resume = compiler.after(page_keys, _decode_cursor(request.next_cursor, keys))
            page_condition += f" AND {resume.sql}"
            page_params.update(resume.params)
        # The sort values come last; the row id, last of all, is what the caller loads.
        columns = ", ".join([*filter(None, [selected]), *(f"{key.sql} AS k{i}" for i, key in enumerate(page_keys))])
        page = (f"SELECT {columns} FROM {source} WHERE {page_condition} "
                f"ORDER BY {compiler.order_by(page_keys)} LIMIT {request.max_results + 1}")
        return Statements(keys, condition, params, page, page_params,
                          f"SELECT count(*) FROM {table} a WHERE {condition}")

    def folders(self, env: EnvironmentInfo, values: dict[str, Any]) -> dict[str, Any]:
        """``POST folders/search``: the same language over folder names, paths and dates."""
        started = time.perf_counter()
        request = SearchRequest.parse({**values, "with_field": None, "fields": None, "aggregate": None})
        if not request.sort:
            request = replace(request, sort=[("path", "asc")])
        sql = self.statements(env, request, compiler.FOLDERS, table="folders",
                              selected="a.path AS path, a.external_id AS external_id, a.created_at AS created")
        with self.db.read() as session:
            rows = session.execute(_typed(sql.page, sql.page_params)).all()
            total = session.execute(_typed(sql.count, sql.params)).scalar()
        more = len(rows) > request.max_results
        rows = rows[: request.max_results]
        body: dict[str, Any] = {
            "total_count": total, "time": round((time.perf_counter() - started) * 1000),
            "folders": [{"name": row.path.rsplit("/", 1)[-1], "path": row.path, "external_id": row.external_id,
                         "created_at": iso(_as_datetime(row.created))} for row in rows],
        }
        if more:
            body["next_cursor"] = _encode_cursor(list(rows[-1])[3:], sql.keys)
        return body

    def resources(self, env: EnvironmentInfo, values: dict[str, Any], base_url: str) -> dict[str, Any]:
        started = time.perf_counter()
        request = SearchRequest.parse(values)
        sql = self.statements(env, request)
        try:
            with self.db.read() as session:
                rows = session.execute(_typed(sql.page, sql.page_params)).all()
                aggregations = self._aggregations(session, request.aggregate, sql.condition, sql.params)
                total = _total_from(aggregations)
                if total is None:
                    total = session.execute(_typed(sql.count, sql.params)).scalar()
                more = len(rows) > request.max_results
                rows = rows[: request.max_results]
                ids = [row[-1] for row in rows]
                by_id = {asset.id: asset for asset in session.scalars(
                    select(Asset).options(load_only(*self._columns(request), raiseload=True)).where(Asset.id.in_(ids)))}
                resources = [self._resource(by_id[i], env, base_url, request) for i in ids if i in by_id]
        except DBAPIError:
            if request.next_cursor:
                raise BadRequest("Invalid next_cursor") from None
            raise
        body: dict[str, Any] = {"total_count": total, "time": round((time.perf_counter() - started) * 1000),
                                "resources": resources}
        if aggregations is not None:
            body["aggregations"] = aggregations
        if more:
            body["next_cursor"] = _encode_cursor(list(rows[-1]), sql.keys)
        return body

    @staticmethod
    def _columns(request: SearchRequest) -> list[Any]:
        """What a result needs, so that fifty results do not decode fifty unused JSON documents.
        (A column a result reads but this list lacks costs one query per result: raiseload
        below turns that mistake into an error.)"""
        wanted = request.shown
        optional = {"tags": Asset.tags, "context": Asset.context, "metadata": Asset.metadata_}
        return [*_RESULT_COLUMNS, *(column for name, column in optional.items() if name in wanted)]

    @staticmethod
    def _resource(asset: Asset, env: EnvironmentInfo, base_url: str, request: SearchRequest) -> dict[str, Any]:
        wanted = request.shown
        body = resource_json(asset, env, base_url, tags="tags" in wanted, context="context" in wanted,
                             metadata="metadata" in wanted, moderation=True)
        body["filename"] = asset.public_id.rsplit("/", 1)[-1]
        body["uploaded_by"] = body["created_by"] = {"access_key": env.api_key}
        if "tags" in wanted and "tags" not in body:
            body["tags"] = []
        if request.fields is not None:
            keep = request.fields | set(ALWAYS_RETURNED)
            body = {key: value for key, value in body.items() if key in keep}
        return body

    def _aggregations(self, session: Any, aggregate: list[Any], condition: str,
                      params: dict[str, Any]) -> dict[str, Any] | None:
        if not aggregate:
            return None
        result: dict[str, Any] = {}
        for item in aggregate:
            name, buckets = _aggregation(item)
            if name in compiler.VALUE_AGGREGATIONS:
                column = compiler.VALUE_AGGREGATIONS[name]
                rows = session.execute(_typed(
                    f"SELECT {column}, count(*) FROM assets a WHERE {condition} GROUP BY {column}", params)).all()
                result[name] = {value: count for value, count in sorted(rows, key=lambda r: (-r[1], str(r[0])))}
                continue
            counts = compiler.range_counts_sql(compiler.RANGE_AGGREGATIONS[name], buckets)
            row = session.execute(_typed(f"SELECT {counts.sql} FROM assets a WHERE {condition}",
                                         {**params, **counts.params})).one()
            ranges = []
            for bucket, count in zip(buckets, row, strict=True):
                entry: dict[str, Any] = {"key": bucket.key} if bucket.key else {}
                if bucket.low is not None:
                    entry["from"] = bucket.low
                if bucket.high is not None:
                    entry["to"] = bucket.high
                entry["count"] = int(count or 0)
                ranges.append(entry)
            result[name] = {"ranges": ranges}
        return result


def _total_from(aggregations: dict[str, Any] | None) -> int | None:
    """A value aggregation counts every match once (assets without a value under ``None``),
    so its counts add up to ``total_count`` and the count query can be skipped."""
    for name, counts in (aggregations or {}).items():
        if name in compiler.VALUE_AGGREGATIONS:
            return sum(counts.values())
    return None


def _aggregation(item: Any) -> tuple[str, list[compiler.Bucket]]:
    if isinstance(item, str):
        try:
            item = json.loads(item) if item.strip().startswith("{") else item
        except ValueError:
            raise BadRequest(f"Invalid aggregate {item!r}") from None
    if isinstance(item, str):
        if item in compiler.VALUE_AGGREGATIONS:
            return item, []
        if item in DEFAULT_RANGES:
            return item, [compiler.Bucket(k, lo, hi) for k, lo, hi in DEFAULT_RANGES[item]]
        raise BadRequest(f"Invalid aggregate {item!r}: use one of "
                         f"{', '.join([*compiler.VALUE_AGGREGATIONS, *compiler.RANGE_AGGREGATIONS])}")
    if not isinstance(item, dict) or item.get("type") not in compiler.RANGE_AGGREGATIONS:
        raise BadRequest("An aggregate object needs a type: bytes, image_pixels, video_pixels or duration")
    ranges = item.get("ranges")
    if not isinstance(ranges, list) or not 1 <= len(ranges) <= 20:
        raise BadRequest("An aggregate object needs 1 to 20 ranges")
    buckets = []
    for entry in ranges:
        if not isinstance(entry, dict):
            raise BadRequest("Each aggregate range is an object with from and/or to")
        low, high = entry.get("from"), entry.get("to")
        for bound in (low, high):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float))):
                raise BadRequest("Aggregate range bounds must be numbers")
        key = entry.get("key")
        buckets.append(compiler.Bucket(str(key) if key is not None else None, low, high))
    return item["type"], buckets


def _as_datetime(value: Any) -> datetime:
    """A timestamp read through plain SQL: SQLite hands back its stored text."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _typed(sql: str, params: dict[str, Any]) -> Any:
    statement = text(sql)
    binds = [bindparam(name, value) for name, value in params.items()]
    return statement.bindparams(*binds)


# -- cursors ----------------------------------------------------------------------------------

def _sort_signature(keys: list[compiler.SortKey]) -> str:
    return ",".join(f"{key.name}:{'d' if key.descending else 'a'}" for key in keys)


def _encode_cursor(values: list[Any], keys: list[compiler.SortKey]) -> str:
    encoded = [{"$t": value.isoformat()} if isinstance(value, datetime) else value for value in values]
    raw = json.dumps({"s": _sort_signature(keys), "v": encoded}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, keys: list[compiler.SortKey]) -> list[Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if data["s"] != _sort_signature(keys) or len(data["v"]) != len(keys):
            raise ValueError
        values = []
        for value in data["v"]:
            if isinstance(value, dict):
                value = datetime.fromisoformat(value["$t"])
            elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            values.append(value)
        if not isinstance(values[-1], int):
            raise ValueError
        return values
    except (ValueError, KeyError, TypeError):
        raise BadRequest("Invalid next_cursor: it belongs to another search or was altered") from None
