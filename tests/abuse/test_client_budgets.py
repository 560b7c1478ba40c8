"""Per-address budgets against a real server with the official SDK: a flood of unsigned uploads
and a secret guesser both meet 429, with Retry-After, and what they were refused leaves nothing.

The server has budgets of five a minute (the defaults are 120 unsigned uploads and 30 failed
authentications); every request here comes from 127.0.0.1, so the tests run in this order.
"""

from __future__ import annotations

import uuid

import cloudinary
import cloudinary.api
import cloudinary.exceptions
import cloudinary.uploader
import httpx
import pytest

from tests.sdk.conftest import make_image
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> RunningServer:
    running = start_server(tmp_path_factory.mktemp("abuse"), extra_env={
        "MEDIALOOM_UNSIGNED_UPLOADS_PER_MINUTE": "5", "MEDIALOOM_AUTH_FAILURES_PER_MINUTE": "5"})
    cloudinary.config(cloud_name=running.cloud_name, api_key=running.api_key, api_secret=running.api_secret,
                      upload_prefix=running.base_url)
    yield running
    running.stop()
    cloudinary.reset_config()


def test_a_flood_of_unsigned_uploads_meets_429(guarded, tmp_path) -> None:
    image = make_image(tmp_path / "flood.png")
    preset = f"open{uuid.uuid4().hex[:8]}"
    cloudinary.api.create_upload_preset(name=preset, unsigned=True, folder="flood")
    for _ in range(5):
        cloudinary.uploader.unsigned_upload(str(image), preset)
    with pytest.raises(cloudinary.exceptions.RateLimited, match="Too many unsigned uploads"):
        cloudinary.uploader.unsigned_upload(str(image), preset)
    assert len(cloudinary.api.resources(type="upload", prefix="flood/")["resources"]) == 5
    # Signed calls from the same address are not part of that budget.
    assert cloudinary.uploader.upload(str(image), folder="signed")["public_id"].startswith("signed/")

    refused = httpx.post(f"{guarded.base_url}/v1_1/{guarded.cloud_name}/image/upload",
                         data={"upload_preset": preset}, files={"file": image.read_bytes()})
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many unsigned uploads" in refused.json()["error"]["message"]


def test_a_secret_guesser_is_locked_out_even_with_the_right_secret(guarded, tmp_path) -> None:
    for _ in range(5):
        with pytest.raises(cloudinary.exceptions.AuthorizationRequired):
            cloudinary.api.ping(api_secret="guess")
    # The right secret is refused too, on the Upload API before the body is read (nothing is
    # stored) as on the Admin API. (Not through the SDK's Admin calls here: urllib3 under it
    # waits out a GET's Retry-After and tries again, which a user would want and a test not.)
    with pytest.raises(cloudinary.exceptions.RateLimited, match="Too many failed authentications"):
        cloudinary.uploader.upload(str(make_image(tmp_path / "late.png")), public_id="locked/out")
    answer = httpx.get(f"{guarded.base_url}/v1_1/{guarded.cloud_name}/ping",
                       auth=(guarded.api_key, guarded.api_secret))
    assert answer.status_code == 429 and 1 <= int(answer.headers["retry-after"]) <= 60
    assert "Too many failed authentications" in answer.json()["error"]["message"]
