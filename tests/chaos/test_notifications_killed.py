"""Chaos: 500 events while the process delivering them is killed with SIGKILL again and again.

The server only records events (``MEDIALOOM_NOTIFICATIONS=false``); a ``medialoom worker``
delivers them and is killed at moments chosen to hurt: while receivers hold requests it has sent
(sent, not yet acknowledged) and while the API keeps committing new events (committed, not yet
sent). Every event must arrive at least once, none may be lost, a duplicate must carry the same
id and bytes, and the events about one asset must first arrive in the order they happened.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import cloudinary
import cloudinary.api
import cloudinary.uploader
import pytest

from tests.postgres import temporary_database
from tests.receiver import Receiver, running_receiver
from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV, make_image
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk

ASSETS = 50
EVENTS = 500  # one upload per asset, then tag changes
GENERATORS = 5  # client threads, each owning ASSETS / GENERATORS assets
KILLS = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def recording_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    """A server that writes events but leaves their delivery to workers."""
    env = {**SERVER_ENV, "MEDIALOOM_NOTIFICATIONS": "false", "MEDIALOOM_NOTIFICATION_TIMEOUT_SECONDS": "1",
           "MEDIALOOM_NOTIFICATION_LEASE_SECONDS": "2"}
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        running = start_server(tmp_path_factory.mktemp(f"chaos-{request.param}"), extra_env=env)
        stack.callback(running.stop)
        os.environ["CLOUDINARY_URL"] = running.cloudinary_url
        cloudinary.reset_config()
        yield running
        cloudinary.reset_config()


class Worker:
    """One ``medialoom worker`` process at a time, started again after every kill."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.process: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        env = {**os.environ, **(self.server.extra_env or {}), "MEDIALOOM_NOTIFICATIONS": "true"}
        log = open(Path(self.server.data_dir) / "worker.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen([sys.executable, "-m", "medialoom", "worker", "--data-dir",
                                         str(self.server.data_dir)], stdout=log, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "the worker died on its own"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


def _generate(image: Path, failures: list[BaseException], owner: int) -> None:
    """Upload this thread's assets, then change their tags in turns, at a pace that spreads the
    events over several worker lifetimes."""
    try:
        public_ids = [cloudinary.uploader.upload(str(image), public_id=f"chaos/{owner}-{n}")["public_id"]
                      for n in range(ASSETS // GENERATORS)]
        tag_changes = (EVENTS - ASSETS) // GENERATORS
        for n in range(tag_changes):
            cloudinary.uploader.add_tag(f"t{n}", [public_ids[n % len(public_ids)]])
            time.sleep(0.06)
    except BaseException as error:  # noqa: BLE001 - reported by the test thread
        failures.append(error)


def _wait_for_sends(receiver: Receiver, timeout: float = 30.0) -> None:
    """Until the worker has a request out that the receiver has not answered yet."""
    deadline = time.monotonic() + timeout
    while receiver.in_flight == 0:
        assert time.monotonic() < deadline, "the worker sent nothing"
        time.sleep(0.002)


def test_no_event_is_lost_when_the_dispatcher_is_killed(recording_server: RunningServer, tmp_path: Path) -> None:
    server = recording_server
    image = make_image(tmp_path / "small.png", 32, 32)
    with running_receiver(ORIGIN_HOST) as receiver:
        receiver.delay = 0.02  # a window between a request's arrival and its answer
        cloudinary.api.create_trigger(receiver.url("chaos"), "all")
        failures: list[BaseException] = []
        generators = [threading.Thread(target=_generate, args=(image, failures, owner)) for owner in range(GENERATORS)]
        for thread in generators:
            thread.start()
        worker = Worker(server)
        worker.start()
        try:
            while worker.kills < KILLS or any(thread.is_alive() for thread in generators):
                _wait_for_sends(receiver)
                time.sleep(random.uniform(0, 0.05))
                worker.kill()
                time.sleep(random.uniform(0, 0.5))  # events keep committing while nobody sends
                worker.start()
            for thread in generators:
                thread.join()
            assert not failures, failures

            outbox = server.query("SELECT id, event_id, asset_id FROM outbox_events ORDER BY id")
            assert len(outbox) == EVENTS
            expected = {event_id for _, event_id, _ in outbox}
            deadline = time.monotonic() + 90
            while {r.headers["webhook-id"] for r in receiver.at("chaos")} < expected:
                assert time.monotonic() < deadline, f"{len(expected - _ids(receiver))} events never arrived"
                assert worker.process.poll() is None, "the worker died on its own"
                time.sleep(0.1)
        finally:
            worker.stop()

        received = receiver.at("chaos")
        assert _ids(receiver) == expected  # every one, and nothing that was never an event
        bodies: dict[str, bytes] = {}
        for notification in received:  # a duplicate is the same event: same id, same bytes
            assert bodies.setdefault(notification.headers["webhook-id"], notification.body) == notification.body
        duplicates = len(received) - len(expected)
        assert duplicates > 0, "no kill landed between a send and its acknowledgement"

        first_arrival: dict[str, int] = {}
        for position, notification in enumerate(received):
            first_arrival.setdefault(notification.headers["webhook-id"], position)
        by_asset: dict[str, list[str]] = defaultdict(list)
        for _, event_id, asset_id in outbox:
            by_asset[asset_id].append(event_id)
        assert len(by_asset) == ASSETS
        for asset_id, event_ids in by_asset.items():
            arrivals = [first_arrival[event_id] for event_id in event_ids]
            assert arrivals == sorted(arrivals), f"events about {asset_id} arrived out of order"
        print(f"{worker.kills} kills, {len(received)} requests for {len(expected)} events ({duplicates} repeated)")


def _ids(receiver: Receiver) -> set[str]:
    return {r.headers["webhook-id"] for r in receiver.at("chaos")}
