"""Scaled out: a web process that only queues runs, and workers that execute them. When a worker
dies for good (SIGKILL, never restarted), a surviving worker takes its unfinished runs over once
it has been silent for the executor timeout, and they finish without repeating finished blocks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.postgres import temporary_database
from tests.receiver import running_receiver
from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV
from tests.sdk.helpers import flows_api
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk


@pytest.fixture(params=["sqlite", "postgresql"])
def web_only(request, tmp_path_factory) -> Iterator[RunningServer]:
    env = {**SERVER_ENV, "MEDIALOOM_FLOWS": "false", "MEDIALOOM_FLOW_EXECUTOR_TIMEOUT_SECONDS": "4"}
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        running = start_server(tmp_path_factory.mktemp(f"workers-{request.param}"), extra_env=env)
        stack.callback(running.stop)
        yield running


def worker(server: RunningServer, executor_id: str) -> subprocess.Popen:
    env = {**os.environ, **(server.extra_env or {}), "MEDIALOOM_FLOWS": "true", "MEDIALOOM_NOTIFICATIONS": "true",
           "MEDIALOOM_FLOW_EXECUTOR_ID": executor_id}
    log = open(server.data_dir / f"{executor_id}.log", "ab")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, "-m", "medialoom", "worker", "--data-dir", str(server.data_dir)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def test_a_dead_workers_runs_are_taken_over_by_a_live_one(web_only: RunningServer) -> None:
    server = web_only
    with running_receiver(ORIGIN_HOST) as receiver:
        document = {
            "name": "slow", "trigger": {"type": "manual"},
            "blocks": {"before": {"type": "http.request", "params": {"method": "POST", "url": receiver.url("before")}},
                       "wait": {"type": "delay", "params": {"seconds": 2}},
                       "after": {"type": "http.request", "params": {"method": "POST", "url": receiver.url("after")}}},
            "edges": [{"from": "trigger", "to": "before"}, {"from": "before", "port": "ok", "to": "wait"},
                      {"from": "wait", "port": "ok", "to": "after"}]}
        flow = flows_api(server, "POST", "flows", {"document": document})
        first = worker(server, "worker-1")
        try:
            time.sleep(3)  # worker-1 has created the runtime's database and heartbeats
            run_id = flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {})["run_id"]
            receiver.wait_for("before", timeout=30)  # worker-1 took it: the web process enqueued it directly
            time.sleep(1)  # "before" has finished (its step recorded); the run sleeps in "wait"
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            assert receiver.at("after") == []
            second = worker(server, "worker-2")
            try:
                receiver.wait_for("after", timeout=60)
                deadline = time.monotonic() + 30
                while (run := flows_api(server, "GET", f"flow_runs/{run_id}"))["status"] != "succeeded":
                    assert time.monotonic() < deadline, run
                    time.sleep(0.2)
                assert len(receiver.at("before")) == 1  # finished before the death: not repeated
            finally:
                second.terminate()
                second.wait(20)
        finally:
            if first.poll() is None:
                first.kill()
