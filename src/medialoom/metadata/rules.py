"""Conditional metadata rules, and the one function that validates an asset's metadata.

A field named by an active rule with ``enable`` is *conditional*: it is enabled only while one
of its rules' conditions holds on the asset's other values. A matching rule may narrow an
enum or set field to some of its values (``activate_values``) or give it a value when it has
none (``apply_value``). Rules may depend on fields that other rules enable, so evaluation
repeats until nothing changes, a bounded number of times. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from medialoom.metadata.fields import MetadataError, check_id, active_ids, coerce, is_empty


def _condition(condition: Any, fields: dict[str, dict[str, Any]], own: str) -> dict[str, Any]:
    if not isinstance(condition, dict):
        raise MetadataError("A rule condition is an object")
    for combinator in ("and", "or"):
        if combinator in condition:
            parts = condition[combinator]
            if not isinstance(parts, list) or not parts:
                raise MetadataError(f"'{combinator}' takes a list of conditions")
            return {combinator: [_condition(part, fields, own) for part in parts]}
    target = condition.get("metadata_field_id")
    if target not in fields:
        raise MetadataError(f"Rule condition names an unknown metadata field {target!r}")
    if target == own:
        raise MetadataError("A rule's condition cannot depend on the field it controls")
    tests = [key for key in ("equals", "includes", "populated") if key in condition]
    if len(tests) != 1:
        raise MetadataError("A rule condition takes exactly one of equals, includes, populated")
    if tests[0] == "includes" and not isinstance(condition["includes"], list):
        raise MetadataError("includes takes a list")
    return {"metadata_field_id": target, tests[0]: condition[tests[0]]}


def _result(result: Any, field: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(result, dict) or not result.get("enable", False) is True:
        raise MetadataError("A rule result must have enable: true")
    checked: dict[str, Any] = {"enable": True}
    if "activate_values" in result:
        values = result["activate_values"]
        if field["type"] not in ("enum", "set"):
            raise MetadataError("activate_values applies to enum and set fields")
        if values != "all":
            ids = values.get("external_ids") if isinstance(values, dict) else None
            if not isinstance(ids, list) or not ids or not set(ids) <= active_ids(field):
                raise MetadataError("activate_values takes 'all' or external_ids of the field's values")
        checked["activate_values"] = values
    if "apply_value" in result:
        applied = result["apply_value"]
        if not isinstance(applied, dict) or "value" not in applied:
            raise MetadataError("apply_value takes {value, mode}")
        checked["apply_value"] = {"value": coerce(field, applied["value"]), "mode": applied.get("mode", "default")}
    return checked


def new_rule(definition: dict[str, Any], fields: dict[str, dict[str, Any]], existing_ids: set[str],
             make_id: Callable[[], str]) -> dict[str, Any]:
    field_id = definition.get("metadata_field_id")
    if field_id not in fields:
        raise MetadataError(f"metadata_field_id {field_id!r} is not a metadata field")
    name = definition.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MetadataError("A rule needs a name")
    external_id = check_id(definition.get("external_id") or make_id(), "external_id")
    if external_id in existing_ids:
        raise MetadataError(f"external id {external_id} already exists")
    state = definition.get("state", "active")
    if state not in ("active", "inactive"):
        raise MetadataError("state is active or inactive")
    return {"external_id": external_id, "metadata_field_id": field_id, "name": name,
            "condition": _condition(definition.get("condition"), fields, field_id),
            "result": _result(definition.get("result"), fields[field_id]), "state": state}


def update_rule(current: dict[str, Any], changes: dict[str, Any], fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = {**json.loads(json.dumps(current)), **{k: v for k, v in changes.items() if k != "external_id"}}
    return new_rule(merged, fields, set(), lambda: current["external_id"]) | {"external_id": current["external_id"]}


def _holds(condition: dict[str, Any], values: dict[str, Any]) -> bool:
    if "and" in condition:
        return all(_holds(part, values) for part in condition["and"])
    if "or" in condition:
        return any(_holds(part, values) for part in condition["or"])
    value = values.get(condition["metadata_field_id"])
    if "populated" in condition:
        return (not is_empty(value)) == bool(condition["populated"])
    if "equals" in condition:
        return value == condition["equals"] or (isinstance(value, (int, float)) and str(value) == str(condition["equals"]))
    present = value if isinstance(value, list) else [value]
    return all(item in present for item in condition["includes"])


def validate_asset_metadata(fields: dict[str, dict[str, Any]], rules: list[dict[str, Any]], current: dict[str, Any],
                            given: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The asset's complete new metadata, or a MetadataError (and nothing changes)."""
    for name in given:
        if name not in fields:
            raise MetadataError(f"Metadata field {name} does not exist")
    values = {name: value for name, value in current.items() if name in fields}
    for name, value in given.items():
        if is_empty(value):
            values.pop(name, None)
        else:
            values[name] = coerce(fields[name], value)
    if creating:
        for name, field in fields.items():
            if name not in values and field.get("default_value") is not None and not field.get("default_disabled"):
                values[name] = field["default_value"]
    active = [rule for rule in rules if rule.get("state", "active") == "active" and rule["metadata_field_id"] in fields]
    conditional = {rule["metadata_field_id"] for rule in active}
    enabled: set[str] = set(fields) - conditional
    for _ in range(len(fields) + 1):
        visible = {name: value for name, value in values.items() if name in enabled}
        matching = [rule for rule in active if _holds(rule["condition"], visible)]
        now_enabled = (set(fields) - conditional) | {rule["metadata_field_id"] for rule in matching}
        for rule in matching:
            applied = rule["result"].get("apply_value")
            if applied and is_empty(values.get(rule["metadata_field_id"])):
                values[rule["metadata_field_id"]] = applied["value"]
        if now_enabled == enabled:
            break
        enabled = now_enabled
    for name in list(values):
        if name not in enabled:
            if name in given and not is_empty(given[name]):
                raise MetadataError(f"Metadata field {name} is not enabled for this asset by its rules")
            del values[name]
    for name in enabled:
        narrowed = [rule["result"]["activate_values"] for rule in matching
                    if rule["metadata_field_id"] == name and "activate_values" in rule["result"]]
        if narrowed and "all" not in narrowed and name in values:
            allowed = {item for entry in narrowed for item in entry["external_ids"]}
            coerce(fields[name], values[name], allowed_ids=allowed)
        if fields[name].get("mandatory") and is_empty(values.get(name)):
            raise MetadataError(f"Metadata field {name} is mandatory")
    return values
