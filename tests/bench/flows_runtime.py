"""What the DBOS runtime costs by itself (prints figures; not a test).

    .venv/bin/python -m tests.bench.flows_runtime [--runs 300] [--backends sqlite,sqlite-full,postgres]

No-op hooks (load returns a parsed flow held in memory, every block answers at once), so what
is measured is the runtime: queueing, checkpoints, the interpreter. For each backend:

* **batch**: ``--runs`` three-block runs submitted at once (no partition key, then one key per
  run), from the first submit until the hooks heard of every run's end; runs/s, block steps/s,
  and this process's CPU time per run (the machine has 2 CPUs: the database shares them).
* **per block**: one run at a time (worker concurrency 1) of 1 and of 11 blocks, 20 each; the
  run's own duration (from its ``load`` to its ``finished`` hook, so queue polling is left out);
  the difference of medians over 10 is the cost of one block attempt.

Both for blocks with effects (a DBOS step per attempt) and for pure blocks (``replayable``:
computed in the workflow, no step), as conditions and set_variables are.
* **submit**: the median time ``submit`` takes during the batch (one durable insert, competing
  with the running batch for the CPU and the database).

Queue polling (``--polling``, 0.05 s here; the runtime's default is 0.2 s) bounds how fast
runs start: each poll of a queue starts at most ``worker_concurrency`` runs.

Backends: ``sqlite`` (WAL, synchronous=NORMAL, the default), ``sqlite-full`` (WAL,
synchronous=FULL) and ``postgres`` (a throw-away database on the local server).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Any, Iterator

from medialoom.flows.definition import parse
from medialoom.flows.interpreter import BlockCall, Outcome, RunResult
from medialoom.flows.runtime.base import RunSpec, Submission
from medialoom.flows.runtime.dbos import DbosRuntime
from tests.postgres import temporary_database
from tests.runtime.fakes import BLOCKS, TRIGGERS, chain


class NoopHooks:
    def __init__(self) -> None:
        self.pure = False  # whether blocks are replayable (no step) or have effects (a step each)
        self.specs: dict[str, RunSpec] = {}
        self.loaded: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.done: set[str] = set()
        self.changed = threading.Condition()
        self.flows = {blocks: parse(chain(*[{"value": n} for n in range(blocks)]), BLOCKS, TRIGGERS)
                      for blocks in (1, 3, 11)}

    def add(self, run_id: str, blocks: int) -> None:
        self.specs[run_id] = RunSpec(self.flows[blocks], {})

    def load(self, run_id: str) -> RunSpec:
        self.loaded.setdefault(run_id, time.perf_counter())
        return self.specs[run_id]

    def replayable(self, call: BlockCall) -> bool:
        return self.pure

    def execute(self, run_id: str, call: BlockCall, attempt: int) -> Outcome:
        return Outcome("ok", {"n": call.params.get("value")})

    def finished(self, run_id: str, result: RunResult) -> None:
        self.ended[run_id] = time.perf_counter()
        with self.changed:
            self.done.add(run_id)
            self.changed.notify_all()

    def wait_all(self, run_ids: list[str], timeout: float = 300) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.done.issuperset(run_ids), timeout):
                raise TimeoutError(f"{len(set(run_ids) - self.done)} runs still pending")


@contextmanager
def database(backend: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if backend.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/runtime.sqlite", {
                "sqlite_synchronous": "FULL" if backend == "sqlite-full" else "NORMAL"}
    else:
        with temporary_database() as url:
            yield url, {}


def batch(runtime: DbosRuntime, hooks: NoopHooks, runs: int, keyed: bool) -> tuple[float, float, float]:
    ids = [f"run_{uuid.uuid4().hex[:12]}" for _ in range(runs)]
    for run_id in ids:
        hooks.add(run_id, 3)
    started, cpu = time.perf_counter(), time.process_time()
    submit_times = []
    for run_id in ids:
        before = time.perf_counter()
        runtime.submit(Submission(run_id, run_id if keyed else None))
        submit_times.append(time.perf_counter() - before)
    hooks.wait_all(ids)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    for run_id in ids:  # the workflows end just after their finished hook
        assert runtime.wait(run_id, 30) == "succeeded"
    return runs / elapsed, statistics.median(submit_times) * 1000, cpu / runs * 1000


def duration_ms(hooks: NoopHooks, run_id: str) -> float:
    return (hooks.ended[run_id] - hooks.loaded[run_id]) * 1000


def per_block(runtime: DbosRuntime, hooks: NoopHooks, count: int = 20) -> tuple[float, float, float]:
    durations: dict[int, list[float]] = {1: [], 11: []}
    for _ in range(count):
        for blocks in (1, 11):
            run_id = f"run_{uuid.uuid4().hex[:12]}"
            hooks.add(run_id, blocks)
            runtime.submit(Submission(run_id))
            assert runtime.wait(run_id, 60) == "succeeded"
            durations[blocks].append(duration_ms(hooks, run_id))
    one, eleven = statistics.median(durations[1]), statistics.median(durations[11])
    return one, eleven, (eleven - one) / 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--backends", default="sqlite,sqlite-full,postgres")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--polling", type=float, default=0.05, help="queue polling interval, seconds")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        with database(backend) as (url, options):
            hooks = NoopHooks()
            runtime = DbosRuntime(url, executor_id="bench", worker_concurrency=args.concurrency,
                                  polling_interval_sec=args.polling, **options)
            runtime.start(hooks)
            figures = {}
            try:
                warm = "run_warmup"
                hooks.add(warm, 3)
                runtime.submit(Submission(warm))
                runtime.wait(warm, 30)
                for pure in (False, True):
                    hooks.pure = pure
                    figures[pure] = [*batch(runtime, hooks, args.runs, keyed=False),
                                     batch(runtime, hooks, args.runs, keyed=True)[0]]
            finally:
                runtime.stop()
            sequential = DbosRuntime(url, executor_id="bench", worker_concurrency=1, polling_interval_sec=0.05,
                                     **options)
            sequential.start(hooks)
            try:
                for pure in (False, True):
                    hooks.pure = pure
                    figures[pure] += per_block(sequential, hooks)
            finally:
                sequential.stop()
        for pure, (free_rate, submit_ms, cpu_ms, keyed_rate, one, eleven, block) in figures.items():
            kind = "pure blocks (no step)" if pure else "blocks with effects (a step each)"
            print(f"{backend:12s} {kind}: batch of {args.runs} three-block runs (worker_concurrency="
                  f"{args.concurrency}, polling {args.polling} s): {free_rate:6.1f} runs/s unkeyed, "
                  f"{keyed_rate:6.1f} runs/s one key per run; submit {submit_ms:.2f} ms; "
                  f"this process's CPU {cpu_ms:.1f} ms per run")
            print(f"{'':12s} {kind}: one run at a time: 1 block {one:.2f} ms, 11 blocks {eleven:.2f} ms "
                  f"-> {block:.3f} ms per block attempt")


if __name__ == "__main__":
    main()
