"""Structured metadata through the Python SDK: fields, datasources, rules, and the validation
of values on upload, update and the metadata action (each error is a 400 that changes nothing)."""

from __future__ import annotations

import time

import cloudinary.api
import cloudinary.uploader
import pytest
from cloudinary.exceptions import BadRequest, NotFound
from cloudinary.search import Search


@pytest.fixture
def run():
    return f"m{time.time_ns() % 10**12}"


def test_field_lifecycle(run):
    field = cloudinary.api.add_metadata_field({
        "type": "enum", "external_id": f"{run}_size", "label": "Size", "default_value": "m",
        "datasource": {"values": [{"external_id": "s", "value": "Small"}, {"external_id": "m", "value": "Medium"},
                                  {"external_id": "l", "value": "Large"}]}})
    assert field["default_value"] == "m" and field["validation"] is None and field["mandatory"] is False
    assert [v["state"] for v in field["datasource"]["values"]] == ["active"] * 3
    with pytest.raises(BadRequest, match="already exists"):
        cloudinary.api.add_metadata_field({"type": "string", "external_id": f"{run}_size", "label": "Again"})
    assert cloudinary.api.metadata_field_by_field_id(f"{run}_size")["label"] == "Size"
    assert f"{run}_size" in [f["external_id"] for f in cloudinary.api.list_metadata_fields()["metadata_fields"]]

    updated = cloudinary.api.update_metadata_field(f"{run}_size", {"label": "T-shirt size"})
    assert updated["label"] == "T-shirt size" and updated["type"] == "enum"
    datasource = cloudinary.api.update_metadata_field_datasource(
        f"{run}_size", [{"external_id": "xl", "value": "Extra large"}, {"external_id": "s", "value": "Tiny"}])
    assert [(v["external_id"], v["value"]) for v in datasource["values"]] == \
        [("s", "Tiny"), ("m", "Medium"), ("l", "Large"), ("xl", "Extra large")]
    datasource = cloudinary.api.delete_datasource_entries(f"{run}_size", ["l"])
    assert {v["external_id"]: v["state"] for v in datasource["values"]}["l"] == "inactive"
    with pytest.raises(BadRequest, match="default"):
        cloudinary.api.delete_datasource_entries(f"{run}_size", ["m"])
    datasource = cloudinary.api.reorder_metadata_field_datasource(f"{run}_size", "value", "desc")
    assert [v["value"] for v in datasource["values"]] == ["Tiny", "Medium", "Large", "Extra large"]
    datasource = cloudinary.api.restore_metadata_field_datasource(f"{run}_size", ["l"])
    assert all(v["state"] == "active" for v in datasource["values"])

    ordered = cloudinary.api.reorder_metadata_fields("external_id", "desc")["metadata_fields"]
    ids = [f["external_id"] for f in ordered]
    assert ids == sorted(ids, key=str.lower, reverse=True)
    assert cloudinary.api.delete_metadata_field(f"{run}_size") == {"message": "ok"}
    with pytest.raises(NotFound):
        cloudinary.api.metadata_field_by_field_id(f"{run}_size")


@pytest.mark.parametrize(("definition", "message"), [
    ({"type": "colour", "label": "x"}, "type must be"),
    ({"type": "string"}, "label"),
    ({"type": "enum", "label": "x"}, "datasource"),
    ({"type": "integer", "label": "x", "validation": {"type": "strlen", "max": 3}}, "strlen applies"),
    ({"type": "integer", "label": "x", "default_value": 5,
      "validation": {"type": "greater_than", "value": 10}}, "greater than"),
    ({"type": "string", "label": "x", "default_value": "toolong",
      "validation": {"type": "strlen", "max": 3}}, "length"),
    ({"type": "date", "label": "x", "default_value": "2024-02-30"}, "calendar date"),
    ({"type": "string", "label": "x", "external_id": "../etc"}, "external_id"),
])
def test_invalid_field_definitions(definition, message):
    with pytest.raises(BadRequest, match=message):
        cloudinary.api.add_metadata_field(definition)


def test_values_are_validated_on_every_write(files, run):
    cloudinary.api.add_metadata_field({"type": "integer", "external_id": f"{run}_qty", "label": "Quantity",
                                       "validation": {"type": "and", "rules": [
                                           {"type": "greater_than", "value": 0, "equals": True},
                                           {"type": "less_than", "value": 1000}]}})
    cloudinary.api.add_metadata_field({"type": "date", "external_id": f"{run}_shot", "label": "Shot on"})
    cloudinary.api.add_metadata_field({"type": "set", "external_id": f"{run}_ch", "label": "Channels",
                                       "datasource": {"values": [{"external_id": "web", "value": "Web"},
                                                                 {"external_id": "print", "value": "Print"}]}})
    # Mandatory with a default: every new asset of the environment gets it, so it goes at the end.
    cloudinary.api.add_metadata_field({"type": "string", "external_id": f"{run}_owner", "label": "Owner",
                                       "mandatory": True, "default_value": "studio"})
    try:
        _check_values(files, run)
    finally:
        cloudinary.api.delete_metadata_field(f"{run}_owner")


