"""Search trees (``search.expression``) compiled to SQL for SQLite and PostgreSQL.

The SQL reads the ``assets`` table as ``a`` and ``asset_labels`` through ``IN`` subqueries, and
every user value travels as a bind parameter. What each field means:

* names (``public_id``, ``asset_id``, ``display_name``, ``filename``, ``etag``): ``:`` and ``=``
  both match the exact value; a trailing ``*`` matches a prefix.
* keywords (``resource_type``, ``type``, ``format``, ``access_mode``, ``moderation_status``,
  ``moderation_kind``): ``:`` ignores case, ``=`` does not.
* folders (``folder``, ``asset_folder``): ``folder:a/b`` is that folder, ``folder:a/b/*`` also
  every folder below it, ``folder:a*`` any folder whose path starts with ``a``.
* labels (``tags``, ``context.KEY``, ``metadata.ID``, and ``context``/``metadata`` for any key):
  ``=`` matches a whole value, ``:`` a word of it, ignoring case (see ``search.labels``).
* numbers (``bytes`` with kb/mb/gb units, ``width``, ``height``, ``pixels``, ``aspect_ratio``
  as ``4:3`` or a decimal, ``duration``, ``pages``, ``version``) and dates (``created_at``,
  ``uploaded_at``, ``updated_at``: ``YYYY-MM-DD``, ISO timestamps, or an age such as ``1w``
  meaning "one week ago") take ``< > <= >=`` and ranges as well.

An unknown field matches nothing, as on Cloudinary. A value a field cannot take (``bytes>big``)
is an :class:`ExpressionError`. Pure: no database or web imports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from medialoom.search import expression as ex
from medialoom.search.labels import TOKEN_PREFIX, clip

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3}
_AGE_UNITS = {"s": timedelta(seconds=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1),
              "m": timedelta(days=30), "y": timedelta(days=365)}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SIZE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)$", re.IGNORECASE)
_AGE = re.compile(r"^(\d+)([a-z])$", re.IGNORECASE)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPARISONS = {"<": "<", ">": ">", "<=": "<=", ">=": ">="}


@dataclass(frozen=True)
class Column:
    kind: str  # name | keyword | folder | number | size | ratio | date | bool | status
    sqlite: str
    postgresql: str = ""

    def sql(self, dialect: str) -> str:
        return self.postgresql if dialect == POSTGRESQL and self.postgresql else self.sqlite


_FILENAME = Column("name", "substr(a.public_id, length(rtrim(a.public_id, replace(a.public_id, '/', ''))) + 1)",
                   "regexp_replace(a.public_id, '^.*/', '')")
COLUMNS: dict[str, Column] = {
    "public_id": Column("name", "a.public_id"),
    "asset_id": Column("name", "a.asset_id"),
    "display_name": Column("name", "a.display_name"),
    "etag": Column("name", "a.etag"),
    "filename": _FILENAME,
    "resource_type": Column("keyword", "a.resource_type"),
    "type": Column("keyword", "a.type"),
    "format": Column("keyword", "a.format"),
    "access_mode": Column("keyword", "a.access_mode"),
    "moderation_status": Column("keyword", "a.moderation_status"),
    "moderation_kind": Column("keyword", "a.moderation_kind"),
    "folder": Column("folder", "a.asset_folder"),
    "asset_folder": Column("folder", "a.asset_folder"),
    "bytes": Column("size", "a.bytes"),
    "width": Column("number", "a.width"),
    "height": Column("number", "a.height"),
    "pixels": Column("number", "(a.width * a.height)"),
    "aspect_ratio": Column("ratio", "(CAST(a.width AS REAL) / NULLIF(a.height, 0))",
                           "(CAST(a.width AS double precision) / NULLIF(a.height, 0))"),
    "duration": Column("number", "a.duration"),
    "pages": Column("number", "a.pages"),
    "version": Column("number", "a.version"),
    "created_at": Column("date", "a.created_at"),
    "uploaded_at": Column("date", "a.uploaded_at"),
    "updated_at": Column("date", "a.updated_at"),
    "last_updated": Column("date", "a.updated_at"),
    "backup": Column("bool", "a.backup"),
    "status": Column("status", "TRUE"),
}
LABEL_FIELDS = {"tags": "tags", "tag": "tags"}
LABEL_NAMESPACES = ("context", "metadata")
SORT_FIELDS = ("created_at", "uploaded_at", "updated_at", "last_updated", "public_id", "display_name", "filename",
               "folder", "asset_folder", "format", "resource_type", "type", "bytes", "width", "height", "pixels",
               "aspect_ratio", "duration", "version")


@dataclass(frozen=True)
class Schema:
    """What a search reads: its fields, the columns free terms look into, whether label rows
    (tags, context, metadata) exist, and what it may sort by. The table is always ``a``."""

    columns: dict[str, Column]
    free_text: tuple[str, ...]
    labels: bool
    sort_fields: tuple[str, ...]


ASSETS = Schema(COLUMNS, ("a.public_id", "a.display_name"), True, SORT_FIELDS)
_FOLDER_NAME = Column("name", "substr(a.path, length(rtrim(a.path, replace(a.path, '/', ''))) + 1)",
                      "regexp_replace(a.path, '^.*/', '')")
FOLDERS = Schema({"name": _FOLDER_NAME, "path": Column("folder", "a.path"), "external_id": Column("name", "a.external_id"),
                  "created_at": Column("date", "a.created_at")},
                 ("a.path",), False, ("name", "path", "created_at", "external_id"))


@dataclass
class Compiled:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


class _Builder:
    def __init__(self, schema: Schema, dialect: str, now: datetime, environment_param: str) -> None:
        self.schema = schema
        self.dialect = dialect
        self.now = now
        self.env = environment_param
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def bind_time(self, moment: datetime) -> str:
        # SQLite keeps timestamps as UTC text in SQLAlchemy's layout; PostgreSQL as timestamptz.
        moment = moment.astimezone(UTC)
        return self.bind(moment.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == SQLITE else moment)

    # -- tree -------------------------------------------------------------------------------

    def node(self, node: ex.Node) -> str:
        if isinstance(node, ex.And):
            return "(" + " AND ".join(self.node(part) for part in node.parts) + ")"
        if isinstance(node, ex.Or):
            return "(" + " OR ".join(self.node(part) for part in node.parts) + ")"
        if isinstance(node, ex.Not):
            # IS TRUE: a NULL (no width, no moderation) must not make NOT drop the row.
            return f"(NOT (({self.node(node.part)}) IS TRUE))"
        if isinstance(node, ex.Term):
            return self.free_term(node.value)
        if isinstance(node, ex.Match):
            return self.match(node)
        return self.range(node)

    def free_term(self, value: ex.Value) -> str:
        if value.prefix and not value.text:
            return "TRUE"
        word = clip(value.text.lower())
        pattern = self.bind("%" + _like_escape(word) + "%")
        tests = [f"lower({sql}) LIKE {pattern} ESCAPE '\\'" for sql in self.schema.free_text]
        if self.schema.labels:
            tests.append(self.labels_in(self._prefix_test("l.field", TOKEN_PREFIX),
                                        self._text_test("l.value", word, value.prefix)))
        return "(" + " OR ".join(tests) + ")"

    # -- one field --------------------------------------------------------------------------

    def match(self, node: ex.Match) -> str:
        name = node.field
        if name in self.schema.columns:
            return self.column_match(self.schema.columns[name], node)
        label = self.label_field(name) if self.schema.labels else None
        if label is not None:
            return self.label_match(label, node)
        return "FALSE"

    def label_field(self, name: str) -> str | None:
        if name in LABEL_FIELDS:
            return LABEL_FIELDS[name]
        namespace, _, key = name.partition(".")
        if namespace in LABEL_NAMESPACES:
            return f"{namespace}.{key}" if key else f"{namespace}."
        return None

    def column_match(self, column: Column, node: ex.Match) -> str:
        sql, value, op = column.sql(self.dialect), node.value, node.op
        if column.kind == "status":
            return "TRUE" if value.text.lower() == "active" or (value.prefix and not value.text) else "FALSE"
        if value.prefix and not value.text:
            return f"({sql} IS NOT NULL)"
        if op in _COMPARISONS:
            return f"({sql} {_COMPARISONS[op]} {self.scalar(column, value, op)})"
        if column.kind in ("name", "keyword"):
            text = value.text.lower() if column.kind == "keyword" and op == ":" else value.text
            return self._text_test(sql, text, value.prefix)
        if column.kind == "folder":
            return self.folder_test(sql, value)
        if column.kind == "date":
            start, end = self.day_bounds(value)
            if end is not None:
                return f"({sql} >= {self.bind_time(start)} AND {sql} < {self.bind_time(end)})"
            return f"({sql} >= {self.bind_time(start)})"
        return f"({sql} = {self.scalar(column, value, op)})"

    def range(self, node: ex.Range) -> str:
        parts = []
        for bound, inclusive, low in ((node.low, node.low_inclusive, True), (node.high, node.high_inclusive, False)):
            if bound is None:
                continue
            op = (">=" if inclusive else ">") if low else ("<=" if inclusive else "<")
            parts.append(self.match(ex.Match(node.field, op, bound)))
        return "(" + " AND ".join(parts) + ")" if parts else self.match(ex.Match(node.field, ":", ex.Value("", True)))

    def scalar(self, column: Column, value: ex.Value, op: str) -> str:
        """A bound value for comparing ``column`` with ``op``."""
        text = value.text.strip()
        if column.kind == "date":
            start, end = self.day_bounds(value)
            # "before/after a day" means before its start / after its end.
            moment = end if end is not None and op in (">", "<=") else start
            return self.bind_time(moment)
        if column.kind == "size":
            found = _SIZE.match(text)
            if not found or found.group(2).lower() not in _SIZE_UNITS:
                raise ex.ExpressionError(f"{text!r} is not a size (such as 500, 10kb, 1.5mb)", 0)
            return self.bind(int(float(found.group(1)) * _SIZE_UNITS[found.group(2).lower()]))
        if column.kind == "ratio" and ":" in text:
            width, _, height = text.partition(":")
            if _NUMBER.match(width) and _NUMBER.match(height) and float(height) != 0:
                return self.bind(float(width) / float(height))
            raise ex.ExpressionError(f"{text!r} is not an aspect ratio (such as 4:3 or 1.33)", 0)
        if column.kind in ("number", "ratio"):
            if not _NUMBER.match(text):
                raise ex.ExpressionError(f"{text!r} is not a number", 0)
            return self.bind(float(text) if "." in text else int(text))
        if column.kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ex.ExpressionError(f"{text!r} is not true or false", 0)
            return "TRUE" if text.lower() in ("true", "1") else "FALSE"
        return self.bind(value.text)

    def day_bounds(self, value: ex.Value) -> tuple[datetime, datetime | None]:
        """A date value as a moment; a calendar day also gives its end (exclusive)."""
        text = value.text.strip()
        age = _AGE.match(text)
        if age and age.group(2).lower() in _AGE_UNITS:
            return self.now - int(age.group(1)) * _AGE_UNITS[age.group(2).lower()], None
        try:
            if _DAY.match(text):
                day = date.fromisoformat(text)
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                return start, start + timedelta(days=1)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ex.ExpressionError(f"{text!r} is not a date (YYYY-MM-DD, an ISO time or an age like 1d)", 0) from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), None

    def folder_test(self, sql: str, value: ex.Value) -> str:
        path = value.text.strip("/")
        if value.prefix and value.text.endswith("/"):
            # folder:a/b/* -- the folder itself and everything below it.
            return f"({sql} = {self.bind(path)} OR {self._prefix_test(sql, path + '/')})"
        if value.prefix:
            return self._prefix_test(sql, value.text.lstrip("/"))
        return f"({sql} = {self.bind(path)})"

    # -- labels -----------------------------------------------------------------------------

    def labels_in(self, field_test: str, value_test: str) -> str:
        return (f"a.id IN (SELECT l.asset_pk FROM asset_labels l WHERE l.environment_id = {self.env} "
                f"AND {field_test} AND {value_test})")

    def label_match(self, label: str, node: ex.Match) -> str:
        if node.op in _COMPARISONS and label.startswith("metadata.") and not label.endswith("."):
            numeric = self.metadata_number(label, node)
            if numeric is not None:
                return numeric
        words = node.op == ":"
        field_name = (TOKEN_PREFIX if words else "") + label
        if label.endswith("."):  # any key of context or metadata
            field_test = self._prefix_test("l.field", field_name)
        else:
            field_test = f"l.field = {self.bind(field_name)}"
        value = node.value
        if node.op in _COMPARISONS:
            return self.labels_in(field_test, f"l.value {_COMPARISONS[node.op]} {self.bind(clip(value.text))}")
        if value.prefix and not value.text:
            return self.labels_in(field_test, "TRUE")
        text = clip(value.text.lower() if words else value.text)
        return self.labels_in(field_test, self._text_test("l.value", text, value.prefix))

    def metadata_number(self, label: str, node: ex.Match) -> str | None:
        """``metadata.size>10`` compares numbers held in the asset's metadata document."""
        text = node.value.text.strip()
        if not _NUMBER.match(text):
            return None
        key = label.partition(".")[2]
        number = self.bind(float(text))
        op = _COMPARISONS[node.op]
        if self.dialect == POSTGRESQL:
            ref = self.bind(key)
            return (f"(CASE WHEN json_typeof(a.metadata -> {ref}) = 'number' "
                    f"THEN CAST(a.metadata ->> {ref} AS double precision) END {op} {number})")
        path = self.bind('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')
        return (f"(CASE WHEN json_type(a.metadata, {path}) IN ('integer', 'real') "
                f"THEN json_extract(a.metadata, {path}) END {op} {number})")

    # -- text -------------------------------------------------------------------------------

    def _text_test(self, sql: str, text: str, prefix: bool) -> str:
        return self._prefix_test(sql, text) if prefix else f"{sql} = {self.bind(text)}"

    def _prefix_test(self, sql: str, prefix: str) -> str:
        """A byte-wise range, which an index answers (the columns compare bytes; see models.py)."""
        if not prefix:
            return "TRUE"
        if self.dialect == POSTGRESQL:
            sql = f'{sql} COLLATE "C"'
        return f"({sql} >= {self.bind(prefix)} AND {sql} < {self.bind(_successor(prefix))})"


