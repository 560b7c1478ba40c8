"""Trigger filters and payload splitting, as a flow author relies on them."""

from __future__ import annotations

import pytest

from medialoom.flows.triggers import TRIGGERS, ParameterSpec, check_inputs, partition_key, per_asset


def matches(trigger: str, params: dict, payload: dict) -> bool:
    kind = TRIGGERS[trigger]
    return kind.matches(kind.Params.model_validate(params), payload)


ASSET = {"asset_id": "a1", "public_id": "shoes/red", "resource_type": "image", "asset_folder": "shop/shoes",
         "tags": ["sale", "red"], "metadata": {"sku": "X1", "colours": ["red", "blue"]}, "upload_preset": "shop"}


@pytest.mark.parametrize(("params", "expected"), [
    ({}, True),
    ({"resource_types": ["video"]}, False),
    ({"folder": "shop"}, True), ({"folder": "/shop/"}, True), ({"folder": "sho"}, False),
    ({"tags_any": ["sale", "new"]}, True), ({"tags_any": ["new"]}, False),
    ({"tags_all": ["sale", "red"]}, True), ({"tags_all": ["sale", "new"]}, False),
    ({"tags_none": ["red"]}, False), ({"tags_none": ["blue"]}, True),
    ({"metadata": {"sku": "X1"}}, True), ({"metadata": {"sku": "X2"}}, False),
    ({"metadata": {"colours": "blue"}}, True), ({"metadata": {"colours": "green"}}, False),
    ({"upload_preset": "shop"}, True), ({"upload_preset": "other"}, False),
])
def test_upload_filters(params, expected):
    assert matches("asset_uploaded", params, ASSET) is expected


def test_moderation_filters_by_status_too():
    approved = {**ASSET, "moderation_status": "approved"}
    assert matches("moderation_changed", {"statuses": ["approved"], "folder": "shop"}, approved)
    assert not matches("moderation_changed", {"statuses": ["rejected"]}, approved)


def test_events_about_several_assets_start_a_run_per_asset_keyed_by_asset():
    envelope = {"notification_type": "resource_tags_changed", "timestamp": "t", "request_id": "r"}
    listed = per_asset({**envelope, "resources": [{"asset_id": "a1", "public_id": "p1", "added": ["x"]},
                                                  {"asset_id": "a2", "public_id": "p2", "added": ["x"]}]})
    assert [(part["public_id"], part["notification_type"], partition_key(part)) for part in listed] == [
        ("p1", "resource_tags_changed", "a1"), ("p2", "resource_tags_changed", "a2")]
    keyed = per_asset({**envelope, "resources": {"p3": {"asset_id": "a3", "to_asset_folder": "f"}}})
    assert keyed == [{**envelope, "public_id": "p3", "asset_id": "a3", "to_asset_folder": "f"}]
    assert per_asset({"public_id": "one"}) == [{"public_id": "one"}]


def test_inputs_are_typed_and_defaulted():
    specs = [ParameterSpec(name="n", type="number", required=True), ParameterSpec(name="flag", type="boolean",
                                                                                  default=False)]
    assert check_inputs(specs, {"n": 2}) == {"n": 2, "flag": False}
    for values, problem in (({}, "'n' is required"), ({"n": True}, "must be a number"),
                            ({"n": 1, "flag": "yes"}, "must be a boolean"), ({"n": 1, "x": 1}, "unknown input 'x'")):
        with pytest.raises(ValueError, match=problem):
            check_inputs(specs, values)
