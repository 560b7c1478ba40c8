"""Asset folders through the Python SDK and ``cld``: create, list, rename, delete, search."""

from __future__ import annotations

import time

import cloudinary.api
import httpx
import cloudinary.uploader
import pytest
from cloudinary.exceptions import BadRequest, NotFound
from cloudinary.search_folders import SearchFolders

from tests.sdk.helpers import basic_auth
from tests.sdk.test_cli import cld


@pytest.fixture
def top():
    return f"fold{time.time_ns()}"


def test_folder_lifecycle(server, files, top):
    created = cloudinary.api.create_folder(f"{top}/a/b")
    assert created == {"success": True, "path": f"{top}/a/b", "name": "b"}
    assert top in {folder["path"] for folder in cloudinary.api.root_folders()["folders"]}
    assert cloudinary.api.subfolders(top)["folders"] == [
        {"name": "a", "path": f"{top}/a", "external_id": cloudinary.api.subfolders(top)["folders"][0]["external_id"]}]
    assert [f["path"] for f in cloudinary.api.subfolders(f"{top}/a")["folders"]] == [f"{top}/a/b"]
    with pytest.raises(NotFound):
        cloudinary.api.subfolders(f"{top}/missing")

    # Uploading into a folder creates it; a folder that holds assets cannot be deleted.
    uploaded = cloudinary.uploader.upload(str(files["png"]), asset_folder=f"{top}/a/photos", public_id=f"{top}-p1")
    assert f"{top}/a/photos" in [f["path"] for f in cloudinary.api.subfolders(f"{top}/a")["folders"]]
    with pytest.raises(BadRequest, match="not empty"):
        cloudinary.api.delete_folder(f"{top}/a")

    renamed = cloudinary.api.rename_folder(f"{top}/a", f"{top}/renamed")
    assert renamed == {"from": {"name": "a", "path": f"{top}/a"}, "to": {"name": "renamed", "path": f"{top}/renamed"}}
    moved = cloudinary.api.resource(uploaded["public_id"])
    assert moved["asset_folder"] == f"{top}/renamed/photos"
    assert [f["path"] for f in cloudinary.api.subfolders(f"{top}/renamed")["folders"]] == \
        [f"{top}/renamed/b", f"{top}/renamed/photos"]
    with pytest.raises(NotFound):
        cloudinary.api.subfolders(f"{top}/a")
    moves = server.query("SELECT payload FROM outbox_events WHERE notification_type = 'move_or_rename_asset_folder'")
    assert any(f"{top}/renamed" in str(row[0]) for row in moves)

    cloudinary.uploader.destroy(uploaded["public_id"])
    deleted = cloudinary.api.delete_folder(f"{top}/renamed")
    assert deleted == {"deleted": [f"{top}/renamed", f"{top}/renamed/b", f"{top}/renamed/photos"]}
    assert cloudinary.api.subfolders(top)["folders"] == []


def test_bad_folder_requests(server, top):
    cloudinary.api.create_folder(f"{top}/x")
    cloudinary.api.create_folder(f"{top}/y")
    for sneaky in ("a%2F..%2Fetc", "%2E%2E", "a%2F%EF%BC%8E%EF%BC%8E%2Fb", "a%00b"):
        response = httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/folders/{sneaky}",
                              headers=basic_auth(server))
        assert response.status_code == 400, (sneaky, response.text)
    with pytest.raises(NotFound):  # the client resolves the dots: an unknown path, in Cloudinary's shape
        cloudinary.api.create_folder("../../etc")
    with pytest.raises(BadRequest, match="already exists"):
        cloudinary.api.rename_folder(f"{top}/x", f"{top}/y")
    with pytest.raises(BadRequest, match="into itself"):
        cloudinary.api.rename_folder(f"{top}/x", f"{top}/x/inner")
    with pytest.raises(NotFound):
        cloudinary.api.delete_folder(f"{top}/nothing")
    with pytest.raises(NotFound):
        cloudinary.api.rename_folder(f"{top}/nothing", f"{top}/z")


def test_folder_paging_and_search(top):
    for n in range(5):
        cloudinary.api.create_folder(f"{top}/item{n}")
    seen, cursor = [], None
    while True:
        page = cloudinary.api.subfolders(top, max_results=2, **({"next_cursor": cursor} if cursor else {}))
        assert page["total_count"] == 5
        seen += [folder["name"] for folder in page["folders"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == [f"item{n}" for n in range(5)]
    found = SearchFolders().expression(f"path:{top}/* AND name:item*").sort_by("name", "desc").execute()
    assert [folder["name"] for folder in found["folders"]] == [f"item{n}" for n in reversed(range(5))]
    assert found["total_count"] == 5 and found["folders"][0]["created_at"].endswith("Z")
    assert SearchFolders().expression(f"name={top}").execute()["folders"][0]["path"] == top


def test_folders_through_cld(server, top):
    assert cld(server, "admin", "create_folder", f"{top}/cli")["success"] is True
    listed = cld(server, "admin", "subfolders", top)
    assert [folder["name"] for folder in listed["folders"]] == ["cli"]
    assert cld(server, "admin", "delete_folder", f"{top}/cli") == {"deleted": [f"{top}/cli"]}
