"""Schedule triggers under a controlled clock: a run per slot, in the flow's time zone, each slot
once however often and by however many schedulers it is seen, catch-up bounded to ten minutes,
nothing for slots before the flow was enabled; scheduled searches start a run per asset found
(keyed by asset) or one with the list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from medialoom.auth.environments import Environments
from medialoom.db.models import Flow, FlowRun
from medialoom.db.session import Database
from medialoom.flows.catalog import load_blocks
from medialoom.flows.runtime.base import Submission
from medialoom.flows.scheduler import Scheduler
from medialoom.flows.service import Flows
from tests.db import migrated_sqlite

T0 = datetime(2026, 1, 15, 12, 0, 30, tzinfo=UTC)  # a winter day: Paris is UTC+1


class Submitted(list):
    def __call__(self, submission: Submission) -> None:
        self.append(submission)


class FoundAssets:
    """The asset port's search, answering with fixed resources (the port is the boundary here)."""

    def __init__(self, resources: list[dict]) -> None:
        self.resources = resources
        self.searches = 0

    def search(self, expression: str, *, max_results: int = 50, **_: object) -> dict:
        self.searches += 1
        return {"resources": self.resources[:max_results], "total_count": len(self.resources)}


class NoRuntime:
    """Flows only saved here: nothing executes them."""

    def ensure_runtime(self) -> None:
        pass


@pytest.fixture
def setup(tmp_path):
    db = migrated_sqlite(tmp_path / "schedules.db")
    env = Environments(db).create("sched", "sched-key", "sched-secret")
    flows = Flows(db, load_blocks(), engine=NoRuntime())
    yield db, env, flows
    db.dispose()


def scheduled(flows: Flows, db: Database, env, trigger: dict) -> str:
    document = {"name": "scheduled", "trigger": trigger,
                "blocks": {"noop": {"type": "set_variables", "params": {"values": {"a": 1}}}},
                "edges": [{"from": "trigger", "to": "noop"}]}
    flow_id = flows.create(env, document, enabled=True)["flow_id"]
    with db.write() as session:  # enabled at T0
        session.execute(update(Flow).where(Flow.flow_id == flow_id).values(updated_at=T0))
    return flow_id


def payloads(db: Database) -> list[dict]:
    with db.read() as session:
        return [row for row in session.scalars(select(FlowRun.trigger_payload).order_by(FlowRun.id))]


def test_a_run_per_slot_once_however_often_and_by_whomever_seen(setup) -> None:
    db, env, flows = setup
    scheduled(flows, db, env, {"type": "schedule", "params": {"cron": "*/2 * * * *"}})
    submitted = Submitted()
    scheduler = Scheduler(db, submitted, None)
    assert scheduler.tick(T0 + timedelta(minutes=5)) == 2
    assert [p["scheduled_for"] for p in payloads(db)] == ["2026-01-15T12:02:00Z", "2026-01-15T12:04:00Z"]
    assert scheduler.tick(T0 + timedelta(minutes=5)) == 0  # the same slots again: nothing
    assert Scheduler(db, submitted, None).tick(T0 + timedelta(minutes=5)) == 0  # another process: nothing
    assert scheduler.tick(T0 + timedelta(minutes=7)) == 1  # only the new slot
    assert len(submitted) == 3 and all(s.partition_key is None for s in submitted)


def test_catch_up_is_bounded_and_slots_before_enabling_never_run(setup) -> None:
    db, env, flows = setup
    scheduled(flows, db, env, {"type": "schedule", "params": {"cron": "* * * * *"}})
    scheduler = Scheduler(db, Submitted(), None)
    # Down for a day: only the last ten minutes' slots run.
    assert scheduler.tick(T0 + timedelta(days=1)) == 10
    slots = sorted(p["scheduled_for"] for p in payloads(db))
    assert slots[0] == "2026-01-16T11:51:00Z" and slots[-1] == "2026-01-16T12:00:00Z"


def test_paris_morning_is_eight_utc_in_winter(setup) -> None:
    db, env, flows = setup
    scheduled(flows, db, env, {"type": "schedule", "params": {"cron": "0 9 * * *", "timezone": "Europe/Paris"}})
    scheduler = Scheduler(db, Submitted(), None)
    assert scheduler.tick(datetime(2026, 1, 16, 7, 59, tzinfo=UTC)) == 0
    assert scheduler.tick(datetime(2026, 1, 16, 8, 0, 5, tzinfo=UTC)) == 1
    assert payloads(db)[0]["scheduled_for"] == "2026-01-16T08:00:00Z"


def test_a_scheduled_search_starts_a_run_per_asset_or_one_with_the_list(setup) -> None:
    db, env, flows = setup
    found = FoundAssets([{"asset_id": "a1", "public_id": "one"}, {"asset_id": "a2", "public_id": "two"}])
    per_asset = scheduled(flows, db, env, {"type": "scheduled_search", "params": {
        "cron": "*/5 * * * *", "expression": "tags=new"}})
    submitted = Submitted()
    scheduler = Scheduler(db, submitted, lambda _environment_id: found)
    assert scheduler.tick(T0 + timedelta(minutes=5)) == 2
    assert sorted(s.partition_key for s in submitted) == ["a1", "a2"]
    assert {p["public_id"] for p in payloads(db)} == {"one", "two"}
    assert scheduler.tick(T0 + timedelta(minutes=6)) == 0 and found.searches == 1  # the slot is done

    flows.update(env, per_asset, {**flows.get(env, per_asset)["document"], "trigger": {
        "type": "scheduled_search", "params": {"cron": "*/5 * * * *", "expression": "tags=new", "mode": "list"}}})
    with db.write() as session:
        session.execute(update(Flow).where(Flow.flow_id == per_asset).values(updated_at=T0 + timedelta(minutes=6)))
    assert scheduler.tick(T0 + timedelta(minutes=10)) == 1
    assert payloads(db)[-1]["total_count"] == 2 and len(payloads(db)[-1]["resources"]) == 2

    found.resources = []  # nothing found: a list run still goes (with an empty list), once
    assert scheduler.tick(T0 + timedelta(minutes=15)) == 1
    assert payloads(db)[-1]["resources"] == []
    assert scheduler.tick(T0 + timedelta(minutes=16)) == 0
    assert found.searches == 3


def test_invalid_schedules_are_refused_when_saved(setup) -> None:
    _db, env, flows = setup
    from medialoom.errors import BadRequest

    for params, problem in (({"cron": "every day"}, "five-field cron"),
                            ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "IANA time zone")):
        document = {"name": "bad", "trigger": {"type": "schedule", "params": params},
                    "blocks": {"noop": {"type": "stop"}}, "edges": [{"from": "trigger", "to": "noop"}]}
        with pytest.raises(BadRequest, match=problem):
            flows.create(env, document)
