"""Flow engine benchmark through a real server (prints figures; not a test).

The issue's aims: at least 500 no-op three-block flows/s on SQLite, engine overhead under 1 ms
per block at p50, and end-to-end p50 under 50 ms from an upload's response to the last block's
HTTP request reaching a loopback receiver.

For each database (a fresh server each):

1. **no-op flows/s**: a flow of three ``set_variables`` blocks, ``--runs`` manual runs started
   through the flows API by 4 client threads; from the first start to the last run's end
   (polled from the run list); the server's CPU per run from /proc.
   **fan-out**: the same flow on ``tags_changed``, started by one ``add_tag`` call of the SDK on
   ``--runs`` assets (uploaded first): from the call to the last run's end, one run per asset,
   each holding its asset's lease. What a bulk change costs, without an HTTP request per run.
2. **per block**: one run at a time of a 1-block and an 11-block no-op flow (``--samples`` each);
   the difference of median run durations over 10 is what one more block costs. A run's
   ``duration_ms`` goes from its load to its end, so queueing is left out; the run log's writes
   are in. set_variables is a pure block (no checkpoint); what a block with effects costs the
   runtime: ``tests/bench/flows_runtime.py``.
3. **end to end**: a flow on ``asset_uploaded`` whose one block POSTs to a receiver; the SDK
   uploads ``--uploads`` small images one after another, paced; latency is the receipt's time
   minus the upload response's, p50/p90/p99.

The runtime alone, without the server and its run log: ``tests/bench/flows_runtime.py``.

    .venv/bin/python tests/bench/flows.py [--database sqlite|postgresql|both] [--runs 300]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

import cloudinary  # noqa: E402
import cloudinary.uploader  # noqa: E402
import httpx  # noqa: E402

from tests.postgres import temporary_database  # noqa: E402
from tests.receiver import Receiver, running_receiver  # noqa: E402
from tests.sdk.conftest import make_image  # noqa: E402
from tests.server import RunningServer, start_server  # noqa: E402

RECEIVER_HOST = "127.0.0.2"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Api:
    def __init__(self, server: RunningServer) -> None:
        self.base = f"{server.base_url}/v1_1/{server.cloud_name}"
        self.client = httpx.Client(auth=(server.api_key, server.api_secret), timeout=60)

    def __call__(self, method: str, path: str, body: object = None) -> dict:
        response = self.client.request(method, f"{self.base}/{path}", json=body)
        response.raise_for_status()
        return response.json()


def noop_flow(blocks: int) -> dict:
    names = [f"b{n}" for n in range(blocks)]
    edges = [{"from": "trigger", "to": names[0]}] + [
        {"from": a, "port": "ok", "to": b} for a, b in zip(names, names[1:])]
    return {"name": f"noop-{blocks}", "trigger": {"type": "manual"},
            "blocks": {name: {"type": "set_variables", "params": {"values": {name: 1}}} for name in names},
            "edges": edges}


def wait_all(api: Api, flow_id: str, count: int, timeout: float = 600) -> list[dict]:
    """The flow's runs once ``count`` of them have ended. Polls for unfinished ones only, so that
    the polling costs the server little next to what it measures."""
    deadline = time.monotonic() + timeout
    while True:
        unfinished = any(api("GET", f"flows/{flow_id}/runs?status={status}&max_results=1")["runs"]
                         for status in ("queued", "running"))
        if not unfinished:
            # Runs created between the two polls above are queued in this list: check it too.
            runs = all_runs(api, flow_id)
            if len(runs) >= count and all(run["status"] in ("succeeded", "failed", "stopped") for run in runs):
                return runs
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs of {flow_id} did not finish")
        time.sleep(0.05)


def all_runs(api: Api, flow_id: str) -> list[dict]:
    runs: list[dict] = []
    before = ""
    while True:
        page = api("GET", f"flows/{flow_id}/runs?max_results=500{before}")
        runs += page["runs"]
        if page["next_before"] is None:
            return runs
        before = f"&before={page['next_before']}"


def throughput(server: RunningServer, api: Api, runs: int) -> str:
    flow = api("POST", "flows", {"document": noop_flow(3)})
    cpu_before, started = cpu_seconds(server.process.pid), time.perf_counter()

    def start(share: int) -> None:
        for _ in range(share):
            api("POST", f"flows/{flow['flow_id']}/runs", {})

    threads = [threading.Thread(target=start, args=(runs // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    started_all = time.perf_counter() - started
    finished = wait_all(api, flow["flow_id"], runs // 4 * 4)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    failed = sum(run["status"] != "succeeded" for run in finished)
    return (f"no-op 3-block flows: {len(finished) / elapsed:.1f} flows/s ({len(finished)} runs in {elapsed:.1f} s; "
            f"starting them took {started_all:.1f} s), server CPU {cpu / len(finished) * 1000:.1f} ms per run, "
            f"{failed} failed")


def fan_out(server: RunningServer, api: Api, runs: int, folder: Path) -> str:
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    image = make_image(folder / "fan-out.png", 8, 8)
    public_ids = [cloudinary.uploader.upload(str(image), public_id=f"fan-out/{n}")["public_id"] for n in range(runs)]
    document = {**noop_flow(3), "name": "fan-out", "trigger": {"type": "tags_changed"}}
    flow = api("POST", "flows", {"document": document, "enabled": True})
    cpu_before, started = cpu_seconds(server.process.pid), time.perf_counter()
    for chunk in range(0, runs, 1000):  # the Upload API's limit per call
        cloudinary.uploader.add_tag("fan-out", public_ids[chunk:chunk + 1000])
    finished = wait_all(api, flow["flow_id"], runs)
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(server.process.pid) - cpu_before
    api("POST", f"flows/{flow['flow_id']}/disable")
    failed = [run for run in finished if run["status"] != "succeeded"]
    if failed:
        print(f"  a failed run: {failed[0]['error']}", flush=True)
    return (f"fan-out, one add_tag call on {runs} assets: {len(finished) / elapsed:.1f} flows/s ({elapsed:.2f} s), "
            f"server CPU {cpu / len(finished) * 1000:.1f} ms per run, {len(failed)} failed")


def per_block(api: Api, samples: int) -> str:
    timings: dict[int, list[float]] = {}
    for blocks in (1, 11):
        flow = api("POST", "flows", {"document": noop_flow(blocks)})
        timings[blocks] = []
        for _ in range(samples):
            run_id = api("POST", f"flows/{flow['flow_id']}/runs", {})["run_id"]
            while (run := api("GET", f"flow_runs/{run_id}"))["status"] not in ("succeeded", "failed"):
                time.sleep(0.01)
            timings[blocks].append(run["duration_ms"])
    one, eleven = statistics.median(timings[1]), statistics.median(timings[11])
    return (f"one run at a time, load to end in the server: 1 block p50 {one:.2f} ms, 11 blocks p50 "
            f"{eleven:.2f} ms -> {(eleven - one) / 10:.3f} ms per extra pure block (engine + run log)")


def end_to_end(server: RunningServer, api: Api, receiver: Receiver, uploads: int, folder: Path) -> str:
    hook = f"e2e-{server.data_dir.name}"  # the receiver outlives each database's server
    flow = api("POST", "flows", {"enabled": True, "document": {
        "name": "e2e", "trigger": {"type": "asset_uploaded", "params": {"folder": "bench"}},
        "blocks": {"tell": {"type": "http.request", "params": {
            "method": "POST", "url": receiver.url(hook), "body": {"asset_id": "{{ trigger.asset_id }}"}}}},
        "edges": [{"from": "trigger", "to": "tell"}]}})
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()
    image = make_image(folder / "e2e.png", 64, 64)
    answered: dict[str, float] = {}
    for _ in range(uploads):
        result = cloudinary.uploader.upload(str(image), folder="bench")
        answered[result["asset_id"]] = time.time()
        time.sleep(0.1)
    receiver.wait_for(hook, uploads, timeout=120)
    latencies = [(received.at - answered[received.payload["asset_id"]]) * 1000 for received in receiver.at(hook)]
    api("POST", f"flows/{flow['flow_id']}/disable")
    return (f"upload response -> the block's request at the receiver ({len(latencies)} uploads): "
            f"p50 {percentile(latencies, 0.5):.1f} ms, p90 {percentile(latencies, 0.9):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms")


@contextlib.contextmanager
def server_on(database: str, root: Path, poll: float | None) -> Iterator[RunningServer]:
    with contextlib.ExitStack() as stack:
        env = {"MEDIALOOM_OUTBOUND_ALLOW": RECEIVER_HOST}
        if poll is not None:
            env["MEDIALOOM_FLOW_POLL_SECONDS"] = str(poll)
        if database == "postgresql":
            env["MEDIALOOM_DATABASE_URL"] = stack.enter_context(temporary_database())
        server = start_server(root / database, extra_env=env)
        stack.callback(server.stop)
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--poll", type=float, default=None, help="MEDIALOOM_FLOW_POLL_SECONDS for the server")
    args = parser.parse_args()
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(f"flows benchmark on {os.cpu_count()} CPUs; aims: >= 500 no-op flows/s (SQLite), < 1 ms per block "
          "at p50, end-to-end p50 < 50 ms", flush=True)
    with tempfile.TemporaryDirectory(prefix="medialoom-flows-bench-") as scratch, \
            running_receiver(RECEIVER_HOST) as receiver:
        for database in databases:
            with server_on(database, Path(scratch), args.poll) as server:
                api = Api(server)
                print(f"\n{database}", flush=True)
                print("  " + throughput(server, api, args.runs), flush=True)
                print("  " + fan_out(server, api, args.runs, Path(scratch)), flush=True)
                print("  " + per_block(api, args.samples), flush=True)
                print("  " + end_to_end(server, api, receiver, args.uploads, Path(scratch)), flush=True)


if __name__ == "__main__":
    main()
