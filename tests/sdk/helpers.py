"""Raw calls for the cases the SDK cannot produce (forged signatures, stale timestamps ...)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time

import cloudinary
import cloudinary.api
import cloudinary.utils
import httpx

from tests.server import RunningServer


def medialoom(server: RunningServer, *args: str) -> str:
    """Run the ``medialoom`` command on the server's data (and its database, when it has one)."""
    completed = subprocess.run([sys.executable, "-m", "medialoom", *args, "--data-dir", str(server.data_dir)],
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, **(server.extra_env or {}), "MEDIALOOM_PUBLIC_URL": server.base_url})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def use(cloudinary_url: str) -> None:
    """Point the SDK at another environment or server (the autouse fixture resets it after the test)."""
    os.environ["CLOUDINARY_URL"] = cloudinary_url
    cloudinary.reset_config()


def sign(server: RunningServer, params: dict, *, timestamp: int | None = None) -> dict:
    params = {**params, "timestamp": str(timestamp if timestamp is not None else int(time.time()))}
    signature = cloudinary.utils.api_sign_request(
        {k: v for k, v in params.items() if v not in (None, "")}, server.api_secret, "sha1", 2)
    return {**params, "signature": signature, "api_key": server.api_key}


def post(server: RunningServer, action: str, data: dict, *, resource_type: str = "image",
         files: dict | None = None, headers: dict | None = None) -> httpx.Response:
    fields = {f"{key}[]" if isinstance(value, list) else key: value for key, value in data.items()}
    return httpx.post(f"{server.base_url}/v1_1/{server.cloud_name}/{resource_type}/{action}",
                      data=fields, files=files, headers=headers or {}, timeout=30)


def basic_auth(server: RunningServer) -> dict[str, str]:
    token = base64.b64encode(f"{server.api_key}:{server.api_secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def error_message(response: httpx.Response) -> str:
    return response.json()["error"]["message"]


def ensure_metadata_fields(*definitions: dict) -> None:
    """Define structured metadata fields the test needs (once per server)."""
    from cloudinary.exceptions import NotFound

    for definition in definitions:
        try:
            cloudinary.api.metadata_field_by_field_id(definition["external_id"])
        except NotFound:
            cloudinary.api.add_metadata_field(definition)


SKU_FIELD = {"type": "string", "external_id": "sku", "label": "SKU"}
COLORS_FIELD = {"type": "set", "external_id": "colors", "label": "Colors",
                "datasource": {"values": [{"external_id": "red", "value": "Red"},
                                          {"external_id": "blue", "value": "Blue"}]}}


def flows_api(server: RunningServer, method: str, path: str, body: object = None, expect: int = 200) -> dict:
    """A call to medialoom's flows API (``path`` under /v1_1/<cloud>/), answered with ``expect``."""
    response = httpx.request(method, f"{server.base_url}/v1_1/{server.cloud_name}/{path}", json=body,
                             headers=basic_auth(server), timeout=30)
    assert response.status_code == expect, response.text
    return response.json()


def finished_run(server: RunningServer, run_id: str, timeout: float = 60) -> dict:
    """The run once it has succeeded or failed."""
    deadline = time.monotonic() + timeout
    while True:
        run = flows_api(server, "GET", f"flow_runs/{run_id}")
        if run["status"] in ("succeeded", "failed"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.1)
