"""The run hooks against a real database, driven by the interpreter as the runtime drives them:
a block that ignores its deadline is given up on at its timeout (the run log says so), and pure
blocks' log rows, held in memory, are all written by the time the run is recorded as over."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import BaseModel

from medialoom.auth.environments import Environments
from medialoom.flows.blocks.base import BlockType
from medialoom.flows.catalog import load_blocks
from medialoom.flows.interpreter import BlockCall, Interpreter, Outcome, Result
from medialoom.flows.runs import RunHooks
from medialoom.flows.runtime.base import Submission
from medialoom.flows.service import Flows
from medialoom.net.addresses import AllowList
from tests.db import migrated_sqlite


class Quiet:
    """An engine that executes nothing: runs stay queued."""

    def claims_key(self, connection, run_pk, run_id, key) -> bool:  # noqa: ANN001
        return False

    def submit(self, submission: Submission) -> None:
        pass

    def ensure_runtime(self) -> None:
        pass


class NoParams(BaseModel):
    pass


released = threading.Event()
ended = threading.Event()


def stubborn(ctx, params) -> Outcome:  # noqa: ANN001
    """Ignores ctx.deadline, as a hung call or a careless third-party block would."""
    released.wait(30)
    ended.set()
    return Outcome("ok", {"late": True})


STUBBORN = BlockType(name="test.stubborn", title="Stubborn", category="integration", description="hangs",
                     Params=NoParams, ports=("ok",), run=stubborn)


class Direct:
    """The interpreter's executor as the runtime is, minus durability: one attempt per block."""

    def __init__(self, hooks: RunHooks, run_id: str) -> None:
        self.hooks, self.run_id = hooks, run_id

    def run_block(self, call: BlockCall) -> Result:
        return self.hooks.execute(self.run_id, call, 1)

    def sleep(self, seconds: float) -> None:
        pass


@pytest.fixture
def setup(tmp_path):
    db = migrated_sqlite(tmp_path / "hooks.db")
    env = Environments(db).create("hooks", "hooks-key", "hooks-secret")
    blocks = {**load_blocks(), STUBBORN.name: STUBBORN}
    yield db, env, Flows(db, blocks, Quiet()), RunHooks(db, blocks, AllowList.parse([]))
    released.set()
    db.dispose()


def run_to_the_end(flows: Flows, hooks: RunHooks, env, document: dict) -> dict:  # noqa: ANN001
    flow_id = flows.create(env, document)["flow_id"]
    run_id = flows.run(env, flow_id, {})["run_id"]
    spec = hooks.load(run_id)
    hooks.finished(run_id, Interpreter(spec.flow, Direct(hooks, run_id), env=spec.env).run(spec.trigger))
    return flows.run_detail(env, run_id)


def test_a_block_that_ignores_its_deadline_fails_as_timed_out_at_its_timeout(setup) -> None:
    db, env, flows, hooks = setup
    released.clear()
    ended.clear()
    started = time.monotonic()
    run = run_to_the_end(flows, hooks, env, {
        "name": "hangs", "trigger": {"type": "manual"},
        "blocks": {"hang": {"type": "test.stubborn", "timeout_seconds": 0.5},
                   "after": {"type": "set_variables", "params": {"values": {"why": "{{ steps.hang.error.kind }}"}}}},
        "edges": [{"from": "trigger", "to": "hang"}, {"from": "hang", "port": "error", "to": "after"}]})
    assert time.monotonic() - started < 25 and not ended.is_set()  # given up on, not waited for
    assert run["status"] == "succeeded" and run["result"]["variables"] == {"why": "timeout"}
    [hang] = [step for step in run["steps"] if step["block"] == "hang"]
    assert hang["status"] == "failed" and hang["error"] == "timed out after 0.5 s"
    released.set()
    assert ended.wait(10)  # the abandoned attempt ends on its own


def test_pure_blocks_are_logged_by_the_time_the_run_is_over(setup) -> None:
    db, env, flows, hooks = setup
    run = run_to_the_end(flows, hooks, env, {
        "name": "pure", "trigger": {"type": "manual"},
        "blocks": {"a": {"type": "set_variables", "params": {"values": {"n": 1}}},
                   "check": {"type": "condition", "params": {"expression": "vars.n == 1"}},
                   "b": {"type": "set_variables", "params": {"values": {"n": "{{ vars.n + 1 }}"}}}},
        "edges": [{"from": "trigger", "to": "a"}, {"from": "a", "port": "ok", "to": "check"},
                  {"from": "check", "port": "true", "to": "b"}]})
    assert run["status"] == "succeeded" and run["started_at"] and run["finished_at"]
    assert [(step["block"], step["status"], step["port"]) for step in run["steps"]] == [
        ("a", "succeeded", "ok"), ("check", "succeeded", "true"), ("b", "succeeded", "ok")]
    assert run["steps"][2]["output"] == {"n": 2}