def _check_values(files, run):
    public_id = f"{run}/meta"
    uploaded = cloudinary.uploader.upload(str(files["png"]), public_id=public_id,
                                          metadata={f"{run}_qty": "12", f"{run}_ch": ["web"]})
    assert uploaded["metadata"] == {f"{run}_qty": 12, f"{run}_ch": ["web"], f"{run}_owner": "studio"}

    for bad, message in [({f"{run}_qty": "many"}, "integer"), ({f"{run}_qty": "1000"}, "less than"),
                         ({f"{run}_shot": "yesterday"}, "date"), ({f"{run}_ch": ["radio"]}, "allowed values"),
                         ({f"{run}_nope": "x"}, "does not exist"), ({f"{run}_owner": ""}, "mandatory")]:
        with pytest.raises(BadRequest, match=message):
            cloudinary.api.update(public_id, metadata=bad)
        with pytest.raises(BadRequest, match=message):
            cloudinary.uploader.update_metadata(bad, [public_id])
    with pytest.raises(BadRequest, match="integer"):
        cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/bad", metadata={f"{run}_qty": "x"})
    with pytest.raises(NotFound):
        cloudinary.api.resource(f"{run}/bad")
    assert cloudinary.api.resource(public_id)["metadata"] == uploaded["metadata"]

    cloudinary.uploader.update_metadata({f"{run}_shot": "2024-06-01", f"{run}_ch": ""}, [public_id])
    assert cloudinary.api.resource(public_id)["metadata"] == {f"{run}_qty": 12, f"{run}_owner": "studio",
                                                              f"{run}_shot": "2024-06-01"}
    listed = cloudinary.api.resources(type="upload", prefix=f"{run}/", metadata=True)["resources"]
    assert listed[0]["metadata"][f"{run}_qty"] == 12
    found = Search().expression(f"metadata.{run}_qty>10 AND metadata.{run}_shot=2024-06-01").execute()
    assert [item["public_id"] for item in found["resources"]] == [public_id]


def test_rules_enable_narrow_and_default(files, run):
    cloudinary.api.add_metadata_field({"type": "enum", "external_id": f"{run}_kind", "label": "Kind",
                                       "datasource": {"values": [{"external_id": "shoe", "value": "Shoe"},
                                                                 {"external_id": "hat", "value": "Hat"}]}})
    cloudinary.api.add_metadata_field({"type": "enum", "external_id": f"{run}_fit", "label": "Fit",
                                       "datasource": {"values": [{"external_id": "wide", "value": "Wide"},
                                                                 {"external_id": "narrow", "value": "Narrow"},
                                                                 {"external_id": "one", "value": "One size"}]}})
    cloudinary.api.add_metadata_field({"type": "string", "external_id": f"{run}_note", "label": "Note"})
    shoe_rule = cloudinary.api.add_metadata_rule({
        "metadata_field_id": f"{run}_fit", "name": "shoes have widths",
        "condition": {"metadata_field_id": f"{run}_kind", "equals": "shoe"},
        "result": {"enable": True, "activate_values": {"external_ids": ["wide", "narrow"]}}})
    cloudinary.api.add_metadata_rule({
        "metadata_field_id": f"{run}_note", "name": "hats get a note",
        "condition": {"and": [{"metadata_field_id": f"{run}_kind", "equals": "hat"}]},
        "result": {"enable": True, "apply_value": {"value": "one size fits all", "mode": "default"}}})
    assert shoe_rule["state"] == "active" and shoe_rule["external_id"]
    assert shoe_rule["external_id"] in [r["external_id"] for r in cloudinary.api.list_metadata_rules()["metadata_rules"]]

    shoe = cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/shoe",
                                      metadata={f"{run}_kind": "shoe", f"{run}_fit": "wide"})
    assert shoe["metadata"] == {f"{run}_kind": "shoe", f"{run}_fit": "wide"}
    with pytest.raises(BadRequest, match="allowed values"):
        cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/shoe2",
                                   metadata={f"{run}_kind": "shoe", f"{run}_fit": "one"})
    with pytest.raises(BadRequest, match="not enabled"):
        cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/hat2",
                                   metadata={f"{run}_kind": "hat", f"{run}_fit": "wide"})
    hat = cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/hat", metadata={f"{run}_kind": "hat"})
    assert hat["metadata"] == {f"{run}_kind": "hat", f"{run}_note": "one size fits all"}
    # Switching the kind disables the fit, whose value goes.
    cloudinary.api.update(f"{run}/shoe", metadata={f"{run}_kind": "hat"})
    assert cloudinary.api.resource(f"{run}/shoe")["metadata"] == {f"{run}_kind": "hat",
                                                                  f"{run}_note": "one size fits all"}

    with pytest.raises(BadRequest, match="unknown metadata field"):
        cloudinary.api.add_metadata_rule({"metadata_field_id": f"{run}_note", "name": "x",
                                          "condition": {"metadata_field_id": "ghost", "populated": True},
                                          "result": {"enable": True}})
    with pytest.raises(BadRequest, match="used by rule"):
        cloudinary.api.delete_metadata_field(f"{run}_kind")
    updated = cloudinary.api.update_metadata_rule(shoe_rule["external_id"], {"state": "inactive"})
    assert updated["state"] == "inactive"
    assert cloudinary.api.delete_metadata_rule(shoe_rule["external_id"]) == {"success": True}
