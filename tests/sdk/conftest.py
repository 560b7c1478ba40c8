"""A real medialoom server on loopback, and the official clients pointed at it.

The server may fetch remote URLs only from 127.0.0.2 (MEDIALOOM_OUTBOUND_ALLOW), where the
test origin listens; the SSRF canary listens on 127.0.0.1 and must never be reached.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import threading
from pathlib import Path

import cloudinary
import pyvips
import pytest

from tests.postgres import temporary_database
from tests.server import RunningServer, start_server

ORIGIN_HOST = "127.0.0.2"


SERVER_ENV = {
    "MEDIALOOM_OUTBOUND_ALLOW": ORIGIN_HOST,
    "MEDIALOOM_MAX_IMAGE_BYTES": str(10 * 1024 * 1024),
    "MEDIALOOM_MAX_RAW_BYTES": str(40 * 1024 * 1024),
    "MEDIALOOM_MAX_VIDEO_BYTES": str(20 * 1024 * 1024),
    "MEDIALOOM_MAX_IMAGE_MEGAPIXELS": "50",
    # Flow waits over a second are carried on by continuations (the default is a minute), so
    # that the flow tests exercise them.
    "MEDIALOOM_FLOW_LONG_WAIT_SECONDS": "1",
    # The whole suite calls from one address and tries many bad credentials on purpose; the
    # per-address budgets are tested with their defaults' shape in tests/abuse.
    "MEDIALOOM_AUTH_FAILURES_PER_MINUTE": "100000",
    "MEDIALOOM_UNSIGNED_UPLOADS_PER_MINUTE": "100000",
}


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory) -> RunningServer:
    """The whole client-facing suite runs once on the embedded SQLite and once on PostgreSQL."""
    data_dir = tmp_path_factory.mktemp(f"medialoom-sdk-{request.param}")
    with contextlib.ExitStack() as stack:
        env = dict(SERVER_ENV)
        if request.param == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        running = start_server(data_dir, extra_env=env)
        stack.callback(running.stop)
        yield running


@pytest.fixture(autouse=True)
def sdk_config(server: RunningServer):
    """Point the Python SDK at the server, the way a user would with CLOUDINARY_URL."""
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    yield
    cloudinary.reset_config()


def make_image(path: Path, width: int = 241, height: int = 51, **save) -> Path:
    """A noisy picture (noise keeps JPEGs from compressing to nothing)."""
    image = pyvips.Image.gaussnoise(width, height, mean=128, sigma=40).cast("uchar").bandjoin([128, 64])
    image.write_to_file(str(path), **save)
    return path


@pytest.fixture(scope="session")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    result = {
        "png": make_image(folder / "logo.png"),
        "jpg": make_image(folder / "photo.jpg", 400, 300, Q=90),
        "html_as_jpg": folder / "evil.jpg",
        "raw": folder / "notes.txt",
    }
    result["html_as_jpg"].write_text("<html><script>alert(1)</script></html>")
    result["raw"].write_text("plain text notes\n")
    return result


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class _Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="session")
def origin(files):
    """An HTTP origin on 127.0.0.2 serving the test files (allowed by the server)."""
    directory = str(files["png"].parent)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, *args):  # keep test output clean
            pass

    httpd = _Origin((ORIGIN_HOST, 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://{ORIGIN_HOST}:{httpd.server_address[1]}"
    httpd.shutdown()
