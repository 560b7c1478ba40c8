"""Hostile and broken requests: each gets a clear Cloudinary-shaped error and changes nothing."""

from __future__ import annotations

import struct
import time
import zlib

import cloudinary.uploader
import pytest
from cloudinary.exceptions import AuthorizationRequired, BadRequest

from tests.sdk.helpers import error_message, post, sign
from tests.server import RunningServer


def asset_count(server: RunningServer) -> tuple[int, int]:
    return (server.query("select count(*) from assets")[0][0],
            server.query("select count(*) from outbox_events")[0][0])


@pytest.fixture
def unchanged(server):
    """Asserts that the test left no asset and no event behind."""
    before = asset_count(server)
    yield
    assert asset_count(server) == before


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header declares width x height; the body is a few KB of compressed zeros."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width * 3) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_stale_future_and_forged_signatures(server, files, unchanged):
    content = files["png"].read_bytes()
    stale = post(server, "upload", sign(server, {"public_id": "stale"}, timestamp=int(time.time()) - 3700),
                 files={"file": ("a.png", content)})
    assert stale.status_code == 401 and error_message(stale).startswith("Stale request")
    future = post(server, "upload", sign(server, {"public_id": "future"}, timestamp=int(time.time()) + 3700),
                  files={"file": ("a.png", content)})
    assert future.status_code == 401
    forged = sign(server, {"public_id": "forged"})
    forged["signature"] = forged["signature"][:-1] + ("0" if forged["signature"][-1] != "0" else "1")
    response = post(server, "upload", forged, files={"file": ("a.png", content)})
    assert response.status_code == 401 and error_message(response).startswith("Invalid Signature")
    wrong_key = {**sign(server, {"public_id": "k"}), "api_key": "999"}
    assert post(server, "upload", wrong_key, files={"file": ("a.png", content)}).status_code == 401


def test_parameter_smuggling_is_refused(server, files, unchanged):
    signed = sign(server, {"public_id": "x&overwrite=true"})
    smuggled = {"public_id": "x", "overwrite": "true", "timestamp": signed["timestamp"],
                "signature": signed["signature"], "api_key": server.api_key}
    response = post(server, "upload", smuggled, files={"file": ("a.png", files["png"].read_bytes())})
    assert response.status_code == 401
    extra = {**sign(server, {"public_id": "y"}), "overwrite": "1"}
    assert post(server, "upload", extra, files={"file": ("a.png", files["png"].read_bytes())}).status_code == 401


def test_unknown_parameters_are_refused(server, files, unchanged):
    response = post(server, "upload", sign(server, {"public_id": "u", "colour": "red"}),
                    files={"file": ("a.png", files["png"].read_bytes())})
    assert response.status_code == 400 and "colour" in error_message(response)


@pytest.mark.parametrize("public_id", ["../../t2/x", "a/../../b", "/etc/passwd", "a%2e%2e%2fb", "..%5cx",
                                       "．．／x", "a\x00.jpg", "a//b", "a" * 5000])
def test_path_traversal_in_public_id(server, files, public_id, unchanged):
    with pytest.raises(BadRequest):
        cloudinary.uploader.upload(str(files["png"]), public_id=public_id)


@pytest.mark.parametrize("folder", ["../up", "a/../..", "a\\..\\b", "x\x00y"])
def test_path_traversal_in_folder(server, files, folder, unchanged):
    with pytest.raises(BadRequest):
        cloudinary.uploader.upload(str(files["png"]), folder=folder)


def test_decompression_bomb_is_refused_before_decoding(server, tmp_path, unchanged):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb())
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(BadRequest, match="exceeds"):
        cloudinary.uploader.upload(str(bomb))
    with pytest.raises(BadRequest, match="exceeds"):
        cloudinary.uploader.upload(str(bomb), resource_type="auto")


def test_file_over_the_size_limit(server, tmp_path, unchanged):
    # The test server caps images at 10 MB.
    big = tmp_path / "big.png"
    import pyvips

    pyvips.Image.gaussnoise(2200, 2000).cast("uchar").bandjoin([1, 2]).write_to_file(str(big), compression=0)
    assert big.stat().st_size > 10 * 1024 * 1024
    with pytest.raises(BadRequest, match="too large"):
        cloudinary.uploader.upload(str(big))


def test_bytes_that_are_not_what_they_claim(server, files, unchanged):
    with pytest.raises(BadRequest, match="Invalid image file"):
        cloudinary.uploader.upload(str(files["html_as_jpg"]), resource_type="image")
    with pytest.raises(BadRequest, match="Invalid video file"):
        cloudinary.uploader.upload(str(files["png"]), resource_type="video")
    truncated = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    with pytest.raises(BadRequest):
        cloudinary.uploader.upload(truncated)


def test_unsigned_upload_needs_an_unsigned_preset(server, files, unchanged):
    with pytest.raises(BadRequest, match="Upload preset must be specified"):
        cloudinary.uploader.unsigned_upload(str(files["png"]), "")
    with pytest.raises(BadRequest, match="not found"):
        cloudinary.uploader.unsigned_upload(str(files["png"]), "no-such-preset")


def test_unknown_cloud_and_wrong_credentials(server, files, unchanged):
    import httpx

    response = httpx.post(f"{server.base_url}/v1_1/no-such-cloud/image/upload", data=sign(server, {}),
                          files={"file": ("a.png", files["png"].read_bytes())})
    assert response.status_code == 404 and "no-such-cloud" in error_message(response)
    without_credentials = post(server, "destroy", {"public_id": "x"})
    assert without_credentials.status_code == 401
    with pytest.raises(AuthorizationRequired):
        cloudinary.uploader.destroy("anything", api_secret="wrong-secret")


def test_oversized_bodies_are_cut_off_before_they_are_stored(server, unchanged):
    import httpx

    # The test server's largest upload is 40 MB (raw); no body may exceed 4/3 of that + 2 MB.
    import http.client
    import json

    path = f"/v1_1/{server.cloud_name}/raw/upload"
    connection = http.client.HTTPConnection(*server.base_url.split("://")[1].split(":"), timeout=30)
    connection.putrequest("POST", path)
    connection.putheader("Content-Type", "multipart/form-data; boundary=b")
    connection.putheader("Content-Length", str(60 * 1024 * 1024))
    connection.endheaders(b"x" * 1024)  # the server answers without waiting for the rest
    declared = connection.getresponse()
    assert declared.status == 400 and "too large" in json.loads(declared.read())["error"]["message"]
    connection.close()

    url = f"{server.base_url}{path}"

    def endless():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n'
        for _ in range(80):
            yield b"x" * (1024 * 1024)

    streamed = httpx.post(url, content=endless(), headers={"Content-Type": "multipart/form-data; boundary=b"},
                          timeout=60)
    assert streamed.status_code == 400 and "too large" in error_message(streamed)
    spooled = sum(path.stat().st_size for path in server.data_dir.rglob("*") if path.is_file())
    assert spooled < 200 * 1024 * 1024


def test_admin_calls_with_bad_values_get_clear_errors(server):
    import cloudinary.api

    with pytest.raises(BadRequest, match="max_results"):
        cloudinary.api.upload_presets(max_results="many")
    with pytest.raises(BadRequest, match="boolean"):
        cloudinary.api.create_upload_preset(name="bad-bool", unsigned="perhaps")
    import httpx

    from tests.sdk.helpers import basic_auth

    # The SDK drops unknown names itself; a hand-written client may not.
    response = httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/upload_presets",
                          json={"name": "bad-param", "colour": "red"}, headers=basic_auth(server))
    assert response.status_code == 400 and "colour" in error_message(response)
