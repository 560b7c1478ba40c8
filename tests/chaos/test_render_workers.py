"""Chaos: render workers die or hang under a real server (reliability IMG-04).

Renderings run in child processes of the server. Here a worker is killed with the signals a
decoder bug ends in (SIGSEGV, SIGABRT) while it renders, a rendering runs past its time limit,
and the server itself is killed while a worker renders. Each time only the rendering concerned
fails, with a Cloudinary-shaped 400 saying why; the server and its other requests go on, and
no worker outlives the server.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cloudinary
import cloudinary.uploader
import cloudinary.utils
import httpx
import pytest
import pyvips

from tests.sdk.conftest import SERVER_ENV, make_image
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk

# ~25 s of CPU on a 3000x2000 image: still rendering whenever the test acts on it.
ENDLESS = "e_blur:2000/e_blur:2000"
# ~3 s: long enough to be in flight while another worker dies.
SLOW = "e_blur:2000"


@pytest.fixture
def server(request, tmp_path) -> Iterator[RunningServer]:
    env = {**SERVER_ENV, **getattr(request, "param", {})}
    running = start_server(tmp_path / "server", extra_env=env)
    os.environ["CLOUDINARY_URL"] = running.cloudinary_url
    cloudinary.reset_config()
    yield running
    running.stop()
    cloudinary.reset_config()


@pytest.fixture
def photos(server, tmp_path) -> dict[str, str]:
    source = make_image(tmp_path / "big.jpg", 3000, 2000, Q=50)
    return {name: cloudinary.uploader.upload(str(source), public_id=name)["public_id"]
            for name in ("victim", "bystander")}


def url(public_id: str, transformation: str) -> str:
    return cloudinary.utils.cloudinary_url(public_id, raw_transformation=transformation, format="jpg")[0]


def render_workers(server: RunningServer) -> list[int]:
    pid = server.process.pid
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return [child for child in children if b"medialoom.delivery.render_child" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy_worker(server: RunningServer, not_one_of: set[int] = frozenset()) -> int:
    """A render worker of the server, other than ``not_one_of``, once it has started rendering
    (its CPU time is past its start-up)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for pid in set(render_workers(server)) - set(not_one_of):
            try:
                if cpu_seconds(pid) > 1.0:
                    return pid
            except FileNotFoundError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no render worker got busy:\n{server.log()}")


def gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or b"Z" == _state(pid):
            return True
        time.sleep(0.05)
    return False


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:
        return b"Z"


def test_a_worker_that_crashes_fails_only_its_own_request(server, photos) -> None:
    with ThreadPoolExecutor(2) as pool:
        victim = pool.submit(httpx.get, url("victim", ENDLESS), timeout=120)
        crashing = busy_worker(server)
        bystander = pool.submit(httpx.get, url("bystander", SLOW), timeout=120)
        busy_worker(server, not_one_of={crashing})
        os.kill(crashing, signal.SIGSEGV)  # as a decoder's memory bug ends
        crashed, rendered = victim.result(), bystander.result()

    assert crashed.status_code == 400
    assert "the renderer crashed on it (SIGSEGV)" in crashed.headers["x-cld-error"]
    assert rendered.status_code == 200, rendered.headers.get("x-cld-error")
    assert pyvips.Image.new_from_buffer(rendered.content, "").width == 3000
    assert server.process.poll() is None
    # The same image renders again, in a new worker.
    again = httpx.get(url("victim", "w_300"), timeout=60)
    assert again.status_code == 200 and pyvips.Image.new_from_buffer(again.content, "").width == 300
    assert crashing not in render_workers(server)


def test_a_file_that_keeps_crashing_workers_is_refused_without_a_try(server, photos) -> None:
    for attempt, how in enumerate((signal.SIGABRT, signal.SIGSEGV)):
        with ThreadPoolExecutor(1) as pool:
            answer = pool.submit(httpx.get, url("victim", f"{ENDLESS},w_{2000 + attempt}"), timeout=120)
            os.kill(busy_worker(server), how)
            assert answer.result().status_code == 400
    workers_before = render_workers(server)

    refused = httpx.get(url("victim", "w_200"), timeout=60)
    assert refused.status_code == 400
    assert "this file stopped the renderer 2 times; it is refused for another 10 min" in refused.headers["x-cld-error"]
    assert render_workers(server) == workers_before  # refused before any worker was asked
    other = httpx.get(url("bystander", "w_200"), timeout=60)
    assert other.status_code == 200


@pytest.mark.parametrize("server", [{"MEDIALOOM_RENDER_TIMEOUT_SECONDS": "2"}], indirect=True)
def test_a_rendering_past_its_time_limit_is_stopped(server, photos) -> None:
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(httpx.get, url("victim", ENDLESS), timeout=120)
        worker = busy_worker(server)
        stopped = answer.result()
    assert stopped.status_code == 400
    assert "rendering took longer than 2 s and was stopped" in stopped.headers["x-cld-error"]
    assert gone(worker), "the worker of a stopped rendering was left running"
    # A timeout is not held against the file: it renders when asked for something lighter.
    assert httpx.get(url("victim", "w_200"), timeout=60).status_code == 200


def test_no_worker_outlives_a_killed_server(server, photos) -> None:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(httpx.get, url("victim", ENDLESS), timeout=120)
        worker = busy_worker(server)
        server.process.kill()
        server.process.wait()
        assert gone(worker), "a render worker went on rendering after its server was killed"
