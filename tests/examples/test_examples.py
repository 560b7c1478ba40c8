"""The examples in examples/ run as their READMEs say, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory) -> Iterator[RunningServer]:
    """A server that may call itself (signed notifications to a flow's webhook) and 127.0.0.2."""
    running = start_server(tmp_path_factory.mktemp("examples"),
                           extra_env={"MEDIALOOM_OUTBOUND_ALLOW": "127.0.0.1,127.0.0.2"})
    yield running
    running.stop()


@pytest.mark.parametrize("mode", [[], ["--webhook"]], ids=["moderation-trigger", "signed-webhook"])
def test_the_moderation_tutorial(open_server: RunningServer, mode: list[str]) -> None:
    completed = subprocess.run([sys.executable, str(EXAMPLES / "moderation" / "run.py"), *mode],
                               capture_output=True, text=True, timeout=180,
                               env={**os.environ, "CLOUDINARY_URL": open_server.cloudinary_url})
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "the tutorial worked" in completed.stdout
    runs = [line for line in completed.stdout.splitlines() if line.startswith("run ")]
    assert any("move(ok) -> report_approved(ok)" in line for line in runs), completed.stdout
    assert any("approved(false) -> report_rejected(ok)" in line for line in runs), completed.stdout
