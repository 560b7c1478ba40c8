"""Chunked uploads out of order and across a restart; the outbox records every change."""

from __future__ import annotations

import hashlib
import json

import cloudinary.uploader
import httpx

from tests.sdk.helpers import SKU_FIELD, ensure_metadata_fields, post, sign
from tests.server import start_server


def test_chunks_out_of_order_survive_a_restart(tmp_path, files):
    server = start_server(tmp_path / "restart")
    try:
        payload = files["jpg"].read_bytes()
        size = len(payload)
        cuts = [0, size // 3, 2 * size // 3, size]
        pieces = [(cuts[i], cuts[i + 1] - 1) for i in range(3)]
        headers = lambda start, end, total: {  # noqa: E731
            "X-Unique-Upload-Id": "restart-upload-1", "Content-Range": f"bytes {start}-{end}/{total}"}

        def send(index: int, total: str) -> httpx.Response:
            start, end = pieces[index]
            return post(server, "upload", sign(server, {"public_id": "chunked/photo"}), resource_type="image",
                        files={"file": ("photo.jpg", payload[start:end + 1])}, headers=headers(start, end, total))

        last = send(2, str(size))  # the final piece first, as a parallel client may
        assert last.json()["done"] is False and last.json()["public_id"] == "chunked/photo"
        server.restart()
        middle = send(1, "-1")  # Node's "total unknown yet"
        assert middle.json()["done"] is False
        first = send(0, "-1")
        result = first.json()
        assert first.status_code == 200, result
        assert result["public_id"] == "chunked/photo" and result["width"] == 400
        assert result["etag"] == hashlib.md5(payload).hexdigest()
        assert httpx.get(result["url"]).content == payload
    finally:
        server.stop()


def events(server, since: int = 0) -> list[dict]:
    rows = server.query("select id, notification_type, payload, notification_url from outbox_events "
                        "where id > :since order by id", since=since)
    return [{"id": r[0], "type": r[1], "payload": r[2] if isinstance(r[2], dict) else json.loads(r[2]),
             "notification_url": r[3]} for r in rows]


def last_event_id(server) -> int:
    found = events(server)
    return found[-1]["id"] if found else 0


def test_every_change_writes_one_event(server, files):
    ensure_metadata_fields(SKU_FIELD)
    start = last_event_id(server)
    uploaded = cloudinary.uploader.upload(str(files["png"]), public_id="events/pic",
                                          notification_url="https://hooks.example/upload")
    cloudinary.uploader.upload(str(files["jpg"]), public_id="events/pic")  # overwrite
    cloudinary.uploader.add_tag("t1", ["events/pic"])
    cloudinary.uploader.add_context({"a": "1"}, ["events/pic"])
    cloudinary.uploader.update_metadata({"sku": "9"}, ["events/pic"])
    cloudinary.uploader.rename("events/pic", "events/renamed")
    cloudinary.uploader.destroy("events/renamed")
    cloudinary.uploader.add_tag("t1", ["events/missing"])  # changes nothing: no event

    recorded = events(server, start)
    assert [e["type"] for e in recorded] == ["upload", "upload", "resource_tags_changed",
                                             "resource_context_changed", "resource_metadata_changed",
                                             "rename", "delete"]
    first = recorded[0]
    assert first["notification_url"] == "https://hooks.example/upload"
    body = first["payload"]
    assert body["notification_type"] == "upload" and body["public_id"] == "events/pic"
    assert body["asset_id"] == uploaded["asset_id"] and body["etag"] == uploaded["etag"]
    assert body["notification_context"]["triggered_by"]["source"] == "api"
    tags = recorded[2]["payload"]["resources"][0]
    assert tags["added"] == ["t1"] and tags["public_id"] == "events/pic"
    context = recorded[3]["payload"]["resources"]["events/pic"]
    assert context["added"] == [{"name": "a", "value": "1"}]
    assert recorded[5]["payload"]["from_public_id"] == "events/pic"
    assert recorded[5]["payload"]["to_public_id"] == "events/renamed"
    assert recorded[6]["payload"]["resources"][0]["public_id"] == "events/renamed"


def _rows(server, sql: str, **params) -> list[tuple]:
    return server.query(sql, **params)


def _blob_exists(server, key: str) -> bool:
    return (server.data_dir / "blobs" / key).is_file()


def test_backup_keeps_previous_versions_and_destroy_leaves_a_placeholder(server, files):
    first = cloudinary.uploader.upload(str(files["png"]), public_id="backed/up", backup=True)
    second = cloudinary.uploader.upload(str(files["jpg"]), public_id="backed/up")
    [(asset_pk, current_key)] = _rows(server, "select id, blob_key from assets where asset_id = :a", a=first["asset_id"])
    kept = _rows(server, "select version_id, blob_key from asset_versions where asset_pk = :pk", pk=asset_pk)
    assert [row[0] for row in kept] == [first["version_id"]]
    assert _blob_exists(server, kept[0][1]) and _blob_exists(server, current_key)

    assert cloudinary.uploader.destroy("backed/up")["result"] == "ok"
    [(placeholder, size, key)] = _rows(server, "select placeholder, bytes, blob_key from assets where id = :pk", pk=asset_pk)
    assert bool(placeholder) and size == 0 and key == ""
    assert httpx.get(second["url"]).status_code == 404
    assert all(_blob_exists(server, row[1]) for row in _rows(
        server, "select version_id, blob_key from asset_versions where asset_pk = :pk", pk=asset_pk))
    again = cloudinary.uploader.upload(str(files["png"]), public_id="backed/up", overwrite=False)
    assert "existing" not in again and again["asset_id"] == first["asset_id"]


def test_overwrite_without_backup_removes_the_old_blob(server, files):
    cloudinary.uploader.upload(str(files["png"]), public_id="nobackup/x")
    [(old_key,)] = _rows(server, "select blob_key from assets where public_id = 'nobackup/x'")
    cloudinary.uploader.upload(str(files["jpg"]), public_id="nobackup/x")
    [(new_key,)] = _rows(server, "select blob_key from assets where public_id = 'nobackup/x'")
    assert new_key != old_key and _blob_exists(server, new_key) and not _blob_exists(server, old_key)
    cloudinary.uploader.destroy("nobackup/x")
    assert not _blob_exists(server, new_key)
    assert _rows(server, "select count(*) from assets where public_id = 'nobackup/x'") == [(0,)]
