"""Chaos: 300 runs of a three-block flow while the server executing them is killed with SIGKILL
and started again, several times.

Each block calls a loopback receiver with the step's idempotency key, so the receiver sees
every execution of every block. Every run must finish, none may be lost, and a block that had
finished must not run again: a block's call may repeat only across a kill that came before the
next block's first call (the kill interrupted it; it never finished).
"""

from __future__ import annotations

import contextlib
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import httpx
import pytest

from tests.postgres import temporary_database
from tests.receiver import Receiver, running_receiver
from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV
from tests.sdk.helpers import flows_api
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk

RUNS = 300
KILLS = 4
BLOCKS = ("first", "second", "third")


@pytest.fixture(params=["sqlite", "postgresql"])
def flow_server(request, tmp_path_factory) -> Iterator[RunningServer]:
    env = dict(SERVER_ENV)
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        running = start_server(tmp_path_factory.mktemp(f"flow-chaos-{request.param}"), extra_env=env)
        stack.callback(lambda: running.stop())
        yield running


def _flow(receiver: Receiver) -> dict:
    blocks = {name: {"type": "http.request", "params": {
        "method": "POST", "url": receiver.url(name), "body": {"n": "{{ trigger.inputs.n }}"}},
        "retry": {"max_attempts": 5, "backoff_seconds": 0.5}} for name in BLOCKS}
    edges = [{"from": "trigger", "to": "first"}, {"from": "first", "port": "ok", "to": "second"},
             {"from": "second", "port": "ok", "to": "third"}]
    return {"name": "chaos", "trigger": {"type": "manual", "params": {"parameters": [{"name": "n", "type": "number"}]}},
            "blocks": blocks, "edges": edges}


def _start_runs(server: RunningServer, flow_id: str, failures: list[BaseException]) -> None:
    """Start RUNS runs, waiting out the server's deaths (a start whose answer died with the
    server may have started: the flow's run list, not this loop, is what counts)."""
    try:
        for n in range(RUNS):
            while True:
                try:
                    flows_api(server, "POST", f"flows/{flow_id}/runs", {"inputs": {"n": n}})
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
    except BaseException as error:  # noqa: BLE001 - reported by the test
        failures.append(error)


def test_every_run_finishes_once_through_sigkills(flow_server: RunningServer) -> None:
    server = flow_server
    with running_receiver(ORIGIN_HOST) as receiver:
        receiver.delay = 0.01
        flow = flows_api(server, "POST", "flows", {"document": _flow(receiver)})
        started = time.monotonic()
        failures: list[BaseException] = []
        starter = threading.Thread(target=_start_runs, args=(server, flow["flow_id"], failures))
        starter.start()
        kills: list[float] = []
        while len(kills) < KILLS:
            time.sleep(random.uniform(1.0, 2.5))
            # Kill while blocks are being called (between a call and its recorded end).
            deadline = time.monotonic() + 10
            while receiver.in_flight == 0 and time.monotonic() < deadline:
                time.sleep(0.002)
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            kills.append(time.time())
            server.restart()
        starter.join()
        assert not failures, failures

        deadline = time.monotonic() + 180
        while True:
            runs = flows_api(server, "GET", f"flows/{flow['flow_id']}/runs?max_results=500")["runs"]
            if len(runs) >= RUNS and all(run["status"] in ("succeeded", "failed") for run in runs):
                break
            assert time.monotonic() < deadline, \
                f"{sum(run['status'] not in ('succeeded', 'failed') for run in runs)} runs never finished"
            time.sleep(0.5)
        assert {run["status"] for run in runs} == {"succeeded"}
        run_ids = [run["run_id"] for run in runs]
        numbers = {flows_api(server, "GET", f"flow_runs/{run_id}")["trigger"]["inputs"]["n"] for run_id in run_ids}
        assert numbers == set(range(RUNS))  # none lost

    calls: dict[tuple[str, str], list[float]] = defaultdict(list)  # (run, block) -> receipt times
    for received in receiver.received:
        run_id, block, _iteration = received.headers["idempotency-key"].split(":")
        calls[(run_id, block)].append(received.at)
    for run_id in run_ids:
        for block in BLOCKS:
            assert calls[(run_id, block)], f"{run_id} never called {block}"
    repeated = 0
    for (run_id, block), times in calls.items():
        if len(times) == 1:
            continue
        repeated += len(times) - 1
        following = BLOCKS.index(block) + 1
        next_started = min(calls[(run_id, BLOCKS[following])]) if following < len(BLOCKS) else None
        for first, again in zip(times, times[1:]):
            between = [kill for kill in kills if first <= kill <= again]
            assert between, f"{block} of {run_id} ran again without a kill in between"
            assert next_started is None or next_started > between[0], \
                f"{block} of {run_id} ran again after it had finished"
    print(f"{len(kills)} kills, {len(run_ids)} runs finished after {time.monotonic() - started:.1f} s, "
          f"{repeated} interrupted block calls repeated")