def _successor(prefix: str) -> str:
    """The smallest string greater than every string that starts with ``prefix``."""
    return prefix + "\U0010ffff"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def compile_expression(node: ex.Node | None, *, dialect: str, now: datetime, schema: Schema = ASSETS,
                       environment_param: str = ":env") -> Compiled:
    """The WHERE condition for ``node`` (TRUE for an empty expression)."""
    builder = _Builder(schema, dialect, now, environment_param)
    return Compiled("TRUE" if node is None else builder.node(node), builder.params)


@dataclass(frozen=True)
class LabelDriven:
    """``node`` split into one label equality that every match has (a test on ``asset_labels l``
    that at most one row per asset passes) and the rest of the condition (on ``a``).

    Walking ``l``'s index from that label in ``created_at`` order finds the newest matches
    without visiting every asset that has the label: "the newest 50 tagged X" reads about 50
    rows, where the plain condition reads all of them before sorting.
    """

    label_test: str
    rest: str
    params: dict[str, Any]


def label_driven(node: ex.Node | None, *, dialect: str, now: datetime,
                 environment_param: str = ":env") -> LabelDriven | None:
    parts = node.parts if isinstance(node, ex.And) else (node,) if node is not None else ()
    for index, part in enumerate(parts):
        if not (isinstance(part, ex.Match) and part.op in (":", "=") and not part.value.prefix
                and part.field not in ASSETS.columns):
            continue
        builder = _Builder(ASSETS, dialect, now, environment_param)
        label = builder.label_field(part.field)
        if label is None or label.endswith("."):  # "any context key" may match several rows
            continue
        words = part.op == ":"
        text = clip(part.value.text.lower() if words else part.value.text)
        label_test = (f"l.field = {builder.bind((TOKEN_PREFIX if words else '') + label)} "
                      f"AND l.value = {builder.bind(text)}")
        rest = [builder.node(other) for other in parts if other is not part]
        return LabelDriven(label_test, " AND ".join(rest) or "TRUE", builder.params)
    return None


