"""Eager transformations, the derived list, named transformations, strict mode, tokens and
access-control windows, driven through the official Python SDK against a real server."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

import cloudinary
import cloudinary.api
import cloudinary.uploader
import cloudinary.utils
import httpx
import pytest
from cloudinary.exceptions import BadRequest, NotFound

from tests.sdk.test_delivery import RED, bands, decoded, fetch, near, pixel  # noqa: F401 - bands is a fixture
from tests.sdk.helpers import medialoom, use


TOKEN_KEY = "a" * 8 + "0123456789abcdef" * 3 + "b" * 8


def derived_files(server) -> set:  # noqa: ANN001
    return {p for p in (server.data_dir / "blobs").rglob("*") if p.is_file() and "/derived/" in str(p)}


def test_eager_on_upload_is_rendered_and_listed(bands):
    result = cloudinary.uploader.upload(bands, public_id="derived/eager", overwrite=True,
                                        eager=[{"width": 60, "crop": "scale"},
                                               {"width": 40, "height": 40, "crop": "fill", "format": "webp"}])
    first, second = result["eager"]
    assert (first["width"], first["height"], first["format"]) == (60, 80, "png")
    assert first["transformation"] == "c_scale,w_60" and first["bytes"] > 0
    assert (second["width"], second["height"], second["format"]) == (40, 40, "webp")
    assert decoded(fetch(second["secure_url"])).width == 40
    detail = cloudinary.api.resource("derived/eager")
    assert sorted(d["transformation"] for d in detail["derived"]) == ["c_fill,h_40,w_40", "c_scale,w_60"]
    assert {d["format"] for d in detail["derived"]} == {"png", "webp"}


def test_eager_async_answers_processing_then_renders(bands, server):
    result = cloudinary.uploader.upload(bands, public_id="derived/later", overwrite=True, eager_async=True,
                                        eager=[{"width": 31, "crop": "scale"}])
    assert result["eager"][0]["status"] == "processing" and result["eager"][0]["batch_id"]
    for _ in range(100):
        if cloudinary.api.resource("derived/later")["derived"]:
            break
        time.sleep(0.1)
    assert [d["transformation"] for d in cloudinary.api.resource("derived/later")["derived"]] == ["c_scale,w_31"]
    events = server.query("SELECT payload FROM outbox_events WHERE notification_type = 'eager'")
    assert any("derived/later" in str(row[0]) for row in events)


def test_a_bad_eager_transformation_is_refused_before_storing(bands):
    with pytest.raises(BadRequest, match="e_nonsense|nonsense"):
        cloudinary.uploader.upload(bands, public_id="derived/refused", eager=[{"effect": "nonsense"}])
    with pytest.raises(NotFound):
        cloudinary.api.resource("derived/refused")


def test_explicit_eager_and_delete_derived_by_transformation(bands, server):
    cloudinary.uploader.upload(bands, public_id="derived/explicit", overwrite=True)
    result = cloudinary.uploader.explicit("derived/explicit", type="upload",
                                          eager=[{"width": 20, "crop": "scale"}, {"width": 30, "crop": "scale"}])
    assert [e["width"] for e in result["eager"]] == [20, 30]
    assert len(cloudinary.api.resource("derived/explicit")["derived"]) == 2
    deleted = cloudinary.api.delete_derived_by_transformation(["derived/explicit"], [{"width": 20, "crop": "scale"}])
    assert deleted["deleted"] == {"derived/explicit": "deleted"}
    remaining = cloudinary.api.resource("derived/explicit")["derived"]
    assert [d["transformation"] for d in remaining] == ["c_scale,w_30"]
    # The original stays and the deleted variant renders again on demand.
    url = cloudinary.utils.cloudinary_url("derived/explicit", format="png", width=20, crop="scale")[0]
    assert decoded(fetch(url)).width == 20


def test_invalidate_removes_derived_files(bands, server):
    cloudinary.uploader.upload(bands, public_id="derived/invalidated", overwrite=True,
                               eager=[{"width": 25, "crop": "scale"}])
    before = derived_files(server)
    cloudinary.uploader.explicit("derived/invalidated", type="upload", invalidate=True)
    assert cloudinary.api.resource("derived/invalidated")["derived"] == []
    assert len(derived_files(server)) < len(before)


def test_named_transformations_admin_api_and_t_urls(bands):
    public_id = cloudinary.uploader.upload(bands, public_id="derived/named", overwrite=True)["public_id"]
    name = f"thumb_{secrets.token_hex(3)}"
    assert cloudinary.api.create_transformation(name, {"width": 50, "height": 50, "crop": "fill",
                                                       "gravity": "north"})["message"] == "created"
    shown = cloudinary.api.transformation(name)
    assert shown["name"] == name and shown["named"] is True and shown["allowed_for_strict"] is False
    assert shown["info"] == [{"crop": "fill", "gravity": "north", "height": 50, "width": 50}]
    url = cloudinary.utils.cloudinary_url(public_id, format="png", transformation=name)[0]
    assert f"t_{name}" in url
    image = decoded(fetch(url))
    assert (image.width, image.height) == (50, 50) and near(pixel(image, 0.5, 0.05), RED)
    assert cloudinary.api.transformation(name)["used"] is True
    assert name in [t["name"] for t in cloudinary.api.transformations(named=True, max_results=500)["transformations"]]
    # A new definition renders anew under the same URL.
    cloudinary.api.update_transformation(name, unsafe_update={"width": 20, "crop": "scale"})
    time.sleep(5.1)  # other processes' caches of a definition live five seconds
    assert decoded(fetch(url)).width == 20
    assert cloudinary.api.delete_transformation(name)["message"] == "deleted"
    with pytest.raises(NotFound):
        cloudinary.api.transformation(name)
    missing = fetch(url)
    assert missing.status_code == 400 and "not found" in missing.headers["x-cld-error"]


def test_unnamed_transformation_can_be_marked_allowed_for_strict():
    definition = {"width": 103, "crop": "scale"}
    cloudinary.api.create_transformation("c_scale,w_103", definition)
    shown = cloudinary.api.transformation(definition)
    assert shown["named"] is False and shown["info"] == [{"crop": "scale", "width": 103}]
    cloudinary.api.update_transformation(definition, allowed_for_strict=True)
    assert cloudinary.api.transformation(definition)["allowed_for_strict"] is True
    cloudinary.api.delete_transformation(definition)


@pytest.fixture(scope="module")
def strict_env(server):
    output = medialoom(server, "env", "create", f"strict-{secrets.token_hex(3)}")
    url = output.strip().split("=", 1)[1]
    cloud = url.split("@", 1)[1].split("?", 1)[0]
    medialoom(server, "env", "set", cloud, "--strict-transformations", "--auth-token-key", TOKEN_KEY)
    return url


def test_strict_mode_derives_only_signed_named_or_eager(strict_env, bands, server):
    use(strict_env)
    try:
        uploaded = cloudinary.uploader.upload(bands, public_id="strict/pic", eager=[{"width": 70, "crop": "scale"}])
        url = cloudinary.utils.cloudinary_url("strict/pic", format="png", width=71, crop="scale")[0]
        refused = fetch(url)
        assert refused.status_code == 401 and "strict" in refused.headers["x-cld-error"]
        signed = cloudinary.utils.cloudinary_url("strict/pic", format="png", width=71, crop="scale", sign_url=True)[0]
        assert decoded(fetch(signed)).width == 71
        assert decoded(fetch(uploaded["eager"][0]["url"])).width == 70  # eager files exist already
        cloudinary.api.create_transformation("strict_small", {"width": 72, "crop": "scale"})
        named = cloudinary.utils.cloudinary_url("strict/pic", format="png", transformation="strict_small")[0]
        assert fetch(named).status_code == 401
        cloudinary.api.update_transformation("strict_small", allowed_for_strict=True)
        time.sleep(5.1)
        assert decoded(fetch(named)).width == 72
        # The original itself is always deliverable.
        assert fetch(cloudinary.utils.cloudinary_url("strict/pic")[0]).status_code == 200
    finally:
        use(server.cloudinary_url)


def test_tokens_grant_authenticated_assets(strict_env, bands, server):
    use(strict_env)
    try:
        cloudinary.uploader.upload(bands, public_id="tokens/pic", type="authenticated", overwrite=True)
        plain = cloudinary.utils.cloudinary_url("tokens/pic", type="authenticated", format="png")[0]
        assert fetch(plain).status_code == 401
        token = {"key": TOKEN_KEY, "duration": 300}
        with_url_token = cloudinary.utils.cloudinary_url("tokens/pic", type="authenticated", format="png",
                                                         sign_url=True, auth_token=token)[0]
        assert "__cld_token__=" in with_url_token and "/s--" not in with_url_token
        assert fetch(with_url_token).status_code == 200
        acl = cloudinary.utils.generate_auth_token(key=TOKEN_KEY, duration=300, acl="/image/authenticated/*")
        assert fetch(f"{plain}?{acl}").status_code == 200
        elsewhere = cloudinary.utils.generate_auth_token(key=TOKEN_KEY, duration=300, acl="/video/authenticated/*")
        assert fetch(f"{plain}?{elsewhere}").status_code == 401
        expired = cloudinary.utils.generate_auth_token(key=TOKEN_KEY, start_time=int(time.time()) - 600,
                                                       duration=60, acl="/*")
        response = fetch(f"{plain}?{expired}")
        assert response.status_code == 401 and "expired" in response.headers["x-cld-error"]
        wrong_key = cloudinary.utils.generate_auth_token(key="cd" * 32, duration=300, acl="/*")
        assert fetch(f"{plain}?{wrong_key}").status_code == 401
        other_ip = cloudinary.utils.generate_auth_token(key=TOKEN_KEY, duration=300, acl="/*", ip="10.9.8.7")
        assert fetch(f"{plain}?{other_ip}").status_code == 401
        this_ip = cloudinary.utils.generate_auth_token(key=TOKEN_KEY, duration=300, acl="/*", ip="127.0.0.1")
        assert fetch(f"{plain}?{this_ip}").status_code == 200
    finally:
        use(server.cloudinary_url)


def test_access_control_windows(bands):
    now = datetime.now(UTC)
    closed = [{"access_type": "anonymous", "start": (now + timedelta(days=1)).isoformat()}]
    result = cloudinary.uploader.upload(bands, public_id="windows/pic", overwrite=True, access_control=closed)
    assert result["access_control"][0]["access_type"] == "anonymous"
    url = cloudinary.utils.cloudinary_url("windows/pic", format="png")[0]
    assert fetch(url).status_code == 401
    signed = cloudinary.utils.cloudinary_url("windows/pic", format="png", width=10, crop="scale", sign_url=True)[0]
    assert fetch(signed).status_code == 200
    opened = [{"access_type": "anonymous", "start": (now - timedelta(hours=1)).isoformat(),
               "end": (now + timedelta(hours=1)).isoformat()}]
    updated = cloudinary.api.update("windows/pic", access_control=opened)
    assert updated["access_control"][0]["end"]
    assert fetch(url).status_code == 200
    with pytest.raises(BadRequest, match="access_type"):
        cloudinary.api.update("windows/pic", access_control=[{"access_type": "everyone"}])


def test_default_image_and_dpr_auto(bands):
    cloudinary.uploader.upload(bands, public_id="fallback", overwrite=True)
    url = cloudinary.utils.cloudinary_url("missing/thing", format="png", default_image="fallback.png", width=30,
                                          crop="scale")[0]
    assert decoded(fetch(url)).width == 30
    plain_missing = cloudinary.utils.cloudinary_url("missing/thing", format="png", width=30, crop="scale")[0]
    assert fetch(plain_missing).status_code == 404
    auto = cloudinary.utils.cloudinary_url("fallback", format="png", width=40, crop="scale", dpr="auto")[0]
    assert decoded(fetch(auto)).width == 40
    doubled = fetch(auto, **{"Sec-CH-DPR": "2"})
    assert decoded(doubled).width == 80 and "DPR" in doubled.headers["vary"]


def test_bad_token_input_is_a_clear_401(bands):
    cloudinary.uploader.upload(bands, public_id="tokens/public-auth", type="authenticated", overwrite=True)
    plain = cloudinary.utils.cloudinary_url("tokens/public-auth", type="authenticated", format="png")[0]
    for junk in ("__cld_token__=", "__cld_token__=exp=abc~hmac=00", "__cld_token__=~~~", "__cld_token__=acl=%2f*"):
        response = httpx.get(f"{plain}?{junk}")
        assert response.status_code == 401 and response.headers["x-cld-error"]


def test_delete_derived_resources_by_id(bands):
    cloudinary.uploader.upload(bands, public_id="derived/by-id", overwrite=True,
                               eager=[{"width": 21, "crop": "scale"}, {"width": 22, "crop": "scale"}])
    derived = cloudinary.api.resource("derived/by-id")["derived"]
    first = next(d for d in derived if d["transformation"] == "c_scale,w_21")
    result = cloudinary.api.delete_derived_resources([first["id"], "999999999"])
    assert result["deleted"] == {first["id"]: "deleted", "999999999": "not_found"}
    assert [d["transformation"] for d in cloudinary.api.resource("derived/by-id")["derived"]] == ["c_scale,w_22"]
