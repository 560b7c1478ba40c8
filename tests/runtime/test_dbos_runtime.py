"""The DBOS runtime runs flows durably, on SQLite and on PostgreSQL: blocks in order with their
outputs, retries by each block's policy with durable waits, runs of one partition key one at a
time (other keys side by side), and, when its process is SIGKILLed, the next process with the
same executor id resumes every run at the interrupted block without re-running finished ones.

No DBOS mocks: the runtime runs for real against a throw-away system database; the hooks are
fakes (tests/runtime/fakes.py) that journal every attempt. The crash tests drive a worker
process (tests/runtime/crash_worker.py) they kill with SIGKILL and start again.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from medialoom.flows.runtime.base import Submission
from medialoom.flows.runtime.dbos import DbosRuntime
from tests.postgres import temporary_database
from tests.runtime.fakes import FakeHooks, Journal, chain

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", "postgres"]


@contextmanager
def system_database(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'runtime.sqlite'}"
    else:
        with temporary_database() as url:
            yield url


@pytest.fixture(scope="module", params=BACKENDS)
def running(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """One runtime per backend for the in-process tests (DBOS is a singleton per process)."""
    with system_database(request.param, tmp_path_factory.mktemp("runtime")) as url:
        hooks = FakeHooks(Journal())
        runtime = DbosRuntime(url, executor_id="in-process", worker_concurrency=8, polling_interval_sec=0.05)
        runtime.start(hooks)
        try:
            yield runtime, hooks
        finally:
            runtime.stop()


def new_run(hooks: FakeHooks, document: dict[str, Any]) -> str:
    run_id = f"run_{uuid.uuid4().hex[:12]}"
    hooks.flows[run_id] = document
    return run_id


def events(hooks: FakeHooks, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [event for event in list(hooks.journal.events) if event.get("run") == run_id and event["event"] == kind]


def attempts(hooks: FakeHooks, run_id: str) -> list[tuple[str, int]]:
    return [(event["block"], event["attempt"]) for event in events(hooks, run_id, "started")]


# -- in process ---------------------------------------------------------------------------------


def test_a_three_block_flow_runs_once_to_completion(running: tuple) -> None:
    runtime, hooks = running
    run_id = new_run(hooks, chain({"value": 1}, {"value": "{{ steps.b1.output.value }}-two"}, {"value": 3}))
    runtime.submit(Submission(run_id))
    runtime.submit(Submission(run_id))  # the same run id twice: one run
    assert runtime.wait(run_id, 30) == "succeeded"
    runtime.submit(Submission(run_id))  # and again once it is over
    time.sleep(0.3)

    assert attempts(hooks, run_id) == [("b1", 1), ("b2", 1), ("b3", 1)]
    assert len(events(hooks, run_id, "load")) == 1
    [result] = hooks.finished_results[run_id]
    assert result.status == "succeeded" and result.error == ""
    assert result.steps == {"b1": {"value": 1, "attempt": 1}, "b2": {"value": "1-two", "attempt": 1},
                            "b3": {"value": 3, "attempt": 1}}
    assert runtime.status([run_id, "run_never_submitted"]) == {run_id: "succeeded"}
    assert [step["name"] for step in runtime.steps(run_id)] == ["b1#1", "b2#1", "b3#1"]
    with pytest.raises(KeyError):
        runtime.wait("run_never_submitted", 0.1)


def test_a_failing_block_is_retried_by_its_policy_with_waits_in_between(running: tuple) -> None:
    runtime, hooks = running
    retry = {"max_attempts": 3, "backoff_seconds": 0.1, "backoff_rate": 2}
    enough = new_run(hooks, chain({"value": 1}, {"fail_attempts": 2, "retry": retry}, {"value": 3}))
    raising = new_run(hooks, chain({"raise_attempts": 2, "retry": retry}))
    too_few = new_run(hooks, chain({"value": 1}, {"fail_attempts": 2, "retry": {**retry, "max_attempts": 2}},
                                   {"value": 3}))
    fatal = new_run(hooks, chain({"fatal": True, "retry": retry}))
    handled = new_run(hooks, {
        "name": "handled", "trigger": {"type": "manual"},
        "blocks": {"risky": {"type": "action", "params": {"fail_attempts": 9},
                             "retry": {"max_attempts": 2, "backoff_seconds": 0}},
                   "cleanup": {"type": "action", "params": {"value": "{{ steps.risky.error.message }}"}}},
        "edges": [{"from": "trigger", "to": "risky"}, {"from": "risky", "port": "error", "to": "cleanup"}]})
    for run_id in (enough, raising, too_few, fatal, handled):
        runtime.submit(Submission(run_id))

    assert runtime.wait(enough, 30) == "succeeded"
    assert attempts(hooks, enough) == [("b1", 1), ("b2", 1), ("b2", 2), ("b2", 3), ("b3", 1)]
    b2 = [event for event in hooks.journal.events if event.get("run") == enough and event.get("block") == "b2"]
    starts = [event["t"] for event in b2 if event["event"] == "started"]
    ends = [event["t"] for event in b2 if event["event"] == "finished"]
    assert starts[1] - ends[0] >= 0.1 - 0.01 and starts[2] - ends[1] >= 0.2 - 0.01  # backoff 0.1 s, then 0.2 s
    assert [step["name"] for step in runtime.steps(enough)] == [
        "b1#1", "b2#1", "DBOS.sleep", "b2#2", "DBOS.sleep", "b2#3", "b3#1"]

    assert runtime.wait(raising, 30) == "succeeded"  # an exception from the hooks fails the attempt
    assert attempts(hooks, raising) == [("b1", 1), ("b1", 2), ("b1", 3)]

    assert runtime.wait(too_few, 30) == "failed"
    assert attempts(hooks, too_few) == [("b1", 1), ("b2", 1), ("b2", 2)]
    [result] = hooks.finished_results[too_few]
    assert result.status == "failed" and "'b2'" in result.error and "attempt 2 failed" in result.error

    assert runtime.wait(fatal, 30) == "failed"
    assert attempts(hooks, fatal) == [("b1", 1)]  # not retryable: one attempt

    assert runtime.wait(handled, 30) == "succeeded"
    assert attempts(hooks, handled) == [("risky", 1), ("risky", 2), ("cleanup", 1)]
    assert hooks.finished_results[handled][0].steps["cleanup"]["value"] == "attempt 2 failed"


def test_runs_of_one_key_never_overlap_and_other_runs_do(running: tuple) -> None:
    runtime, hooks = running
    document = chain({"sleep": 0.25})
    same_key = [new_run(hooks, document) for _ in range(4)]
    own_keys = [new_run(hooks, document) for _ in range(4)]
    no_key = [new_run(hooks, document) for _ in range(3)]
    for index, run_id in enumerate(same_key + own_keys + no_key):
        key = "asset-shared" if run_id in same_key else (f"asset-{index}" if run_id in own_keys else None)
        runtime.submit(Submission(run_id, key))
    for run_id in same_key + own_keys + no_key:
        assert runtime.wait(run_id, 30) == "succeeded"

    def interval(run_id: str) -> tuple[float, float]:
        return events(hooks, run_id, "started")[0]["t"], events(hooks, run_id, "finished")[0]["t"]

    def overlapping(run_ids: list[str]) -> int:
        spans = sorted(interval(run_id) for run_id in run_ids)
        return sum(1 for (_, end), (start, _) in zip(spans, spans[1:]) if start < end)

    assert overlapping(same_key) == 0
    assert overlapping(own_keys) >= 1
    assert overlapping(no_key) >= 1


def test_delays_are_durable_steps_and_pure_blocks_are_not_recorded(running: tuple) -> None:
    runtime, hooks = running
    run_id = new_run(hooks, {
        "name": "loop", "trigger": {"type": "manual"},
        "blocks": {"wait": {"type": "delay", "params": {"seconds": 0.3}},
                   "each": {"type": "for_each", "params": {"items": ["a", "b"]}},
                   "body": {"type": "action", "params": {"value": "{{ item }}"}}},
        "edges": [{"from": "trigger", "to": "wait"}, {"from": "wait", "port": "ok", "to": "each"},
                  {"from": "each", "port": "item", "to": "body"}]})
    started = time.monotonic()
    runtime.submit(Submission(run_id))
    assert runtime.wait(run_id, 30) == "succeeded"
    assert time.monotonic() - started >= 0.3
    assert [step["name"] for step in runtime.steps(run_id)] == [
        "wait#1", "DBOS.sleep", "body[0]#1", "body[1]#1"]  # for_each is pure: computed, not recorded
    assert [event["key"] for event in events(hooks, run_id, "started")] == [f"{run_id}:body:0", f"{run_id}:body:1"]


def concurrent_loop(items: int, concurrency: int, sleep: float) -> dict[str, Any]:
    return {"name": "fan-out", "trigger": {"type": "manual"},
            "blocks": {"each": {"type": "for_each", "params": {"items": list(range(items)), "concurrency": concurrency}},
                       "body": {"type": "action", "params": {"value": "{{ item }}", "sleep": sleep}},
                       "after": {"type": "action", "params": {"value": "{{ steps.body.output.value }}"}}},
            "edges": [{"from": "trigger", "to": "each"}, {"from": "each", "port": "item", "to": "body"},
                      {"from": "each", "port": "done", "to": "after"}]}


def most_at_once(journal: list[dict[str, Any]], block: str) -> int:
    """The largest number of attempts of ``block`` between their start and finish at one time."""
    moments = sorted((e["t"], 1 if e["event"] == "started" else -1) for e in journal
                     if e.get("block") == block and e["event"] in ("started", "finished"))
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


def test_a_concurrent_loop_runs_items_side_by_side_up_to_its_cap(running: tuple) -> None:
    runtime, hooks = running
    run_id = new_run(hooks, concurrent_loop(6, 3, 0.3))
    runtime.submit(Submission(run_id, "asset-fan-out"))
    assert runtime.wait(run_id, 60) == "succeeded"
    mine = [event for event in list(hooks.journal.events) if event.get("run") == run_id]
    assert most_at_once(mine, "body") == 3
    assert sorted(e["key"] for e in mine if e["event"] == "started" and e["block"] == "body") == [
        f"{run_id}:body:{index}" for index in range(6)]
    [result] = hooks.finished_results[run_id]
    assert result.steps["after"]["value"] == 5  # the last item's output, as one after another would leave it


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_worker_resumes_a_concurrent_loop_without_repeating_finished_items(backend: str,
                                                                                     tmp_path: Path) -> None:
    with system_database(backend, tmp_path) as url:
        worker = Worker(url, tmp_path, [{"id": "run_fan", "key": "asset-1", "flow": concurrent_loop(6, 2, 0.8)}])
        first = worker.spawn()
        wait_until(lambda: [e for e in worker.events() if e["event"] == "started" and e.get("key") == "run_fan:body:3"],
                   30, first)
        kill(first)
        worker.finish(worker.spawn(), 60)

    journal = worker.events()
    restarted = [e["t"] for e in journal if e["event"] == "ready"][1]
    finished_first = {e["key"] for e in journal
                      if e["event"] == "finished" and e.get("block") == "body" and e["t"] < restarted}
    starts = Counter(e["key"] for e in journal if e["event"] == "started" and e.get("block") == "body")
    assert set(starts) == {f"run_fan:body:{index}" for index in range(6)}
    assert {"run_fan:body:0", "run_fan:body:1"} <= finished_first
    for key in finished_first:
        assert starts[key] == 1, key  # an item that had finished did not run again
    assert max(starts.values()) <= 2
    assert most_at_once([e for e in journal if e.get("pid") == journal[-1]["pid"]], "body") <= 2
    [finished] = [e for e in journal if e["event"] == "run_finished"]
    assert finished["status"] == "succeeded" and finished["steps"]["after"]["value"] == 5


def long_wait_flow() -> dict[str, Any]:
    return {"name": "waits", "trigger": {"type": "manual"},
            "blocks": {"b1": {"type": "action", "params": {"value": 1}},
                       "wait": {"type": "delay", "params": {"seconds": 1.5}},
                       "b2": {"type": "action", "params": {"value": "{{ steps.b1.output.value + 1 }}"}}},
            "edges": [{"from": "trigger", "to": "b1"}, {"from": "b1", "port": "ok", "to": "wait"},
                      {"from": "wait", "port": "ok", "to": "b2"}]}


def test_a_long_wait_frees_its_worker_and_a_continuation_carries_the_run_on(
        running: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, hooks = running
    monkeypatch.setattr(runtime, "long_wait_seconds", 0.5)
    run_id = new_run(hooks, long_wait_flow())
    runtime.submit(Submission(run_id, "asset-waits"))
    wait_until(lambda: events(hooks, run_id, "delay"), 30)
    time.sleep(0.3)
    assert runtime.status([run_id]) == {run_id: "running"}  # waiting, holding no thread
    # Meanwhile the same asset's next run is not held back by the wait.
    other = new_run(hooks, chain({"value": "meanwhile"}))
    runtime.submit(Submission(other, "asset-waits"))
    assert runtime.wait(other, 30) == "succeeded"
    assert not events(hooks, run_id, "run_finished")

    assert runtime.wait(run_id, 30) == "succeeded"
    assert attempts(hooks, run_id) == [("b1", 1), ("b2", 1)]  # b1 was not run again by the continuation
    [result] = hooks.finished_results[run_id]
    assert result.steps["b2"] == {"value": 2, "attempt": 1}
    # Its first workflow ended with the hand-over: the continuation is recorded as its last step.
    assert [step["name"] for step in runtime.steps(run_id)] == ["b1#1", "wait#1", "medialoom.run_flow"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_waiting_long_survives_its_worker_and_resumes_after_the_wait(backend: str, tmp_path: Path) -> None:
    with system_database(backend, tmp_path) as url:
        worker = Worker(url, tmp_path, [{"id": "run_wait", "key": "asset-1", "flow": long_wait_flow()}])
        first = worker.spawn("worker-1", "--long-wait", "0.5")
        wait_until(lambda: [e for e in worker.events() if e["event"] == "delay"], 30, first)
        time.sleep(0.3)  # handed over to the continuation, which waits in the system database
        kill(first)
        worker.finish(worker.spawn("worker-1", "--long-wait", "0.5"), 60)
    journal = worker.events()
    assert [e["block"] for e in journal if e["event"] == "started"] == ["b1", "b2"]
    [finished] = [e for e in journal if e["event"] == "run_finished"]
    assert finished["status"] == "succeeded" and finished["steps"]["b2"] == {"value": 2, "attempt": 1}


def test_a_cancelled_run_reads_stopped_and_a_run_that_cannot_load_failed(running: tuple) -> None:
    runtime, hooks = running
    run_id = new_run(hooks, chain({"sleep": 0.6}, {"value": 2}))
    runtime.submit(Submission(run_id, "asset-cancel"))
    wait_until(lambda: events(hooks, run_id, "started"), 30)
    assert runtime.status([run_id]) == {run_id: "running"}
    runtime.cancel(run_id)
    assert runtime.wait(run_id, 30) == "stopped"
    time.sleep(0.8)
    assert attempts(hooks, run_id) == [("b1", 1)] and run_id not in hooks.finished_results

    runtime.submit(Submission("run_not_in_the_hooks"))
    assert runtime.wait("run_not_in_the_hooks", 30) == "failed"
    assert "run_not_in_the_hooks" not in hooks.finished_results


def test_a_block_may_submit_another_run(running: tuple) -> None:
    """A call-flow block submits from inside a step: the run is queued on its own, not as a
    child of the calling run (DBOS would otherwise record the enqueue as a step)."""
    runtime, hooks = running
    child = new_run(hooks, chain({"value": "child"}))
    parent = new_run(hooks, chain({"value": "parent"}))
    execute = hooks.execute

    def submitting(run_id, call, attempt):  # noqa: ANN001, ANN202
        if run_id == parent:
            runtime.submit(Submission(child, "asset-child"))
        return execute(run_id, call, attempt)

    hooks.execute = submitting  # type: ignore[method-assign]
    try:
        runtime.submit(Submission(parent))
        assert runtime.wait(parent, 30) == "succeeded"
        assert runtime.wait(child, 30) == "succeeded"
    finally:
        del hooks.execute
    assert [step["name"] for step in runtime.steps(parent)] == ["b1#1"]


def wait_until(condition: Callable[[], Any], timeout: float, process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the worker exited with {process.returncode} before the condition held")
        time.sleep(0.01)
    raise AssertionError("timed out")


# -- killed processes ---------------------------------------------------------------------------


class Worker:
    """Starts tests/runtime/crash_worker.py processes on one system database and journal."""

    def __init__(self, url: str, directory: Path, runs: list[dict[str, Any]], concurrency: int = 8) -> None:
        self.url, self.directory, self.concurrency = url, directory, concurrency
        self.journal = str(directory / "journal.jsonl")
        self.plan = directory / "plan.json"
        self.plan.write_text(json.dumps({"runs": runs}))
        self.steps_out = directory / "steps.json"
        self.spawned = 0

    def spawn(self, executor: str = "worker-1", *extra: str) -> subprocess.Popen:
        self.spawned += 1
        output = open(self.directory / f"worker-{self.spawned}.log", "w")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        return subprocess.Popen(
            [sys.executable, "-m", "tests.runtime.crash_worker", "--db", self.url, "--executor", executor,
             "--journal", self.journal, "--plan", str(self.plan), "--steps-out", str(self.steps_out),
             "--concurrency", str(self.concurrency), *extra],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)

    def events(self) -> list[dict[str, Any]]:
        return Journal.read(self.journal)

    def finish(self, process: subprocess.Popen, timeout: float, expect: int = 0) -> None:
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the worker did not finish in {timeout} s: {self.log(self.spawned)}") from None
        assert code == expect, self.log(self.spawned)

    def log(self, number: int) -> str:
        return (self.directory / f"worker-{number}.log").read_text()[-4000:]


def kill(process: subprocess.Popen) -> float:
    moment = time.time()
    process.send_signal(signal.SIGKILL)
    process.wait()
    return moment


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_killed_worker_resumes_the_run_at_the_interrupted_block(backend: str, tmp_path: Path) -> None:
    with system_database(backend, tmp_path) as url:
        worker = Worker(url, tmp_path, [{"id": "run_crash", "key": "asset-1", "flow": chain(
            {"value": 1}, {"value": 2, "sleep": 2.0}, {"value": "{{ steps.b2.output.value }}"})}])
        first = worker.spawn()
        wait_until(lambda: [e for e in worker.events() if e["event"] == "started" and e["block"] == "b2"], 30, first)
        time.sleep(0.3)  # well inside the block's 2 s
        kill(first)
        assert not [e for e in worker.events() if e["event"] in ("run_finished", "all_done")]

        worker.finish(worker.spawn(), 60)

    journal = worker.events()
    started = [(e["block"], e["attempt"]) for e in journal if e["event"] == "started"]
    assert Counter(started) == {("b1", 1): 1, ("b2", 1): 2, ("b3", 1): 1}
    assert len({e["pid"] for e in journal if e["event"] == "started" and e["block"] == "b2"}) == 2
    assert {e["key"] for e in journal if e.get("block") == "b2"} == {"run_crash:b2:"}  # the same key both times
    assert [e["event"] for e in journal].count("load") == 2  # loaded again by the process that resumed it
    [finished] = [e for e in journal if e["event"] == "run_finished"]
    assert finished["status"] == "succeeded" and finished["steps"]["b3"] == {"value": 2, "attempt": 1}
    steps = json.loads(worker.steps_out.read_text())["run_crash"]
    assert [step["name"] for step in steps] == ["b1#1", "b2#1", "b3#1"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dead_workers_runs_resume_elsewhere_only_when_recovered_by_its_id(backend: str, tmp_path: Path) -> None:
    """DBOS resumes at launch only the runs of its own executor id; another process takes a dead
    one's runs when told to (``recover``), as a reaper would."""
    with system_database(backend, tmp_path) as url:
        worker = Worker(url, tmp_path, [{"id": "run_orphan", "key": "asset-1", "flow": chain(
            {"value": 1}, {"value": 2, "sleep": 1.0}, {"value": 3})}])
        first = worker.spawn("worker-1")
        wait_until(lambda: [e for e in worker.events() if e["event"] == "started" and e["block"] == "b2"], 30, first)
        kill(first)

        worker.finish(worker.spawn("worker-2", "--timeout", "1.5"), 30, expect=1)  # not its run
        assert [e["block"] for e in worker.events() if e["event"] == "started"] == ["b1", "b2"]

        worker.finish(worker.spawn("worker-2", "--recover", "worker-1"), 60)
    journal = worker.events()
    assert [e["runs"] for e in journal if e["event"] == "recovered"] == [["run_orphan"]]
    assert [e["block"] for e in journal if e["event"] == "started"] == ["b1", "b2", "b2", "b3"]
    assert [e["status"] for e in journal if e["event"] == "run_finished"] == ["succeeded"]