# -- sorting and paging -----------------------------------------------------------------------

@dataclass(frozen=True)
class SortKey:
    name: str
    sql: str
    descending: bool


def compile_sort(sort_by: list[tuple[str, str]], *, dialect: str, schema: Schema = ASSETS) -> list[SortKey]:
    """ORDER BY keys for ``[(field, "asc"|"desc")]``, ending with the row id so that the
    order is total and a cursor can resume after any row. Empty means ``created_at desc``."""
    keys: list[SortKey] = []
    for name, direction in sort_by or [("created_at", "desc")]:
        if name in ("score", "relevance"):
            continue  # no relevance ranking here: results keep the remaining order
        if name not in schema.sort_fields:
            raise ValueError(f"Cannot sort by {name!r}: use one of {', '.join(schema.sort_fields)}")
        if direction not in ("asc", "desc"):
            raise ValueError(f"Sort direction for {name!r} must be asc or desc")
        column = schema.columns[name]
        sql = column.sql(dialect)
        if column.kind in ("number", "ratio"):
            sql = f"COALESCE({sql}, -1)"  # raw files have no width; keep the order total
        elif sql.startswith("a.moderation"):
            sql = f"COALESCE({sql}, '')"
        keys.append(SortKey(name, sql, direction == "desc"))
    if not keys:
        keys.append(SortKey("created_at", "a.created_at", True))
    keys.append(SortKey("id", "a.id", keys[-1].descending))
    return keys


