"""Admin API over assets (first part of issue 3): listings with cursors, detail, update, tags."""

from __future__ import annotations

import os
import time

import cloudinary
import cloudinary.api
import cloudinary.uploader
import httpx
import pytest
from cloudinary.exceptions import BadRequest, NotFound

from tests.sdk.helpers import basic_auth


@pytest.fixture(scope="module")
def batch(server, files):
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    prefix = f"paged-{time.time_ns()}"
    ids = [cloudinary.uploader.upload(str(files["png"]), public_id=f"{prefix}/{n:02d}", tags=f"{prefix},n{n % 3}")
           ["public_id"] for n in range(25)]
    return prefix, ids


def test_paging_with_cursors(batch):
    prefix, ids = batch
    seen, cursor, pages = [], None, 0
    while True:
        page = cloudinary.api.resources(type="upload", prefix=prefix, max_results=10,
                                        **({"next_cursor": cursor} if cursor else {}))
        pages += 1
        seen += [item["public_id"] for item in page["resources"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == 3 and seen == list(reversed(ids))
    oldest_first = cloudinary.api.resources(type="upload", prefix=prefix, max_results=500, direction="asc")
    assert [item["public_id"] for item in oldest_first["resources"]] == ids
    first = oldest_first["resources"][0]
    assert "tags" not in first and first["width"] == 241 and first["status"] == "active"
    with_tags = cloudinary.api.resources(type="upload", prefix=prefix, max_results=1, tags=True)
    assert with_tags["resources"][0]["tags"] == sorted([prefix, "n0"])


def test_by_tag_and_by_ids_and_tag_listing(batch):
    prefix, ids = batch
    tagged = cloudinary.api.resources_by_tag("n1", max_results=500)
    assert {item["public_id"] for item in tagged["resources"]} >= {ids[1], ids[4]}
    chosen = cloudinary.api.resources_by_ids([ids[0], ids[7]])
    assert {item["public_id"] for item in chosen["resources"]} == {ids[0], ids[7]}
    assert prefix in cloudinary.api.tags(prefix=prefix[:6], max_results=500)["tags"]
    with pytest.raises(BadRequest):
        cloudinary.api.resources(type="upload", max_results=501)
    with pytest.raises(BadRequest):
        cloudinary.api.resources(type="upload", next_cursor="not-a-cursor!")


def test_resource_detail_and_versions(files):
    public_id = f"detail/{time.time_ns()}"
    cloudinary.uploader.upload(str(files["png"]), public_id=public_id, tags="b,a", context={"alt": "x"},
                               backup=True)
    # An overwrite is a new upload: its own tags and context replace the old ones.
    cloudinary.uploader.upload(str(files["jpg"]), public_id=public_id, tags="b,a", context={"alt": "x"})
    detail = cloudinary.api.resource(public_id, versions=True)
    assert detail["tags"] == ["a", "b"] and detail["context"] == {"custom": {"alt": "x"}}
    assert detail["format"] == "jpg" and detail["derived"] == [] and len(detail["versions"]) == 1
    assert detail.rate_limit_allowed > 0 and detail.rate_limit_remaining > 0 and detail.request_id
    with pytest.raises(NotFound):
        cloudinary.api.resource(f"{public_id}-missing")


def test_update_and_moderation(server, files):
    public_id = f"moderated/{time.time_ns()}"
    uploaded = cloudinary.uploader.upload(str(files["png"]), public_id=public_id, moderation="manual")
    listed = cloudinary.api.resources(type="upload", prefix=public_id, moderations=True)["resources"][0]
    assert listed["moderation_status"] == "pending"
    approved = cloudinary.api.update(public_id, moderation_status="approved", tags=["t1"], display_name="Nice")
    assert approved["moderation"][0]["status"] == "approved" and approved["tags"] == ["t1"]
    assert approved["display_name"] == "Nice"
    kinds = [row[0] for row in server.query(
        "select notification_type from outbox_events where asset_id = :a order by id", a=uploaded["asset_id"])]
    assert kinds == ["upload", "resource_tags_changed", "resource_display_name_changed", "moderation"]
    assert httpx.get(uploaded["url"]).status_code == 200
    cloudinary.api.update(public_id, moderation_status="rejected")
    assert httpx.get(uploaded["url"]).status_code == 404
    with pytest.raises(BadRequest):
        cloudinary.api.update(public_id, moderation_status="maybe")


def test_node_style_encoded_paths(server, files):
    public_id = f"enc/{time.time_ns()}"
    cloudinary.uploader.upload(str(files["png"]), public_id=public_id)
    encoded = public_id.replace("/", "%2F")
    response = httpx.get(f"{server.base_url}/v1_1/{server.cloud_name}/resources/image/upload/{encoded}",
                         headers=basic_auth(server))
    assert response.status_code == 200 and response.json()["public_id"] == public_id


def test_bulk_deletes_and_restore(server, files):
    prefix = f"bulk-{time.time_ns()}"
    ids = [cloudinary.uploader.upload(str(files["png"]), public_id=f"{prefix}/{n}", tags=f"{prefix}-t")["public_id"]
           for n in range(5)]
    by_ids = cloudinary.api.delete_resources([ids[0], f"{prefix}/missing"])
    assert by_ids["deleted"] == {ids[0]: "deleted", f"{prefix}/missing": "not_found"}
    assert by_ids["partial"] is False
    by_tag = cloudinary.api.delete_resources_by_tag(f"{prefix}-t")
    assert sorted(k for k, v in by_tag["deleted"].items() if v == "deleted") == sorted(ids[1:])
    assert cloudinary.api.resources(type="upload", prefix=prefix)["resources"] == []

    kept = f"{prefix}/kept"
    first = cloudinary.uploader.upload(str(files["png"]), public_id=kept, backup=True)
    assert cloudinary.api.delete_resources_by_prefix(f"{prefix}/k")["deleted"] == {kept: "deleted"}
    placeholder = cloudinary.api.resource(kept)
    assert placeholder["placeholder"] is True and placeholder["bytes"] == 0
    assert httpx.get(first["url"]).status_code == 404
    restored = cloudinary.api.restore([kept])
    assert restored[kept]["public_id"] == kept and restored[kept]["bytes"] == first["bytes"]
    assert restored[kept]["etag"] == first["etag"]
    assert httpx.get(restored[kept]["url"]).content == files["png"].read_bytes()
    assert cloudinary.api.restore([f"{prefix}/never"])[f"{prefix}/never"] == {"error": "no_backup"}


def test_usage_reports_objects_storage_and_limits(files):
    cloudinary.uploader.upload(str(files["png"]), public_id=f"usage/{time.time_ns()}")
    report = cloudinary.api.usage()
    assert report["objects"]["usage"] > 0 and report["storage"]["usage"] > 0
    assert report["media_limits"]["image_max_size_bytes"] == 10 * 1024 * 1024
    assert report.rate_limit_allowed > 0
    dated = cloudinary.api.usage(date="01-11-2026")
    assert dated["date_requested"] == "01-11-2026"
    with pytest.raises(BadRequest):
        cloudinary.api.usage(date="2026-11-01")


def test_listings_by_asset_ids_folder_context_and_moderation(files):
    run = f"lst{time.time_ns()}"
    first = cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/a", asset_folder=f"{run}/box",
                                       context={"shelf": "top"}, moderation="manual")
    second = cloudinary.uploader.upload(str(files["png"]), public_id=f"{run}/b", asset_folder=f"{run}/box",
                                        context={"shelf": "bottom"}, moderation="manual")
    cloudinary.api.update(second["public_id"], moderation_status="rejected")

    by_ids = cloudinary.api.resources_by_asset_ids([first["asset_id"], second["asset_id"]])
    assert {item["public_id"] for item in by_ids["resources"]} == {first["public_id"], second["public_id"]}
    one = cloudinary.api.resource_by_asset_id(first["asset_id"])
    assert one["public_id"] == first["public_id"] and one["context"] == {"custom": {"shelf": "top"}}
    with pytest.raises(NotFound):
        cloudinary.api.resource_by_asset_id("0" * 32)
    in_folder = cloudinary.api.resources_by_asset_folder(f"{run}/box", max_results=1)
    assert len(in_folder["resources"]) == 1 and in_folder["next_cursor"]
    top = cloudinary.api.resources_by_context("shelf", "top")
    assert [item["public_id"] for item in top["resources"]] == [first["public_id"]]
    shelved = {item["public_id"] for item in cloudinary.api.resources_by_context("shelf", max_results=500)["resources"]}
    assert {first["public_id"], second["public_id"]} <= shelved
    pending = cloudinary.api.resources_by_moderation("manual", "pending", max_results=500, moderations=True)
    mine = [item for item in pending["resources"] if item["public_id"].startswith(run)]
    assert [item["public_id"] for item in mine] == [first["public_id"]]
    assert mine[0]["moderation_status"] == "pending"
    rejected = cloudinary.api.resources_by_moderation("manual", "rejected", max_results=500)
    assert second["public_id"] in {item["public_id"] for item in rejected["resources"]}
    with pytest.raises(BadRequest):
        cloudinary.api.resources_by_moderation("manual", "maybe")
    with pytest.raises(BadRequest):
        cloudinary.api.resources_by_context("")