def chaos_runs(count: int, seed: int) -> list[dict[str, Any]]:
    chooser = random.Random(seed)
    runs = []
    for index in range(count):
        key = None if index % 3 == 0 else f"asset-{index % 7}"
        blocks = [{"value": n, "sleep": round(chooser.uniform(0.005, 0.06), 3)} for n in range(3)]
        runs.append({"id": f"run_{index:03d}", "key": key, "flow": chain(*blocks)})
    return runs


@pytest.mark.parametrize("backend", BACKENDS)
def test_runs_survive_repeated_kills_and_no_recorded_block_runs_again(backend: str, tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    print(f"chaos seed {seed}")
    chooser = random.Random(seed)
    runs = chaos_runs(100, seed)
    kills: list[float] = []
    with system_database(backend, tmp_path) as url:
        worker = Worker(url, tmp_path, runs)
        for _ in range(3):
            process = worker.spawn()
            ready = len([e for e in worker.events() if e["event"] == "ready"]) + 1
            wait_until(lambda: len([e for e in worker.events() if e["event"] == "ready"]) >= ready, 30, process)
            time.sleep(chooser.uniform(0.2, 1.2))
            kills.append(kill(process))
        worker.finish(worker.spawn(), 60)
        journal = worker.events()
        recorded = json.loads(worker.steps_out.read_text())

    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in journal:
        if "run" in event:
            by_run[event["run"]].append(event)
    interrupted = repeated = 0
    for run in runs:
        run_id = run["id"]
        mine = by_run[run_id]
        steps = recorded[run_id]
        assert [step["name"] for step in steps] == ["b1#1", "b2#1", "b3#1"], run_id
        assert {e["status"] for e in mine if e["event"] == "run_finished"} == {"succeeded"}, run_id
        for step in steps[1:4]:
            block = step["name"].split("#")[0]
            starts = [e for e in mine if e["event"] == "started" and e["block"] == block]
            assert starts, (run_id, block)
            assert {e["key"] for e in starts} == {f"{run_id}:{block}:"}
            assert {e["attempt"] for e in starts} == {1}
            # Once its step was recorded a block never starts again.
            assert max(e["t"] for e in starts) <= step["completed_at_ms"] / 1000 + 0.002, (run_id, block, starts)
            # Every extra start was preceded by a kill that interrupted the previous one.
            for earlier, later in zip(starts, starts[1:]):
                assert any(earlier["t"] <= moment <= later["t"] for moment in kills), (run_id, block)
            repeated += len(starts) - 1
            finishes = [e for e in mine if e["event"] == "finished" and e["block"] == block]
            interrupted += len(starts) - len(finishes)

    # Runs of one key never overlapped (only attempts that ran to the end are compared).
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        if run["key"] is None:
            continue
        mine = by_run[run["id"]]
        done = [e for e in mine if e["event"] == "finished"]
        begun = [e for e in mine if e["event"] == "started" and e["pid"] == done[0]["pid"]
                 and e["block"] == "b1"] if done else []
        if begun and len({e["pid"] for e in mine if e["event"] == "started"}) == 1:
            spans[run["key"]].append((begun[0]["t"], done[-1]["t"]))
    for key, intervals in spans.items():
        intervals.sort()
        assert all(start >= end for (_, end), (start, _) in zip(intervals, intervals[1:])), key
    print(f"chaos {backend}: {len(kills)} kills, {interrupted} attempts interrupted, {repeated} re-executed")