def order_by(keys: list[SortKey]) -> str:
    return ", ".join(f"{key.sql} {'DESC' if key.descending else 'ASC'}" for key in keys)


def after(keys: list[SortKey], values: list[Any]) -> Compiled:
    """Rows strictly after the row whose sort values are ``values`` (keyset paging)."""
    params: dict[str, Any] = {}
    clauses = []
    for index, key in enumerate(keys):
        equal = [f"{keys[i].sql} = :c{i}" for i in range(index)]
        clauses.append("(" + " AND ".join([*equal, f"{key.sql} {'<' if key.descending else '>'} :c{index}"]) + ")")
        params[f"c{index}"] = values[index]
    return Compiled("(" + " OR ".join(clauses) + ")", params)


# -- aggregations ---------------------------------------------------------------------------

VALUE_AGGREGATIONS = {"format": "a.format", "resource_type": "a.resource_type", "type": "a.type"}
RANGE_AGGREGATIONS = {
    "bytes": "a.bytes",
    "image_pixels": "CASE WHEN a.resource_type = 'image' THEN a.width * a.height END",
    "video_pixels": "CASE WHEN a.resource_type = 'video' THEN a.width * a.height END",
    "duration": "a.duration",
    "pixels": "(a.width * a.height)",
}


@dataclass(frozen=True)
class Bucket:
    key: str | None
    low: float | None
    high: float | None


def range_counts_sql(column: str, buckets: list[Bucket]) -> Compiled:
    """One SELECT with a count per bucket: ``from`` inclusive, ``to`` exclusive."""
    params: dict[str, Any] = {}
    counts = []
    for index, bucket in enumerate(buckets):
        tests = [f"{column} IS NOT NULL"]
        if bucket.low is not None:
            params[f"lo{index}"] = bucket.low
            tests.append(f"{column} >= :lo{index}")
        if bucket.high is not None:
            params[f"hi{index}"] = bucket.high
            tests.append(f"{column} < :hi{index}")
        counts.append(f"SUM(CASE WHEN {' AND '.join(tests)} THEN 1 ELSE 0 END)")
    return Compiled(", ".join(counts), params)
