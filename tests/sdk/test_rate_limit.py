"""The Admin API's hourly budget per environment: headers on every answer, 420 past it,
shared by every process (it is counted in the database, so it survives a restart)."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from tests.postgres import temporary_database
from tests.sdk.helpers import basic_auth
from tests.server import start_server


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_budget_runs_out_with_420_and_survives_a_restart(tmp_path, backend):
    with contextlib.ExitStack() as stack:
        env = {"MEDIALOOM_ADMIN_RATE_LIMIT": "4"}
        if backend == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        server = start_server(tmp_path, extra_env=env)
        stack.callback(server.stop)
        url = f"{server.base_url}/v1_1/{server.cloud_name}/ping"
        remaining = []
        while True:  # (starting the server already spent one call: its readiness ping)
            response = httpx.get(url, headers=basic_auth(server))
            assert response.headers["X-FeatureRateLimit-Limit"] == "4"
            assert response.headers["X-FeatureRateLimit-Reset"].endswith("GMT")
            if response.status_code != 200:
                break
            remaining.append(int(response.headers["X-FeatureRateLimit-Remaining"]))
        assert remaining == list(range(remaining[0], -1, -1)) and len(remaining) >= 2
        assert response.status_code == 420
        assert "Rate Limit Exceeded" in response.json()["error"]["message"]
        assert response.headers["X-FeatureRateLimit-Remaining"] == "0"
        server.restart()
        assert httpx.get(url, headers=basic_auth(server)).status_code == 420
        # Wrong credentials are refused before they can spend the budget of the environment.
        assert httpx.get(url, auth=("nobody", "wrong")).status_code == 401
