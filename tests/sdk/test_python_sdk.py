"""The official Python SDK (pinned) against a real server: the upload side of the contract."""

from __future__ import annotations

import base64
import re
import time

import cloudinary
import cloudinary.api
import cloudinary.uploader
import cloudinary.utils
import httpx
import pytest
from cloudinary.exceptions import BadRequest, Error, NotFound

from tests.sdk.conftest import md5
from tests.sdk.helpers import COLORS_FIELD, SKU_FIELD, basic_auth, ensure_metadata_fields

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def unique(name: str) -> str:
    return f"{name}-{time.time_ns()}"


def assert_signed(result: dict) -> None:
    assert cloudinary.utils.verify_api_response_signature(result["public_id"], result["version"], result["signature"])


def test_upload_a_file(files, server):
    public_id = unique("sdk/logo")
    result = cloudinary.uploader.upload(str(files["png"]), public_id=public_id, tags=["b", "a"],
                                        context={"alt": "x|y=z", "caption": "c"})
    assert_signed(result)
    assert HEX32.match(result["asset_id"]) and HEX32.match(result["version_id"])
    assert result["public_id"] == public_id
    assert (result["width"], result["height"], result["format"]) == (241, 51, "png")
    assert result["resource_type"] == "image" and result["type"] == "upload"
    assert result["tags"] == ["a", "b"]
    assert result["context"] == {"custom": {"alt": "x|y=z", "caption": "c"}}
    assert result["bytes"] == files["png"].stat().st_size
    assert result["etag"] == md5(files["png"])
    assert result["original_filename"] == "logo"
    assert result["api_key"] == server.api_key
    assert result["request_id"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", result["created_at"])
    delivered = httpx.get(result["url"])
    assert delivered.status_code == 200
    assert delivered.content == files["png"].read_bytes()
    assert delivered.headers["content-type"] == "image/png"
    assert delivered.headers["etag"] == f'"{result["etag"]}"'
    assert httpx.get(result["url"], headers={"If-None-Match": delivered.headers["etag"]}).status_code == 304
    sdk_url = cloudinary.utils.cloudinary_url(public_id, format="png", version=result["version"])[0]
    assert httpx.get(sdk_url).content == files["png"].read_bytes()


def test_upload_by_url_and_data_uri(files, origin):
    by_url = cloudinary.uploader.upload(f"{origin}/photo.jpg")
    assert_signed(by_url)
    assert (by_url["format"], by_url["width"], by_url["height"]) == ("jpg", 400, 300)
    assert by_url["original_filename"] == "photo"
    payload = base64.b64encode(files["png"].read_bytes()).decode()
    by_data = cloudinary.uploader.upload(f"data:image/png;base64,{payload}")
    assert_signed(by_data)
    assert by_data["etag"] == md5(files["png"])


def test_type_comes_from_the_bytes_not_the_name(files):
    with pytest.raises(BadRequest, match="Invalid image file"):
        cloudinary.uploader.upload(str(files["html_as_jpg"]))
    as_auto = cloudinary.uploader.upload(str(files["html_as_jpg"]), resource_type="auto", use_filename=True)
    assert as_auto["resource_type"] == "raw"
    delivered = httpx.get(as_auto["url"])
    assert delivered.headers["content-type"] == "application/octet-stream"
    assert delivered.headers["content-disposition"].startswith("attachment")
    assert delivered.headers["x-content-type-options"] == "nosniff"
    video_claim = cloudinary.uploader.upload(str(files["png"]), resource_type="auto")
    assert video_claim["resource_type"] == "image"


def test_naming_options(files):
    folder = unique("shop")
    named = cloudinary.uploader.upload(str(files["png"]), use_filename=True, folder=folder)
    assert re.fullmatch(rf"{folder}/logo_[a-z0-9]{{6}}", named["public_id"])
    assert named["asset_folder"] == folder
    exact = cloudinary.uploader.upload(str(files["png"]), use_filename=True, unique_filename=False,
                                       folder=folder, display_name="Shop logo")
    assert exact["public_id"] == f"{folder}/logo"
    assert exact["display_name"] == "Shop logo"
    override = cloudinary.uploader.upload(str(files["png"]), use_filename=True, unique_filename=False,
                                          filename_override="brand.png", asset_folder="library/brands")
    assert override["public_id"] == "brand" and override["original_filename"] == "brand"
    assert override["asset_folder"] == "library/brands"


def test_overwrite_false_answers_existing(files):
    public_id = unique("keep")
    first = cloudinary.uploader.upload(str(files["png"]), public_id=public_id)
    second = cloudinary.uploader.upload(str(files["jpg"]), public_id=public_id, overwrite=False)
    assert second["existing"] is True
    assert second["version"] == first["version"] and second["etag"] == first["etag"]
    third = cloudinary.uploader.upload(str(files["jpg"]), public_id=public_id)
    assert third["version"] > first["version"] and third["format"] == "jpg"
    assert third["asset_id"] == first["asset_id"]


def test_moderation_eager_notification_and_delete_token(files):
    result = cloudinary.uploader.upload(str(files["png"]), moderation="manual", eager=[{"width": 100, "crop": "scale"}],
                                        notification_url="https://hooks.example/x", return_delete_token=True)
    assert result["moderation"] == [{"kind": "manual", "status": "pending"}]
    assert result["eager"][0]["transformation"] == "c_scale,w_100"
    token = result["delete_token"]
    response = httpx.post(f"{cloudinary.config().upload_prefix}/v1_1/{cloudinary.config().cloud_name}/delete_by_token",
                          data={"token": token})
    assert response.json() == {"result": "ok"}
    assert httpx.get(result["url"]).status_code == 404


def test_allowed_formats(files):
    with pytest.raises(BadRequest, match="format png not allowed"):
        cloudinary.uploader.upload(str(files["png"]), allowed_formats=["jpg", "gif"])
    assert cloudinary.uploader.upload(str(files["jpg"]), allowed_formats="jpg,gif")["format"] == "jpg"


def test_upload_large_in_chunks(tmp_path, files):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (25 * 1024 * 1024 // 256))
    result = cloudinary.uploader.upload_large(str(big), public_id=unique("big.bin"), chunk_size=6_000_000)
    assert result["resource_type"] == "raw"
    assert result["bytes"] == big.stat().st_size
    assert result["etag"] == md5(big)
    assert_signed(result)
    assert httpx.get(result["url"]).content == big.read_bytes()
    image = cloudinary.uploader.upload_large(str(files["jpg"]), resource_type="image", chunk_size=5_000)
    assert (image["format"], image["width"]) == ("jpg", 400)


def test_explicit_rename_destroy(files):
    public_id = unique("life/pic")
    cloudinary.uploader.upload(str(files["png"]), public_id=public_id, tags="one")
    updated = cloudinary.uploader.explicit(public_id, type="upload", tags=["two", "three"],
                                           context={"k": "v"})
    assert updated["tags"] == ["three", "two"] and updated["context"] == {"custom": {"k": "v"}}
    with pytest.raises(NotFound, match="^Resource not found"):
        cloudinary.uploader.explicit(unique("missing"), type="upload")

    renamed = cloudinary.uploader.rename(public_id, f"{public_id}-2")
    assert renamed["public_id"] == f"{public_id}-2"
    assert httpx.get(renamed["url"]).status_code == 200
    other = unique("life/other")
    cloudinary.uploader.upload(str(files["jpg"]), public_id=other)
    with pytest.raises(BadRequest, match="already exists"):
        cloudinary.uploader.rename(f"{public_id}-2", other)
    overwritten = cloudinary.uploader.rename(f"{public_id}-2", other, overwrite=True)
    assert overwritten["format"] == "png"
    private = cloudinary.uploader.rename(other, other, to_type="private")
    assert private["type"] == "private"

    assert cloudinary.uploader.destroy(other, type="private")["result"] == "ok"
    assert cloudinary.uploader.destroy(other, type="private")["result"] == "not found"


def test_tags_context_and_metadata_calls(files):
    ensure_metadata_fields(SKU_FIELD, COLORS_FIELD)
    ids = [unique("tagged/a"), unique("tagged/b")]
    for public_id in ids:
        cloudinary.uploader.upload(str(files["png"]), public_id=public_id, tags="base")

    def tags_of(public_id: str) -> list[str]:
        return cloudinary.uploader.explicit(public_id, type="upload").get("tags", [])

    assert cloudinary.uploader.add_tag("x,y", ids)["public_ids"] == ids
    assert tags_of(ids[0]) == ["base", "x", "y"]
    cloudinary.uploader.remove_tag("x", ids)
    assert tags_of(ids[1]) == ["base", "y"]
    cloudinary.uploader.replace_tag("only", [ids[0]])
    assert tags_of(ids[0]) == ["only"]
    cloudinary.uploader.add_tag("winner", ids)
    cloudinary.uploader.add_tag("winner", [ids[0]], exclusive=True)
    assert "winner" not in tags_of(ids[1]) and "winner" in tags_of(ids[0])
    cloudinary.uploader.remove_all_tags(ids)
    assert tags_of(ids[0]) == []

    cloudinary.uploader.add_context({"alt": "a=b|c", "n": "1"}, ids)
    assert cloudinary.uploader.explicit(ids[0], type="upload")["context"] == {"custom": {"alt": "a=b|c", "n": "1"}}
    cloudinary.uploader.remove_all_context(ids)
    assert "context" not in cloudinary.uploader.explicit(ids[0], type="upload")
    assert cloudinary.uploader.update_metadata({"sku": "A1", "colors": ["red", "blue"]}, ids)["public_ids"] == ids
    assert cloudinary.uploader.explicit(ids[1], type="upload")["metadata"] == {"sku": "A1", "colors": ["red", "blue"]}


def test_presets_and_unsigned_uploads(files):
    name = unique("widget")
    assert cloudinary.api.create_upload_preset(name=name, unsigned=True, folder="from-widget", tags="w",
                                               disallow_public_id=True)["message"] == "created"
    preset = cloudinary.api.upload_preset(name)
    assert preset["unsigned"] is True and preset["settings"]["folder"] == "from-widget"
    assert any(p["name"] == name for p in cloudinary.api.upload_presets(max_results=500)["presets"])
    result = cloudinary.uploader.unsigned_upload(str(files["png"]), name, public_id="ignored", tags="explicit")
    assert result["public_id"].startswith("from-widget/") and "ignored" not in result["public_id"]
    assert result["tags"] == ["explicit"]
    with pytest.raises(BadRequest, match="not allowed when using unsigned upload"):
        cloudinary.uploader.unsigned_upload(str(files["png"]), name, overwrite=True)

    signed_only = unique("signed")
    cloudinary.api.create_upload_preset(name=signed_only, unsigned=False, tags="from-preset", folder="p")
    with pytest.raises(BadRequest, match="whitelisted for unsigned"):
        cloudinary.uploader.unsigned_upload(str(files["png"]), signed_only)
    merged = cloudinary.uploader.upload(str(files["png"]), upload_preset=signed_only, folder="mine")
    assert merged["tags"] == ["from-preset"] and merged["public_id"].startswith("mine/")
    assert cloudinary.api.update_upload_preset(signed_only, folder="q")["message"] == "updated"
    assert cloudinary.api.upload_preset(signed_only)["settings"]["folder"] == "q"
    assert cloudinary.api.delete_upload_preset(signed_only)["message"] == "deleted"
    with pytest.raises(NotFound):
        cloudinary.api.upload_preset(signed_only)


def test_private_and_authenticated_delivery_needs_a_signature(files, server):
    for delivery_type in ("private", "authenticated"):
        public_id = unique(f"secret/{delivery_type}")
        result = cloudinary.uploader.upload(str(files["png"]), public_id=public_id, type=delivery_type)
        assert "/s--" in result["url"]
        assert httpx.get(result["url"]).content == files["png"].read_bytes()
        unsigned = f"{server.base_url}/{server.cloud_name}/image/{delivery_type}/v{result['version']}/{public_id}.png"
        refused = httpx.get(unsigned)
        assert refused.status_code == 401 and refused.headers["x-cld-error"]
        forged = result["url"].replace("/s--", "/s--X").replace("--/", "--/", 1)
        assert httpx.get(forged).status_code in (401, 404)
        signed = cloudinary.utils.cloudinary_url(public_id, type=delivery_type, sign_url=True, format="png")[0]
        assert httpx.get(signed).status_code == 200
        download = cloudinary.utils.private_download_url(public_id, "png", type=delivery_type, attachment=True)
        fetched = httpx.get(download)
        assert fetched.status_code == 200 and fetched.content == files["png"].read_bytes()
        assert fetched.headers["content-disposition"].startswith("attachment")


def test_config_reports_folder_mode():
    assert cloudinary.api.config(settings=True)["settings"]["folder_mode"] == "dynamic"


def test_every_response_has_a_request_id(server):
    ok = httpx.get(f"{server.base_url}/v1_1/{server.cloud_name}/ping", headers=basic_auth(server))
    error = httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/image/upload")
    missing = httpx.get(f"{server.base_url}/{server.cloud_name}/image/upload/nothing.png")
    for response in (ok, error, missing):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert error.status_code in (400, 401) and "message" in error.json()["error"]
    assert int(ok.headers["x-featureratelimit-limit"]) > 0


def test_cors_preflight_allows_browser_uploads(server):
    response = httpx.options(f"{server.base_url}/v1_1/{server.cloud_name}/image/upload", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-unique-upload-id,content-range"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://app.example")


def test_sdk_errors_are_cloudinary_errors(files):
    with pytest.raises(Error):
        cloudinary.uploader.upload(str(files["png"]), public_id="../escape")


def test_range_requests_on_originals(files):
    result = cloudinary.uploader.upload(str(files["jpg"]), public_id=unique("ranged"))
    partial = httpx.get(result["url"], headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206 and partial.content == files["jpg"].read_bytes()[10:20]
    head = httpx.head(result["url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == result["bytes"]


def test_video_uploads(tmp_path):
    from tests.unit.test_probe import tiny_video

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(tiny_video())
    for resource_type in ("video", "auto"):
        result = cloudinary.uploader.upload(str(clip), resource_type=resource_type, public_id=unique("clips/c"))
        assert_signed(result)
        assert (result["resource_type"], result["format"], result["width"], result["height"]) == ("video", "mp4", 64, 48)
        assert 0.3 <= result["duration"] <= 0.7 and result["video"]["codec"] == "h264"
        delivered = httpx.get(result["url"])
        assert delivered.headers["content-type"] == "video/mp4" and delivered.content == clip.read_bytes()
    with pytest.raises(BadRequest, match="Invalid image file"):
        cloudinary.uploader.upload(str(clip), resource_type="image")


def test_public_id_prefix(files):
    result = cloudinary.uploader.upload(str(files["png"]), public_id_prefix="pre/fix", use_filename=True,
                                        unique_filename=False)
    assert result["public_id"] == "pre/fix/logo"
