"""Several product environments on one server, isolated from each other; the env commands."""

from __future__ import annotations

import cloudinary
import cloudinary.api
import cloudinary.uploader
import httpx
import pytest
from cloudinary.exceptions import AuthorizationRequired, NotFound

from tests.sdk.helpers import medialoom, use


@pytest.fixture(scope="module")
def second_env(server):
    output = medialoom(server, "env", "create", "second-env", "--folder-mode", "fixed")
    url = output.strip().split("=", 1)[1]
    assert url.startswith("cloudinary://") and "@second-env?upload_prefix=" in url
    return url


def test_env_list_and_url(server, second_env):
    listed = medialoom(server, "env", "list")
    assert server.cloud_name in listed and "second-env" in listed and "folder_mode=fixed" in listed
    assert medialoom(server, "env", "url", "second-env").strip() == second_env
    assert "up to date" in medialoom(server, "migrate")


def test_environments_are_isolated(server, second_env, files):
    first = cloudinary.uploader.upload(str(files["png"]), public_id="isolated/pic")
    use(second_env)
    try:
        assert cloudinary.api.config(settings=True)["settings"]["folder_mode"] == "fixed"
        with pytest.raises(NotFound):
            cloudinary.uploader.explicit("isolated/pic", type="upload")
        assert cloudinary.uploader.destroy("isolated/pic")["result"] == "not found"
        other = cloudinary.uploader.upload(str(files["jpg"]), public_id="isolated/pic", folder="f")
        assert other["asset_id"] != first["asset_id"] and other["folder"] == "f/isolated"
        # The first environment's key and secret mean nothing here.
        with pytest.raises(AuthorizationRequired):
            cloudinary.uploader.destroy("isolated/pic", api_key=server.api_key, api_secret=server.api_secret)
    finally:
        use(server.cloudinary_url)
    assert httpx.get(first["url"]).content == files["png"].read_bytes()
    # The same delivery path under the other cloud name does not reach the first asset.
    second_cloud_url = first["url"].replace(f"/{server.cloud_name}/", "/second-env/")
    assert httpx.get(second_cloud_url).status_code == 404
