"""Structured metadata fields: their definitions and the validation of asset values.

Fields are kept in the Admin API's own shape (``type``, ``external_id``, ``label``,
``mandatory``, ``default_value``, ``validation``, ``datasource`` ...). Values reach us from the
Upload API's ``key=value|...`` encoding as text, so an integer may arrive as ``"42"`` and a set
as ``'["a","b"]'``; they are stored typed. Pure: no database or web imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

FIELD_TYPES = ("string", "integer", "date", "enum", "set")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_INTEGER = re.compile(r"^[+-]?\d{1,18}$")
MAX_DATASOURCE_VALUES = 3000


class MetadataError(ValueError):
    """Shown to the client in a 400: names the field and what is wrong."""


def check_id(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _EXTERNAL_ID.match(value):
        raise MetadataError(f"{what} must be 1-255 letters, digits, '_' or '-'")
    return value


# -- values -----------------------------------------------------------------------------------

def coerce(field: dict[str, Any], value: Any, *, allowed_ids: set[str] | None = None) -> Any:
    """``value`` as the field stores it, or a MetadataError naming the field."""
    name, kind = field["external_id"], field["type"]
    if kind == "string":
        if not isinstance(value, str):
            raise MetadataError(f"Metadata field {name} takes text")
        result: Any = value
    elif kind == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and
                                                                       _INTEGER.match(value.strip()))):
            raise MetadataError(f"Metadata field {name} takes an integer, not {value!r}")
        result = int(value)
    elif kind == "date":
        if isinstance(value, date):
            value = value.isoformat()
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise MetadataError(f"Metadata field {name} takes a date as YYYY-MM-DD, not {value!r}")
        try:
            result = date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise MetadataError(f"Metadata field {name}: {value!r} is not a calendar date") from None
    else:
        ids = _as_ids(name, value, single=kind == "enum")
        usable = active_ids(field) if allowed_ids is None else allowed_ids & active_ids(field)
        unknown = [item for item in ids if item not in usable]
        if unknown:
            raise MetadataError(f"Metadata field {name}: {unknown[0]!r} is not one of its allowed values")
        result = ids[0] if kind == "enum" else ids
    check_rule(field, field.get("validation"), result)
    return result


def _as_ids(name: str, value: Any, *, single: bool) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError:
            raise MetadataError(f"Metadata field {name}: malformed list {value!r}") from None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item for item in items):
        raise MetadataError(f"Metadata field {name} takes datasource value ids")
    if single and len(items) != 1:
        raise MetadataError(f"Metadata field {name} takes exactly one value")
    return list(dict.fromkeys(items))


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def active_ids(field: dict[str, Any]) -> set[str]:
    values = (field.get("datasource") or {}).get("values") or []
    return {entry["external_id"] for entry in values if entry.get("state", "active") == "active"}


def check_rule(field: dict[str, Any], rule: dict[str, Any] | None, value: Any) -> None:
    if not rule:
        return
    name, kind = field["external_id"], rule["type"]
    if kind == "and":
        for part in rule["rules"]:
            check_rule(field, part, value)
    elif kind == "strlen":
        low, high = rule.get("min"), rule.get("max")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            raise MetadataError(f"Metadata field {name}: length must be between {low or 0} and {high or 'any'}")
    elif kind in ("greater_than", "less_than"):
        bound, equals = rule["value"], rule.get("equals", False)
        ok = (value > bound or (equals and value == bound)) if kind == "greater_than" else \
            (value < bound or (equals and value == bound))
        if not ok:
            relation = kind.replace("_", " ") + (" or equal to" if equals else "")
            raise MetadataError(f"Metadata field {name}: {value!r} must be {relation} {bound!r}")


# -- definitions ------------------------------------------------------------------------------

def _validation(kind: str, rule: Any, name: str) -> dict[str, Any] | None:
    if rule is None:
        return None
    if not isinstance(rule, dict) or rule.get("type") not in ("greater_than", "less_than", "strlen", "and"):
        raise MetadataError(f"Metadata field {name}: validation must be greater_than, less_than, strlen or and")
    if rule["type"] == "and":
        parts = rule.get("rules")
        if not isinstance(parts, list) or not parts:
            raise MetadataError(f"Metadata field {name}: an 'and' validation needs rules")
        return {"type": "and", "rules": [_validation(kind, part, name) for part in parts]}
    if rule["type"] == "strlen":
        if kind != "string":
            raise MetadataError(f"Metadata field {name}: strlen applies to string fields")
        low, high = rule.get("min"), rule.get("max")
        for bound in (low, high):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
                raise MetadataError(f"Metadata field {name}: strlen bounds are whole numbers")
        if low is None and high is None:
            raise MetadataError(f"Metadata field {name}: strlen needs min or max")
        return {"type": "strlen", **({"min": low} if low is not None else {}), **({"max": high} if high is not None else {})}
    if kind not in ("integer", "date"):
        raise MetadataError(f"Metadata field {name}: {rule['type']} applies to integer and date fields")
    probe = {"external_id": name, "type": kind}
    bound = coerce(probe, rule.get("value"))
    return {"type": rule["type"], "value": bound, "equals": bool(rule.get("equals", False))}


def _datasource(values: Any, name: str, make_id: Callable[[], str]) -> dict[str, Any]:
    if not isinstance(values, dict) or not isinstance(values.get("values"), list) or not values["values"]:
        raise MetadataError(f"Metadata field {name}: enum and set fields need datasource values")
    return {"values": _datasource_entries(values["values"], name, make_id, [])}


def _datasource_entries(entries: list[Any], name: str, make_id: Callable[[], str],
                        existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = [dict(entry) for entry in existing]
    index = {entry["external_id"]: entry for entry in result}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str) or not entry["value"]:
            raise MetadataError(f"Metadata field {name}: each datasource value needs a non-empty value")
        external_id = check_id(entry.get("external_id") or make_id(), f"Datasource value id in {name}")
        if external_id in index:
            index[external_id].update(value=entry["value"], state="active")
            continue
        index[external_id] = {"external_id": external_id, "value": entry["value"], "state": "active"}
        result.append(index[external_id])
    if len(result) > MAX_DATASOURCE_VALUES:
        raise MetadataError(f"Metadata field {name}: at most {MAX_DATASOURCE_VALUES} datasource values")
    return result


def new_field(definition: dict[str, Any], existing_ids: set[str], make_id: Callable[[], str]) -> dict[str, Any]:
    kind = definition.get("type")
    if kind not in FIELD_TYPES:
        raise MetadataError(f"Metadata field type must be one of {', '.join(FIELD_TYPES)}")
    external_id = check_id(definition.get("external_id") or make_id(), "external_id")
    if external_id in existing_ids:
        raise MetadataError(f"external id {external_id} already exists")
    label = definition.get("label")
    if not isinstance(label, str) or not label.strip():
        raise MetadataError("Metadata field label is required")
    field: dict[str, Any] = {
        "type": kind, "external_id": external_id, "label": label, "mandatory": bool(definition.get("mandatory")),
        "default_value": None, "default_disabled": bool(definition.get("default_disabled")),
        "validation": _validation(kind, definition.get("validation"), external_id),
        "restrictions": definition.get("restrictions") or {},
        "allow_dynamic_list_values": bool(definition.get("allow_dynamic_list_values")),
    }
    if kind in ("enum", "set"):
        field["datasource"] = _datasource(definition.get("datasource"), external_id, make_id)
    elif definition.get("datasource"):
        raise MetadataError(f"Metadata field {external_id}: only enum and set fields take a datasource")
    return _with_default(field, definition.get("default_value"))


def _with_default(field: dict[str, Any], default: Any) -> dict[str, Any]:
    field["default_value"] = None if is_empty(default) else coerce(field, default)
    return field


def update_field(current: dict[str, Any], changes: dict[str, Any], make_id: Callable[[], str]) -> dict[str, Any]:
    for fixed in ("type", "external_id"):
        if fixed in changes and changes[fixed] != current[fixed]:
            raise MetadataError(f"Metadata field {current['external_id']}: {fixed} cannot change")
    field = json.loads(json.dumps(current))
    name, kind = field["external_id"], field["type"]
    if "label" in changes:
        if not isinstance(changes["label"], str) or not changes["label"].strip():
            raise MetadataError("Metadata field label is required")
        field["label"] = changes["label"]
    for flag in ("mandatory", "default_disabled", "allow_dynamic_list_values"):
        if flag in changes:
            field[flag] = bool(changes[flag])
    if "restrictions" in changes:
        field["restrictions"] = changes["restrictions"] or {}
    if "validation" in changes:
        field["validation"] = _validation(kind, changes["validation"], name)
    if "datasource" in changes and changes["datasource"]:
        if kind not in ("enum", "set"):
            raise MetadataError(f"Metadata field {name}: only enum and set fields take a datasource")
        field["datasource"] = {"values": _datasource_entries(changes["datasource"].get("values") or [], name,
                                                             make_id, field["datasource"]["values"])}
    return _with_default(field, changes.get("default_value", field["default_value"]))


def upsert_datasource(field: dict[str, Any], values: Any, make_id: Callable[[], str]) -> dict[str, Any]:
    if field["type"] not in ("enum", "set"):
        raise MetadataError(f"Metadata field {field['external_id']} has no datasource")
    if not isinstance(values, list) or not values:
        raise MetadataError("values must be a non-empty list of {external_id, value}")
    updated = json.loads(json.dumps(field))
    updated["datasource"]["values"] = _datasource_entries(values, field["external_id"], make_id,
                                                          field["datasource"]["values"])
    return updated


def set_datasource_state(field: dict[str, Any], external_ids: Any, state: str) -> dict[str, Any]:
    if field["type"] not in ("enum", "set"):
        raise MetadataError(f"Metadata field {field['external_id']} has no datasource")
    if not isinstance(external_ids, list) or not external_ids:
        raise MetadataError("external_ids must be a non-empty list")
    updated = json.loads(json.dumps(field))
    known = {entry["external_id"]: entry for entry in updated["datasource"]["values"]}
    for external_id in external_ids:
        if external_id not in known:
            raise MetadataError(f"Metadata field {field['external_id']} has no value {external_id!r}")
        known[external_id]["state"] = state
    if state == "inactive" and field["default_value"] is not None:
        defaults = field["default_value"] if isinstance(field["default_value"], list) else [field["default_value"]]
        if set(defaults) & set(external_ids):
            raise MetadataError(f"Metadata field {field['external_id']}: its default value cannot be deactivated")
    return updated


def order_datasource(field: dict[str, Any], order_by: str, direction: str) -> dict[str, Any]:
    if order_by != "value" or direction not in ("asc", "desc"):
        raise MetadataError("Datasource order is by value, asc or desc")
    updated = json.loads(json.dumps(field))
    updated["datasource"]["values"].sort(key=lambda entry: entry["value"].lower(), reverse=direction == "desc")
    return updated


def order_fields(fields: list[dict[str, Any]], order_by: str, direction: str) -> list[dict[str, Any]]:
    if order_by not in ("label", "external_id", "created_at") or direction not in ("asc", "desc"):
        raise MetadataError("Fields are ordered by label, external_id or created_at, asc or desc")
    return sorted(fields, key=lambda field: str(field.get(order_by, "")).lower(), reverse=direction == "desc")
