"""The dispatcher's retry schedule under a controlled clock: a receiver that always answers 500
is tried at the documented intervals (jitter held at a chosen value), never early, and given up
after the last one, about a day after the first; each try is in the delivery log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from medialoom.auth.environments import Environments
from medialoom.db.session import Database
from medialoom.events import outbox
from medialoom.events.dispatcher import Dispatcher
from medialoom.events.endpoints import Endpoints
from medialoom.events.retry import DEFAULT_SCHEDULE, JITTER, RetrySchedule
from medialoom.events.sender import Sender
from medialoom.net.addresses import AllowList
from tests.db import migrated_sqlite
from tests.receiver import Receiver, running_receiver

RECEIVER_HOST = "127.0.0.2"
START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver(RECEIVER_HOST) as running:
        yield running


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    database = migrated_sqlite(tmp_path / "retries.db")
    yield database
    database.dispose()


def _dispatcher(db: Database, clock: Clock, jitter: float) -> Dispatcher:
    allow = AllowList.parse([RECEIVER_HOST])
    return Dispatcher(db, Sender(allow, timeout=5), RetrySchedule.parse(DEFAULT_SCHEDULE), clock=clock,
                      jitter=lambda: jitter)


def _one_event(db: Database, url: str) -> None:
    environments = Environments(db)
    env = environments.create("retries", "retries-key", "retries-secret")
    with db.write() as session:
        outbox.record(session, environment_id=env.id, notification_type="upload", payload={"public_id": "a"},
                      api_key=env.api_key, asset_id="asset-1", notification_url=url)


@pytest.mark.parametrize("jitter", [0.0, 0.5, 0.999])
def test_a_failing_receiver_is_retried_on_the_schedule_then_given_up(db, receiver, jitter) -> None:
    url = receiver.url("down")
    receiver.script["/down"] = [500] * 100
    _one_event(db, url)
    clock = Clock()
    dispatcher = _dispatcher(db, clock, jitter)
    schedule = RetrySchedule.parse(DEFAULT_SCHEDULE)
    factor = 1 + JITTER * (2 * jitter - 1)  # 0.8 .. 1.2
    try:
        dispatcher.run_once()
        assert len(receiver.at("down")) == 1
        for retry, nominal in enumerate(schedule.delays, start=1):
            due = clock.now + timedelta(seconds=nominal * factor)
            clock.now = due - timedelta(seconds=0.5)
            dispatcher.run_once()
            assert len(receiver.at("down")) == retry, f"retry {retry} went early"
            clock.now = due
            dispatcher.run_once()
            assert len(receiver.at("down")) == retry + 1, f"retry {retry} did not go when due"
        clock.now += timedelta(days=7)
        dispatcher.run_once()
        assert len(receiver.at("down")) == schedule.attempts  # given up: nothing more, ever
    finally:
        dispatcher.sender.close()

    elapsed = (clock.now - timedelta(days=7) - START).total_seconds()
    assert elapsed == pytest.approx(schedule.total_seconds * factor, abs=1)
    assert 0.8 * 86400 < schedule.total_seconds < 1.2 * 86400  # "about a day"

    env = Environments(db).by_cloud_name("retries")
    (delivery,) = Endpoints(db, AllowList.parse([RECEIVER_HOST])).deliveries(env)["deliveries"]
    assert delivery["status"] == "failed" and delivery["attempts"] == schedule.attempts
    assert [attempt["status_code"] for attempt in delivery["log"]] == [500] * schedule.attempts
