"""Every notification type, driven through the official Python SDK: the outbox row holds the
payload a receiver written against Cloudinary reads for that type, inside the common envelope,
and the URL that the call, or else its upload preset, named."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import cloudinary.api
import cloudinary.uploader

from tests.sdk.helpers import SKU_FIELD, ensure_metadata_fields
from tests.sdk.test_chunked_and_events import events, last_event_id
from tests.server import RunningServer

HOOK = "https://hooks.example/"
STAMP = "%Y-%m-%dT%H:%M:%SZ"
# How delete and rename notifications describe an asset, as the upload response names it.
RESOURCE_KEYS = ("asset_id", "public_id", "resource_type", "type", "version", "asset_folder", "display_name")


def written(server: RunningServer, since: int, *kinds: str) -> list[dict]:
    """The events written after ``since``, which must be exactly ``kinds`` in order, each in the
    envelope every notification carries."""
    found = events(server, since)
    assert [event["type"] for event in found] == list(kinds)
    for event in found:
        body = event["payload"]
        assert body["notification_type"] == event["type"]
        datetime.strptime(body["timestamp"], STAMP)
        assert isinstance(body["request_id"], str) and body["request_id"]
        assert body["notification_context"] == {
            "triggered_at": body["timestamp"], "triggered_by": {"source": "api", "id": server.api_key}}
        assert body["source"] == "api" and body["signature_key"] == server.api_key
    return found


def wait_for(server: RunningServer, since: int, kind: str, timeout: float = 15.0) -> None:
    """Until an event of ``kind`` (written by a background thread) is in the outbox."""
    deadline = time.monotonic() + timeout
    while not any(event["type"] == kind for event in events(server, since)):
        assert time.monotonic() < deadline, f"no {kind} event after {timeout}s"
        time.sleep(0.05)


def upload(files, public_id: str, **options) -> dict:
    return cloudinary.uploader.upload(str(files["png"]), public_id=public_id, **options)


def identity(uploaded: dict) -> dict:
    return {"asset_id": uploaded["asset_id"], "resource_type": uploaded["resource_type"], "type": uploaded["type"]}


def test_upload_sends_the_response_to_the_call_url(server, files):
    start = last_event_id(server)
    result = upload(files, "payloads/upload", tags=["a", "b"], context={"alt": "x"}, return_delete_token=True,
                    notification_url=HOOK + "upload")
    [event] = written(server, start, "upload")
    assert event["notification_url"] == HOOK + "upload"
    body = event["payload"]
    shape = {"asset_id": str, "public_id": str, "version": int, "version_id": str, "width": int, "height": int,
             "format": str, "resource_type": str, "created_at": str, "tags": list, "bytes": int, "type": str,
             "etag": str, "placeholder": bool, "url": str, "secure_url": str, "asset_folder": str,
             "display_name": str, "original_filename": str, "api_key": str, "context": dict}
    assert {key: type(body.get(key)) for key in shape} == shape
    assert {key: body[key] for key in shape} == {key: result[key] for key in shape}
    assert body["api_key"] == server.api_key and body["context"] == {"custom": {"alt": "x"}}
    # Whoever holds the delete token may delete the asset: it stays with the caller.
    assert "delete_token" in result and "delete_token" not in body


def test_a_preset_supplies_the_url_and_the_call_overrides_it(server, files):
    name = f"hooked-{uuid.uuid4().hex[:8]}"
    cloudinary.api.create_upload_preset(name=name, unsigned=True, notification_url=HOOK + "preset")
    try:
        start = last_event_id(server)
        cloudinary.uploader.unsigned_upload(str(files["png"]), name)
        cloudinary.uploader.upload(str(files["png"]), upload_preset=name)
        cloudinary.uploader.upload(str(files["png"]), upload_preset=name, notification_url=HOOK + "call")
        found = written(server, start, "upload", "upload", "upload")
        assert [event["notification_url"] for event in found] == [HOOK + "preset", HOOK + "preset", HOOK + "call"]
    finally:
        cloudinary.api.delete_upload_preset(name)


def test_async_eager_goes_to_the_eager_url_else_the_call_url(server, files):
    start = last_event_id(server)
    uploaded = upload(files, "payloads/eager", eager=[{"width": 31, "crop": "scale"}], eager_async=True,
                      notification_url=HOOK + "upload", eager_notification_url=HOOK + "eager")
    wait_for(server, start, "eager")
    upload_event, eager_event = written(server, start, "upload", "eager")
    assert (upload_event["notification_url"], eager_event["notification_url"]) == (HOOK + "upload", HOOK + "eager")
    body = eager_event["payload"]
    assert body["request_id"] == upload_event["payload"]["request_id"]  # one call, one request id
    assert body["batch_id"] == uploaded["eager"][0]["batch_id"]
    assert (body["asset_id"], body["public_id"]) == (uploaded["asset_id"], "payloads/eager")
    [entry] = body["eager"]
    assert entry["transformation"] == "c_scale,w_31" and entry["width"] == 31 and entry["format"] == "png"
    assert isinstance(entry["height"], int) and isinstance(entry["bytes"], int) and entry["bytes"] > 0
    assert entry["url"].endswith("/c_scale,w_31/v%d/payloads/eager.png" % uploaded["version"])
    assert isinstance(entry["secure_url"], str)

    # explicit: its label changes and its eager batch both go to the call's one URL.
    start = last_event_id(server)
    cloudinary.uploader.explicit("payloads/eager", type="upload", tags=["explicit"],
                                 eager=[{"width": 21, "crop": "scale"}], eager_async=True,
                                 notification_url=HOOK + "explicit")
    wait_for(server, start, "eager")
    tags, eager = written(server, start, "resource_tags_changed", "eager")
    assert tags["notification_url"] == eager["notification_url"] == HOOK + "explicit"
    assert tags["payload"]["resources"][0]["added"] == ["explicit"]
    assert [entry["transformation"] for entry in eager["payload"]["eager"]] == ["c_scale,w_21"]


def test_a_moderation_decision_goes_to_the_upload_url_unless_the_update_names_one(server, files):
    uploaded = upload(files, "payloads/moderated", moderation="manual", notification_url=HOOK + "queued")
    start = last_event_id(server)
    cloudinary.api.update("payloads/moderated", moderation_status="approved")
    cloudinary.api.update("payloads/moderated", moderation_status="rejected", notification_url=HOOK + "decided")
    approved, rejected = written(server, start, "moderation", "moderation")
    assert (approved["notification_url"], rejected["notification_url"]) == (HOOK + "queued", HOOK + "decided")
    body = approved["payload"]
    assert (body["moderation_status"], body["moderation_kind"]) == ("approved", "manual")
    assert body["moderation"][0]["status"] == "approved" and body["moderation_response"] is None
    datetime.strptime(body["moderation_updated_at"], STAMP)
    same = ("asset_id", "public_id", "version", "resource_type", "type", "etag", "url", "secure_url")
    assert {key: body[key] for key in same} == {key: uploaded[key] for key in same}
    assert body["uploaded_at"] == uploaded["created_at"]
    assert rejected["payload"]["moderation_status"] == "rejected"


def test_admin_update_writes_one_event_per_kind_of_change(server, files):
    ensure_metadata_fields(SKU_FIELD)
    uploaded = upload(files, "payloads/updated", tags=["keep", "drop"], context={"alt": "old", "gone": "1"})
    pid, ident = uploaded["public_id"], identity(uploaded)
    window = [{"access_type": "anonymous", "start": "2020-01-01T00:00:00Z"}]
    start = last_event_id(server)
    cloudinary.api.update(pid, tags=["keep", "new"], context={"alt": "new", "added": "2"}, metadata={"sku": "A1"},
                          display_name="Shown", asset_folder="payloads/moved", access_control=window,
                          notification_url=HOOK + "update")
    found = written(server, start, "resource_tags_changed", "resource_context_changed", "resource_metadata_changed",
                    "resource_display_name_changed", "move", "access_control_changed")
    assert {event["notification_url"] for event in found} == {HOOK + "update"}
    tags, context, metadata, display, move, access = (event["payload"]["resources"] for event in found)
    assert tags == [{**ident, "public_id": pid, "added": ["new"], "removed": ["drop"], "updated": []}]
    assert context == {pid: {**ident, "added": [{"name": "added", "value": "2"}],
                             "removed": [{"name": "gone", "value": "1"}], "updated": [{"name": "alt", "value": "new"}]}}
    assert metadata == {pid: {**ident, "previous_metadata": {}, "new_metadata": {"sku": "A1"}}}
    assert display == [{**ident, "public_id": pid, "asset_folder": uploaded["asset_folder"],
                        "previous_display_name": uploaded["display_name"], "new_display_name": "Shown"}]
    assert move == {pid: {**ident, "from_asset_folder": uploaded["asset_folder"], "to_asset_folder": "payloads/moved",
                          "display_name": "Shown"}}
    assert access == [{**ident, "public_id": pid, "previous_access_control": [], "new_access_control": window}]

    # The same tags in another order, the same name and folder: nothing changed, nothing to tell.
    start = last_event_id(server)
    cloudinary.api.update(pid, tags=["new", "keep"], display_name="Shown", asset_folder="payloads/moved")
    written(server, start)


def test_tag_context_and_metadata_actions_describe_every_asset_they_change(server, files):
    ensure_metadata_fields(SKU_FIELD)
    first, second = (upload(files, f"payloads/labels-{n}", tags=["shared"]) for n in (1, 2))
    ids = [first["public_id"], second["public_id"]]
    start = last_event_id(server)
    cloudinary.uploader.add_tag("extra", ids, notification_url=HOOK + "tags")
    cloudinary.uploader.remove_tag("shared", ids[:1])
    cloudinary.uploader.add_context({"caption": "hi"}, ids, notification_url=HOOK + "context")
    cloudinary.uploader.remove_all_context(ids[1:])
    cloudinary.uploader.update_metadata({"sku": "B2"}, ids, notification_url=HOOK + "metadata")
    cloudinary.uploader.update_metadata({"sku": "B3"}, ids[:1])
    found = written(server, start, "resource_tags_changed", "resource_tags_changed", "resource_context_changed",
                    "resource_context_changed", "resource_metadata_changed", "resource_metadata_changed")
    assert [event["notification_url"] for event in found] == [
        HOOK + "tags", None, HOOK + "context", None, HOOK + "metadata", None]
    added, removed, context, cleared, metadata, changed = (event["payload"]["resources"] for event in found)
    assert sorted(added, key=lambda item: item["public_id"]) == [
        {**identity(asset), "public_id": asset["public_id"], "added": ["extra"], "removed": [], "updated": []}
        for asset in (first, second)]
    assert removed == [{**identity(first), "public_id": ids[0], "added": [], "removed": ["shared"], "updated": []}]
    assert context == {asset["public_id"]: {**identity(asset), "added": [{"name": "caption", "value": "hi"}],
                                            "removed": [], "updated": []} for asset in (first, second)}
    assert cleared == {ids[1]: {**identity(second), "added": [], "removed": [{"name": "caption", "value": "hi"}],
                                "updated": []}}
    assert metadata == {asset["public_id"]: {**identity(asset), "previous_metadata": {}, "new_metadata": {"sku": "B2"}}
                        for asset in (first, second)}
    assert changed == {ids[0]: {**identity(first), "previous_metadata": {"sku": "B2"}, "new_metadata": {"sku": "B3"}}}


def test_rename_over_an_existing_asset_deletes_it_then_renames(server, files):
    moved = upload(files, "payloads/rename-from")
    target = upload(files, "payloads/rename-to")
    start = last_event_id(server)
    cloudinary.uploader.rename("payloads/rename-from", "payloads/rename-to", overwrite=True,
                               notification_url=HOOK + "rename")
    deleted, renamed = written(server, start, "delete", "rename")
    assert deleted["notification_url"] == renamed["notification_url"] == HOOK + "rename"
    assert deleted["payload"]["resources"] == [{key: target[key] for key in RESOURCE_KEYS}]
    body = renamed["payload"]
    assert (body["from_public_id"], body["to_public_id"]) == ("payloads/rename-from", "payloads/rename-to")
    assert {key: body[key] for key in ("asset_id", "resource_type", "type", "asset_folder", "display_name")} == {
        key: moved[key] for key in ("asset_id", "resource_type", "type", "asset_folder", "display_name")}


def test_destroy_and_delete_resources_list_what_they_deleted(server, files):
    single = upload(files, "payloads/destroyed")
    pair = [upload(files, f"payloads/bulk-{n}") for n in (1, 2)]
    start = last_event_id(server)
    cloudinary.uploader.destroy(single["public_id"], notification_url=HOOK + "destroy")
    cloudinary.api.delete_resources([asset["public_id"] for asset in pair], notification_url=HOOK + "bulk")
    one, many = written(server, start, "delete", "delete")
    assert (one["notification_url"], many["notification_url"]) == (HOOK + "destroy", HOOK + "bulk")
    assert one["payload"]["resources"] == [{key: single[key] for key in RESOURCE_KEYS}]
    assert sorted(many["payload"]["resources"], key=lambda item: item["public_id"]) == [
        {key: asset[key] for key in RESOURCE_KEYS} for asset in pair]


def test_folder_create_and_delete(server):
    start = last_event_id(server)
    cloudinary.api.create_folder("payload-folders/inner")
    cloudinary.api.delete_folder("payload-folders")
    created, *deleted = written(server, start, "create_folder", "delete_folder", "delete_folder")
    assert created["payload"]["folder_path"] == "payload-folders/inner"
    assert created["payload"]["folder_name"] == "inner"
    assert [(event["payload"]["folder_path"], event["payload"]["folder_name"]) for event in deleted] == [
        ("payload-folders", "payload-folders"), ("payload-folders/inner", "inner")]
    assert {event["notification_url"] for event in (created, *deleted)} == {None}
