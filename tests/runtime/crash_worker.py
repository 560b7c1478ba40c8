"""A process that runs flows with the DBOS runtime, for the crash tests to kill and restart.

    python -m tests.runtime.crash_worker --db URL --executor ID --journal FILE --plan FILE

The plan (JSON) lists runs: ``{"runs": [{"id": ..., "key": ... or null, "flow": {...}}]}``.
The worker starts the runtime with file-journaled fake hooks (tests/runtime/fakes.py), writes a
``ready`` event, submits every run of the plan (again: a restarted worker does it too, and the
runtime must start each run id once), waits for all of them, writes their recorded steps to
``--steps-out`` and an ``all_done`` event, and exits 0 (1 when some run did not finish within
``--timeout``). ``--recover ID`` first hands the runs of a dead executor id to the queues. The
test SIGKILLs it at will.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from medialoom.flows.runtime.base import Submission
from medialoom.flows.runtime.dbos import DbosRuntime
from tests.runtime.fakes import FakeHooks, Journal


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--executor", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--plan", required=True)
    parser.add_argument("--steps-out")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--recover", action="append", default=[], help="executor ids of dead workers")
    parser.add_argument("--long-wait", type=float, default=60.0, help="longer waits are continuations")
    args = parser.parse_args()

    with open(args.plan, encoding="utf-8") as file:
        plan = json.load(file)
    journal = Journal(args.journal)
    hooks = FakeHooks(journal, {run["id"]: run["flow"] for run in plan["runs"]})
    runtime = DbosRuntime(args.db, executor_id=args.executor, worker_concurrency=args.concurrency,
                          polling_interval_sec=0.05, long_wait_seconds=args.long_wait)
    runtime.start(hooks)
    journal.add(event="ready")
    if args.recover:
        journal.add(event="recovered", runs=runtime.recover(args.recover))
    for run in plan["runs"]:
        runtime.submit(Submission(run["id"], run.get("key")))
    journal.add(event="submitted")
    deadline = time.monotonic() + args.timeout
    statuses = {}
    for run in plan["runs"]:
        statuses[run["id"]] = runtime.wait(run["id"], max(0.0, deadline - time.monotonic()))
    if args.steps_out:
        with open(args.steps_out, "w", encoding="utf-8") as file:
            json.dump({run["id"]: runtime.steps(run["id"]) for run in plan["runs"]}, file)
    journal.add(event="all_done", statuses=statuses)
    runtime.stop()
    return 0 if all(status is not None for status in statuses.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
