"""Cloudinary's parameter encodings, decoded into plain Python values.

* tags: ``a,b`` (a comma list; the SDK pre-joins lists);
* context and metadata: ``k=v|k2=v2`` where ``\\=`` and ``\\|`` escape the separators inside
  values (the SDK JSON-encodes list values first, so metadata sets arrive as ``f=["a","b"]``);
* booleans: ``1``/``0`` from the Upload API, ``true``/``false`` from the Admin API.
"""

from __future__ import annotations

import json

from medialoom.errors import BadRequest

_TRUE = {"1", "true", "True", "TRUE", "yes", "on"}
_FALSE = {"0", "false", "False", "FALSE", "no", "off", ""}


def parse_bool(value: str | bool | None, name: str, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadRequest(f"Invalid boolean value for {name}: {value!r}")


def parse_max_results(values: dict, default: int, limit: int) -> int:
    """``max_results`` of a listing or search: a whole number from 1 to ``limit``."""
    raw = str(values.get("max_results") or default)
    if not raw.isdigit() or not 1 <= int(raw) <= limit:
        raise BadRequest(f"max_results must be a number from 1 to {limit}")
    return int(raw)


def parse_tags(value: str | list[str] | None) -> list[str]:
    """Tags in first-seen order without duplicates or blanks."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    tags: list[str] = []
    for item in items:
        for tag in item.split(","):
            tag = tag.strip()
            if not tag:
                continue
            if len(tag) > 255:
                raise BadRequest("Tag is too long (maximum is 255 characters)")
            if tag not in tags:
                tags.append(tag)
    return tags


def _split_unescaped(text: str, separator: str, limit: int = -1) -> list[str]:
    """Split on ``separator`` unless a backslash precedes it; escapes are kept for later."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator and (limit < 0 or len(parts) < limit):
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    return text.replace("\\=", "=").replace("\\|", "|")


def parse_key_values(value: str | dict | None, name: str = "context") -> dict[str, str]:
    """Decode ``k=v|k2=v2`` (or a JSON object, which the Admin API accepts too)."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    stripped = value.strip()
    if stripped.startswith("{"):
        try:
            decoded = json.loads(stripped)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict):
            return parse_key_values(decoded, name)
    result: dict[str, str] = {}
    for pair in _split_unescaped(value, "|"):
        if not pair:
            continue
        pieces = _split_unescaped(pair, "=", limit=1)
        key = _unescape(pieces[0]).strip()
        if not key:
            raise BadRequest(f"Invalid {name} format: {pair!r} has no key")
        if len(key) > 1024:
            raise BadRequest(f"Invalid {name} key: longer than 1024 characters")
        result[key] = _unescape(pieces[1]) if len(pieces) > 1 else ""
    return result


def parse_metadata(value: str | dict | None) -> dict[str, object]:
    """Structured metadata values: JSON arrays (sets) and numbers are decoded, strings kept."""
    decoded: dict[str, object] = {}
    for key, raw in parse_key_values(value, "metadata").items():
        text = raw.strip()
        if text.startswith("["):
            try:
                decoded[key] = json.loads(text)
                continue
            except ValueError:
                pass
        decoded[key] = raw
    return decoded


def encode_key_values(values: dict[str, object]) -> str:
    """The inverse of :func:`parse_key_values` (used for presets and notifications)."""
    pairs = []
    for key, value in values.items():
        text = value if isinstance(value, str) else json.dumps(value)
        pairs.append(f"{key}={text.replace('=', chr(92) + '=').replace('|', chr(92) + '|')}")
    return "|".join(pairs)
