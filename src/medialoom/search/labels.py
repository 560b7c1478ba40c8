"""What search can match in an asset's tags, context and structured metadata.

Each value becomes rows of (field, value): the exact value under the field's name (``tags``,
``context.alt``, ``metadata.sku``) for ``=`` matches, and each lower-cased word of it under the
name prefixed with ``~`` for ``:`` matches, so that ``tags:cat`` finds an asset tagged
``Black Cat``. The whole lower-cased value is a "word" too, so ``tags:"black cat"`` works.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Rows are index keys; longer values are cut here and queries are cut the same way.
MAX_VALUE_LENGTH = 500
MAX_FIELD_LENGTH = 300
TOKEN_PREFIX = "~"
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def clip(value: str) -> str:
    return value[:MAX_VALUE_LENGTH]


def words(text: str) -> set[str]:
    """The lower-cased words of ``text``, plus the whole lower-cased text."""
    lowered = text.lower()
    found = set(_WORD.findall(lowered))
    if lowered:
        found.add(lowered)
    return {clip(word) for word in found}


def value_text(value: Any) -> str:
    """How a stored value is written in a label row (numbers as decimal text)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return format(value, "g") if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True)


def _field_rows(field: str, values: Iterable[Any]) -> set[tuple[str, str]]:
    if len(field) > MAX_FIELD_LENGTH:
        return set()
    rows: set[tuple[str, str]] = set()
    for value in values:
        text = value_text(value)
        if not text:
            continue
        rows.add((field, clip(text)))
        rows.update((TOKEN_PREFIX + field, word) for word in words(text))
    return rows


def label_rows(tags: Iterable[str], context: Mapping[str, Any], metadata: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = _field_rows("tags", tags)
    for key, value in context.items():
        rows |= _field_rows(f"context.{key}", [value])
    for key, value in metadata.items():
        rows |= _field_rows(f"metadata.{key}", value if isinstance(value, list) else [value])
    return sorted(rows)


def folder_ancestors(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b", "a/b/c"]``; the root (``""``) has none."""
    parts = [part for part in path.split("/") if part]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
