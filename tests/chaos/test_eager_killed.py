"""Chaos: the server is killed with SIGKILL while it renders ``eager_async`` transformations.

The upload has answered ``processing``; the work must not be lost with the process. After a
restart the job is taken up again (its lease ran out), the files are made, and the ``eager``
event with the upload's batch id reaches its URL once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import cloudinary
import cloudinary.api
import cloudinary.uploader
import pytest
from sqlalchemy import create_engine, text

from tests.postgres import temporary_database
from tests.receiver import running_receiver
from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV, make_image
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk

# Heavy enough that the server is still rendering when it is killed right after answering.
EAGER = [{"width": 2400, "crop": "scale", "effect": "blur:1500"},
         {"width": 1600, "crop": "scale", "effect": "blur:1500"},
         {"width": 320, "crop": "scale"}]


@pytest.fixture(params=["sqlite", "postgresql"])
def eager_server(request, tmp_path_factory) -> Iterator[tuple[RunningServer, str]]:
    env = {**SERVER_ENV, "MEDIALOOM_EAGER_LEASE_SECONDS": "2"}
    with contextlib.ExitStack() as stack:
        data_dir = tmp_path_factory.mktemp(f"eager-{request.param}")
        if request.param == "postgresql":
            database_url = env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        else:
            database_url = f"sqlite:///{data_dir / 'medialoom.db'}"
        running = start_server(data_dir, extra_env=env)
        stack.callback(lambda: running.stop())
        os.environ["CLOUDINARY_URL"] = running.cloudinary_url
        cloudinary.reset_config()
        yield running, database_url
        cloudinary.reset_config()


def _unfinished_jobs(database_url: str) -> int:
    return len(_attempts(database_url))


def _attempts(database_url: str) -> list[int]:
    """How many times each unfinished eager job has been started."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text("select attempts from eager_jobs")).scalars())
    finally:
        engine.dispose()


def _kill(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)


def test_eager_async_work_survives_a_killed_server(eager_server, tmp_path) -> None:
    server, database_url = eager_server
    source = make_image(tmp_path / "large.jpg", 3000, 2000)
    with running_receiver(ORIGIN_HOST) as receiver:
        uploaded = cloudinary.uploader.upload(str(source), public_id="chaos/eager", eager=EAGER, eager_async=True,
                                              eager_notification_url=receiver.url("eager"))
        _kill(server)
        assert [entry["status"] for entry in uploaded["eager"]] == ["processing"] * 3
        assert _unfinished_jobs(database_url) == 1, "the kill came after the work was done: it proves nothing"

        started = time.monotonic()
        server.restart()
        [event] = receiver.wait_for("eager", timeout=90)
        taken = time.monotonic() - started
        body = event.payload
        assert body["batch_id"] == uploaded["eager"][0]["batch_id"]
        assert [entry.get("status") for entry in body["eager"]] == [None, None, None], body["eager"]
        assert [entry["width"] for entry in body["eager"]] == [2400, 1600, 320]

        derived = cloudinary.api.resource("chaos/eager")["derived"]
        assert {item["transformation"] for item in derived} == {
            "c_scale,e_blur:1500,w_2400", "c_scale,e_blur:1500,w_1600", "c_scale,w_320"}
        assert _unfinished_jobs(database_url) == 0
        time.sleep(3)  # longer than a lease: a second taking-up would have sent a second event
        assert len(receiver.at("eager")) == 1, f"taken up after {taken:.1f} s"


def test_a_job_that_kills_its_process_each_time_ends_failed(eager_server, tmp_path) -> None:
    """After three starts that all ended with the process, the fourth writes the event with every
    entry failed instead of trying again (the job may be what kills it)."""
    server, database_url = eager_server
    source = make_image(tmp_path / "poison.jpg", 3000, 2000)
    with running_receiver(ORIGIN_HOST) as receiver:
        uploaded = cloudinary.uploader.upload(str(source), public_id="chaos/poison", eager=EAGER,
                                              eager_async=True, eager_notification_url=receiver.url("eager"))
        _kill(server)
        for attempt in (2, 3):
            server.restart()
            deadline = time.monotonic() + 60
            while _attempts(database_url) != [attempt]:  # taken up again: kill it while it renders
                assert time.monotonic() < deadline, _attempts(database_url)
                time.sleep(0.05)
            _kill(server)
        server.restart()
        [event] = receiver.wait_for("eager", timeout=60)
        assert event.payload["batch_id"] == uploaded["eager"][0]["batch_id"]
        assert {entry["status"] for entry in event.payload["eager"]} == {"failed"}
        assert all("Gave up after 3 attempts" in entry["reason"] for entry in event.payload["eager"])
        assert _unfinished_jobs(database_url) == 0
