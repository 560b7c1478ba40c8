"""Outbound notification (webhook) delivery benchmark (prints figures; not a test).

The issue's aim: events dispatched per second to a loopback receiver, and latency from commit
to receipt (p50/p99); at least 500 events/s and p50 under 20 ms on this machine.

Everything runs on loopback: a medialoom server (tests/server.py, one process, a fresh data
dir), the official Cloudinary Python SDK as the client, and a receiver on 127.0.0.2 that the
server may POST to because ``MEDIALOOM_OUTBOUND_ALLOW=127.0.0.2``. One trigger for ``all``
points at the receiver, so every outbox row becomes exactly one delivery.

The receiver is a small asyncio HTTP/1.1 server (keep-alive) in its own process, so that the
client threads' GIL does not delay it: it records (webhook-id, time.time()) for every POST once
the body has been read, and answers 200 with a two-byte body. Before the phases it is loaded
by a self-test; its CPU per POST from /proc gives its capacity, which must be far above the
rates measured here for it not to be the bottleneck.

Phases, for each database chosen:

1. **drain (worker)**: a server with ``MEDIALOOM_NOTIFICATIONS=false`` (so nothing is sent),
   a backlog built with the SDK from several client threads, each owning its assets
   (``--assets`` tiny PNG uploads, then ``--tags`` add_tag calls per asset, each a new tag:
   one event per call; 250 x (1 + 3) = 1000 events by default). The dispatcher sends at most
   one event per asset per round (it keeps an asset's events in order), hence many assets.
   Then ``medialoom worker`` starts on the same data dir / database and drains the backlog.
   events/s counts from the first receipt to the last; CPU ms/event is the worker process's
   CPU (utime+stime from /proc, sampled every 10 ms) over that same window; the time from the
   worker's spawn to its first receipt (imports, first fan-out) is printed apart. Every
   event_id of outbox_events is checked against the receipts: missing and duplicate counts
   are printed, not asserted.
2. **latency paced**: a server with the dispatcher in its own process (the default), woken
   by each commit. One client thread calls add_tag at ``--rate`` events/s for ``--seconds``
   on rotating assets (so no asset's events wait behind each other). Latency is receipt time
   minus the outbox row's created_at, p50/p90/p99.
3. **latency loaded**: the same server, ``--loaded-clients`` threads calling add_tag as fast
   as they go for ``--seconds``, each on its own assets: achieved events/s and latency under
   load.
4. **loaded + worker**: the scaled-out set-up: the API process only records events
   (``MEDIALOOM_NOTIFICATIONS=false``) and a ``medialoom worker`` sends them; the same load.

created_at is stamped (to the microsecond) just before the change's transaction commits.
The details under the table also give two bounds from the client side: request sent ->
receipt (upper) and response received -> receipt (lower, may be negative).

CPU ms/event on latency rows is the whole server process (it serves the API calls too), so it
is not comparable with the worker's. Each row also shows /proc/pressure/cpu ``some avg10``
after it (a noisy machine shows up there; these machines change speed by up to 2x).

    .venv/bin/python tests/bench/events.py [--quick] [--database sqlite|postgresql|both]
        [--assets 250] [--tags 3] [--backlog-clients 4] [--rate 50] [--seconds 10]
        [--latency-assets 100] [--loaded-clients 4]

PostgreSQL must run on 127.0.0.1:5432 (tests/postgres.py makes a throw-away database per
phase). A default SQLite run takes about 35 s on 2 CPUs, --quick about 20 s; ``both`` twice that.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cloudinary  # noqa: E402
import cloudinary.api  # noqa: E402
import cloudinary.uploader  # noqa: E402
import pyvips  # noqa: E402

from tests.server import RunningServer, start_server, stop_process  # noqa: E402

RECEIVER_HOST = "127.0.0.2"  # not 127.0.0.1: the server must be told to allow it, as in production
AIM_EVENTS_PER_SECOND = 500.0
AIM_P50_MS = 20.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUICK_SIZES = {"assets": 100, "seconds": 4.0, "latency_assets": 40}


# -- the receiver (runs in a child process) ----------------------------------------------------

def run_receiver(host: str) -> None:
    """Serve until stdin closes. POST: record and answer 200. GET /_count, GET /_receipts and
    POST /_reset are the benchmark's own controls (same port, so no second server)."""
    receipts: list[tuple[str, float]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                # Stamped once the whole request is in: that is what a receiver could act on.
                received_at = time.time()
                answer = b"ok"
                if path == "/_count":
                    answer = str(len(receipts)).encode()
                elif path == "/_receipts":
                    answer = json.dumps(receipts).encode()
                elif path == "/_reset":
                    receipts.clear()
                elif method == "POST":
                    receipts.append((headers.get("webhook-id", ""), received_at))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                             + str(len(answer)).encode() + b"\r\n\r\n" + answer)
                if headers.get("connection", "").lower() == "close":
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, host, 0, backlog=256)
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        # The parent holds our stdin; when it goes (even if the parent crashes) we stop.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class Receiver:
    """The receiver process, seen from the benchmark."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--receiver", RECEIVER_HOST],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.base_url = f"http://{RECEIVER_HOST}:{int(line.split()[1])}"
        self.hook_url = f"{self.base_url}/hook"

    def _control(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(self.base_url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    def count(self) -> int:
        return int(self._control("GET", "/_count"))

    def receipts(self) -> list[tuple[str, float]]:
        return [(event_id, at) for event_id, at in json.loads(self._control("GET", "/_receipts"))]

    def reset(self) -> None:
        self._control("POST", "/_reset")

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def receiver_self_test(receiver: Receiver, posts: int, connections: int = 4) -> str:
    """Load the receiver with keep-alive POSTs of a typical notification size. The client here
    is slower than the receiver, so the wall rate is only a floor; the receiver's own CPU per
    POST is what tells its capacity."""
    body = json.dumps({"notification_type": "resource_tags_changed", "pad": "x" * 500}).encode()
    port = int(receiver.base_url.rsplit(":", 1)[1])

    def client(count: int, index: int) -> None:
        connection = http.client.HTTPConnection(RECEIVER_HOST, port, timeout=10)
        for number in range(count):
            connection.request("POST", "/hook", body=body, headers={
                "Content-Type": "application/json", "webhook-id": f"selftest-{index}-{number}"})
            connection.getresponse().read()
        connection.close()

    cpu_before = process_cpu_seconds(receiver.process.pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(posts // connections, index)) for index in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = process_cpu_seconds(receiver.process.pid) - cpu_before
    got = receiver.count()
    receiver.reset()
    sent = posts // connections * connections
    per_post_us = cpu / sent * 1e6 if sent else float("nan")
    capacity = f"~{1e6 / per_post_us:,.0f} POST/s per core" if per_post_us > 0 else "too fast to measure"
    return (f"receiver self-test: {sent} POSTs over {connections} keep-alive connections in {wall:.2f} s "
            f"({sent / wall:,.0f}/s, client-bound), {got} recorded; receiver CPU {per_post_us:.0f} us/POST "
            f"({capacity})")


# -- measuring ---------------------------------------------------------------------------------

def process_cpu_seconds(pid: int) -> float:
    """utime+stime of a process plus its live children's (uvicorn with one worker has none,
    but a future version might fork)."""
    pids = [pid]
    try:
        pids += [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    total = 0
    for one in pids:
        try:
            # The command name may hold spaces and parentheses: fields are counted after the last ')'.
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime stime
    return total / CLOCK_TICKS


class CpuSampler:
    """Samples a process's CPU every 10 ms, so CPU can be read at moments known only afterwards
    (the first and last receipt)."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), process_cpu_seconds(self.pid)))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, moment: float) -> float:
        """CPU seconds at the last sample taken at or before ``moment``."""
        before = [cpu for sampled_at, cpu in self.samples if sampled_at <= moment]
        return before[-1] if before else self.samples[0][1]


def cpu_pressure() -> str:
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return line.split("avg10=")[1].split()[0]
    except (OSError, IndexError):
        return "-"


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def epoch_seconds(value: object) -> float:
    """created_at as a Unix time. SQLite gives back text (the query is raw SQL, so no column
    types apply), PostgreSQL an aware datetime; a naive one is UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"unexpected created_at {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def added_tag(payload: object) -> str | None:
    """The tag a resource_tags_changed event reports added (each call here adds a unique one)."""
    if isinstance(payload, str):
        payload = json.loads(payload)
    try:
        return payload["resources"][0]["added"][0]
    except (KeyError, IndexError, TypeError):
        return None


def wait_for_receipts(receiver: Receiver, expected: int, *, quiet_seconds: float = 15.0,
                      limit_seconds: float = 300.0) -> None:
    """Until ``expected`` receipts have come, or nothing has come for ``quiet_seconds``."""
    last_count, last_change = -1, time.monotonic()
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        count = receiver.count()
        if count >= expected:
            return
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        elif time.monotonic() - last_change > quiet_seconds:
            return
        time.sleep(0.05)


# -- the client side ---------------------------------------------------------------------------

def use_server(server: RunningServer) -> None:
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()


def tiny_png(folder: Path) -> Path:
    path = folder / "tiny.png"
    path.write_bytes(pyvips.Image.black(8, 8, bands=3).pngsave_buffer())
    return path


def run_threads(count: int, work: Callable[[int], None]) -> float:
    """Run ``work(index)`` on ``count`` threads; the wall time. The first error is raised."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            work(index)
        except BaseException as error:  # noqa: BLE001 - carried to the main thread
            errors.append(error)

    started = time.perf_counter()
    threads = [threading.Thread(target=guarded, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def upload_assets(png: Path, prefix: str, count: int, clients: int) -> list[str]:
    public_ids = [f"{prefix}/{number:05d}" for number in range(count)]
    run_threads(clients, lambda index: [cloudinary.uploader.upload(str(png), public_id=public_id)
                                        for public_id in public_ids[index::clients]])
    return public_ids


@dataclass
class TagCall:
    """One add_tag call, timed by the client (for the client-side latency bounds)."""
    sent_at: float
    answered_at: float


# -- results -----------------------------------------------------------------------------------

@dataclass
class Row:
    database: str
    phase: str
    events: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms_per_event: float | None = None
    cpu_owner: str = ""
    pressure: str = "-"
    details: list[str] = field(default_factory=list)
    intervals: int | None = None  # when events/s counts gaps between receipts rather than events

    @property
    def rate(self) -> float:
        counted = self.events if self.intervals is None else self.intervals
        return counted / self.seconds if self.seconds > 0 else float("nan")


def latency_figures(values: list[float]) -> str:
    if not values:
        return "no events"
    return (f"p50 {percentile(values, 0.5):.1f} / p90 {percentile(values, 0.9):.1f} / "
            f"p99 {percentile(values, 0.99):.1f} / max {max(values):.1f} ms")


# -- environments ------------------------------------------------------------------------------

@contextmanager
def database_url(database: str) -> Iterator[str | None]:
    """None for SQLite (the server's default, a file in its data dir)."""
    if database == "sqlite":
        yield None
        return
    from tests.postgres import temporary_database

    with temporary_database() as url:
        yield url


def server_env(url: str | None, *, notifications: bool) -> dict[str, str]:
    env = {"MEDIALOOM_OUTBOUND_ALLOW": RECEIVER_HOST, "MEDIALOOM_NOTIFICATIONS": str(notifications).lower()}
    if url:
        env["MEDIALOOM_DATABASE_URL"] = url
    return env


def start_worker(server: RunningServer) -> tuple[subprocess.Popen, Path]:
    log_path = server.data_dir / "worker.log"
    env = {**os.environ, "MEDIALOOM_CLOUD_NAME": server.cloud_name, "MEDIALOOM_API_KEY": server.api_key,
           "MEDIALOOM_API_SECRET": server.api_secret, **(server.extra_env or {}), "MEDIALOOM_NOTIFICATIONS": "true"}
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "medialoom", "worker", "--data-dir", str(server.data_dir)],
                                   stdout=log_file, stderr=subprocess.STDOUT, env=env)
    return process, log_path


# -- phase 1: drain ----------------------------------------------------------------------------

def drain_phase(database: str, url: str | None, root: Path, receiver: Receiver, args: argparse.Namespace) -> Row:
    receiver.reset()
    server = start_server(root / f"{database}-drain", extra_env=server_env(url, notifications=False))
    worker = None
    try:
        use_server(server)
        cloudinary.api.create_trigger(receiver.hook_url, "all")
        png = tiny_png(server.data_dir)

        # The backlog: each client thread uploads and tags only its own assets, so no two
        # threads touch one asset and each asset's events are in a known order.
        started = time.perf_counter()
        public_ids = upload_assets(png, "drain", args.assets, args.backlog_clients)

        def tag_own(index: int) -> None:
            for round_number in range(args.tags):
                for public_id in public_ids[index::args.backlog_clients]:
                    cloudinary.uploader.add_tag(f"t{round_number}", [public_id])

        run_threads(args.backlog_clients, tag_own)
        built_seconds = time.perf_counter() - started
        expected = [event_id for (event_id,) in server.query("select event_id from outbox_events")]
        undispatched = server.query("select count(*) from outbox_events where dispatched_at is null")[0][0]
        if receiver.count():
            print(f"  warning: {receiver.count()} notifications arrived before the worker started", flush=True)

        spawned_at = time.time()
        worker, worker_log = start_worker(server)
        sampler = CpuSampler(worker.pid)
        wait_for_receipts(receiver, len(expected))
        time.sleep(0.2)  # a duplicate sent late would still show up
        sampler.stop()
        receipts = receiver.receipts()
        if worker.poll() is not None:
            print(f"  worker exited with {worker.returncode}:\n{worker_log.read_text()[-3000:]}", flush=True)

        times = sorted(at for _, at in receipts)
        first, last = (times[0], times[-1]) if times else (spawned_at, spawned_at)
        # n receipts span n-1 intervals: the first receipt starts the clock.
        window = last - first
        delivered_in_window = max(len(times) - 1, 0)
        cpu_window = sampler.at(last) - sampler.at(first)
        row = Row(database, "drain (worker)", len(times), window, intervals=delivered_in_window,
                  pressure=cpu_pressure(),
                  cpu_ms_per_event=cpu_window / delivered_in_window * 1000 if delivered_in_window else None,
                  cpu_owner="worker")

        counts = Counter(event_id for event_id, _ in receipts)
        missing = len(set(expected) - counts.keys())
        duplicates = sum(count - 1 for count in counts.values() if count > 1)
        strangers = len(counts.keys() - set(expected))
        row.details.append(
            f"backlog: {len(expected)} events ({args.assets} uploads + {args.assets * args.tags} add_tag, "
            f"{args.backlog_clients} client threads) built in {built_seconds:.1f} s "
            f"({len(expected) / built_seconds:.0f} events/s), {undispatched} undispatched when the worker started")
        row.details.append(
            f"receipts: {len(receipts)}, missing {missing}, duplicates {duplicates}, unknown ids {strangers}; "
            f"worker spawn -> first receipt {first - spawned_at:.2f} s "
            f"(CPU {sampler.at(first) - sampler.samples[0][1]:.2f} s: imports, start, first fan-out)")
        row.details.extend(dispatcher_rounds(server))
        return row
    finally:
        if worker is not None:
            stop_process(worker)
        server.stop()


def dispatcher_rounds(server: RunningServer) -> list[str]:
    """Where the worker's time went, from what it recorded: each round's attempts share one
    attempted_at (stamped when the round's outcomes are written), and each attempt keeps the
    sender's own duration of the POST."""
    rows = server.query("select attempted_at, duration_ms from notification_attempts")
    if not rows:
        return ["dispatcher: no attempts recorded"]
    per_round: dict[float, list[float]] = {}
    for attempted_at, duration_ms in rows:
        per_round.setdefault(epoch_seconds(attempted_at), []).append(float(duration_ms or 0))
    stamps = sorted(per_round)
    gaps_ms = [(later - earlier) * 1000 for earlier, later in zip(stamps, stamps[1:], strict=False)]
    sizes = [len(per_round[stamp]) for stamp in stamps]
    durations = [duration for batch in per_round.values() for duration in batch]
    slowest_per_round = [max(batch) for batch in per_round.values()]
    gap_text = f"median {statistics.median(gaps_ms):.0f} ms apart" if gaps_ms else "one round"
    return [f"dispatcher: {len(stamps)} rounds ({gap_text}), median {statistics.median(sizes):.0f} deliveries "
            f"per round; one POST as the sender timed it: median {statistics.median(durations):.1f} ms, "
            f"p99 {percentile(durations, 0.99):.1f} ms; slowest POST of a round: median "
            f"{statistics.median(slowest_per_round):.1f} ms"]


# -- phases 2 and 3: commit to receipt -----------------------------------------------------------

@contextmanager
def latency_server(database: str, root: Path, receiver: Receiver, args: argparse.Namespace,
                   *, separate_worker: bool) -> Iterator[tuple[RunningServer, list[str]]]:
    """A server on a fresh database with a trigger for ``all`` and assets to tag, their upload
    events delivered. ``separate_worker``: the server only records events and a
    ``medialoom worker`` sends them."""
    with database_url(database) as url:
        yield from _latency_server(database, url, root, receiver, args, separate_worker=separate_worker)


def _latency_server(database: str, url: str | None, root: Path, receiver: Receiver, args: argparse.Namespace,
                    *, separate_worker: bool) -> Iterator[tuple[RunningServer, list[str]]]:
    receiver.reset()
    name = f"{database}-latency" + ("-worker" if separate_worker else "")
    server = start_server(root / name, extra_env=server_env(url, notifications=not separate_worker))
    worker = None
    try:
        if separate_worker:
            worker, _log = start_worker(server)
        use_server(server)
        cloudinary.api.create_trigger(receiver.hook_url, "all")
        png = tiny_png(server.data_dir)
        public_ids = upload_assets(png, "latency", args.latency_assets, args.backlog_clients)
        # The uploads' own events are delivered before anything is timed.
        wait_for_receipts(receiver, args.latency_assets, quiet_seconds=10)
        yield server, public_ids
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(15)
        server.stop()


def latency_phases(database: str, root: Path, receiver: Receiver, args: argparse.Namespace) -> list[Row]:
    def paced(public_ids: list[str]) -> Callable[[dict[str, TagCall], int], None]:
        def generate(calls: dict[str, TagCall], _index: int) -> None:
            interval = 1.0 / args.rate
            started = time.perf_counter()
            number = 0
            while (due := started + number * interval) < started + args.seconds:
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                tag = f"p{number:06d}"
                sent_at = time.time()
                cloudinary.uploader.add_tag(tag, [public_ids[number % len(public_ids)]])
                calls[tag] = TagCall(sent_at, time.time())
                number += 1
        return generate

    def loaded(public_ids: list[str]) -> Callable[[dict[str, TagCall], int], None]:
        def generate(calls: dict[str, TagCall], index: int) -> None:
            own = public_ids[index::args.loaded_clients]
            stop_at = time.perf_counter() + args.seconds
            number = 0
            while time.perf_counter() < stop_at:
                tag = f"l{index}-{number:06d}"
                sent_at = time.time()
                cloudinary.uploader.add_tag(tag, [own[number % len(own)]])
                calls[tag] = TagCall(sent_at, time.time())
                number += 1
        return generate

    rows = []
    with latency_server(database, root, receiver, args, separate_worker=False) as (server, public_ids):
        rows.append(timed_run(server, receiver, database, f"latency paced {args.rate:g}/s", paced(public_ids),
                              threads=1))
        rows.append(timed_run(server, receiver, database, f"latency loaded {args.loaded_clients} clients",
                              loaded(public_ids), threads=args.loaded_clients))
    # Scaled out: the API process only records, a worker process sends (its CPU is not counted).
    with latency_server(database, root, receiver, args, separate_worker=True) as (server, public_ids):
        rows.append(timed_run(server, receiver, database, f"loaded {args.loaded_clients} cl. + worker",
                              loaded(public_ids), threads=args.loaded_clients))
    return rows


def timed_run(server: RunningServer, receiver: Receiver, database: str, phase: str,
              generate: Callable[[dict[str, TagCall], int], None], *, threads: int) -> Row:
    """Generate add_tag events, wait for their delivery and relate each receipt to its commit."""
    before = {event_id for (event_id,) in server.query("select event_id from outbox_events")}
    receiver.reset()
    calls: dict[str, TagCall] = {}  # tag -> timing; dict writes of distinct keys are thread-safe
    sampler = CpuSampler(server.process.pid)
    wall = run_threads(threads, lambda index: generate(calls, index))
    cpu_generation = sampler.at(time.time()) - sampler.samples[0][1]
    events = [row for row in server.query(
        "select event_id, created_at, payload from outbox_events") if row[0] not in before]
    wait_for_receipts(receiver, len(events), quiet_seconds=10)
    sampler.stop()
    # The in-process dispatcher may still be sending when generation stops: count its CPU too.
    cpu_total = sampler.samples[-1][1] - sampler.samples[0][1]
    received: dict[str, float] = {}
    for event_id, at in receiver.receipts():
        received.setdefault(event_id, at)

    from_created, from_sent, from_answered = [], [], []
    for event_id, created_at, payload in events:
        if event_id not in received:
            continue
        from_created.append((received[event_id] - epoch_seconds(created_at)) * 1000)
        call = calls.get(added_tag(payload) or "")
        if call is not None:
            from_sent.append((received[event_id] - call.sent_at) * 1000)
            from_answered.append((received[event_id] - call.answered_at) * 1000)

    row = Row(database, phase, len(calls), wall, latencies_ms=from_created,
              cpu_ms_per_event=cpu_total / len(events) * 1000 if events else None, cpu_owner="server",
              pressure=cpu_pressure())
    missing = len(events) - sum(1 for event_id, _, _ in events if event_id in received)
    row.details.append(f"{len(calls)} add_tag calls, {len(events)} events, {missing} not received; server CPU "
                       f"{cpu_generation:.2f} s while generating, {cpu_total:.2f} s until the last receipt")
    row.details.append(f"receipt - created_at:      {latency_figures(from_created)}")
    row.details.append(f"receipt - request sent:    {latency_figures(from_sent)}  (upper bound)")
    row.details.append(f"receipt - response back:   {latency_figures(from_answered)}  (lower bound)")
    return row


# -- report ------------------------------------------------------------------------------------

def print_table(rows: list[Row]) -> None:
    header = (f"{'database':<11}{'phase':<30}{'events':>7}{'seconds':>9}{'events/s':>10}{'p50 ms':>8}"
              f"{'p90 ms':>8}{'p99 ms':>8}{'CPU ms/event':>16}{'psi10':>7}")
    print("\n" + header)
    print("-" * len(header))
    for row in rows:
        latencies = row.latencies_ms
        cells = [f"{percentile(latencies, q):.1f}" if latencies else "-" for q in (0.5, 0.9, 0.99)]
        cpu = f"{row.cpu_ms_per_event:.2f} {row.cpu_owner}" if row.cpu_ms_per_event is not None else "-"
        print(f"{row.database:<11}{row.phase:<30}{row.events:>7}{row.seconds:>9.2f}{row.rate:>10.1f}"
              f"{cells[0]:>8}{cells[1]:>8}{cells[2]:>8}{cpu:>16}{row.pressure:>7}")
    print("drain: seconds from the first receipt to the last, events/s = (events - 1) / seconds; CPU is the worker's "
          "over that window.\nlatency rows: events/s is add_tag calls per second achieved; CPU is the whole "
          "server (API, and the dispatcher unless a worker sends) until the last receipt. psi10: /proc/pressure/cpu some avg10 after the row.")

    print("\ndetails")
    for row in rows:
        print(f"  {row.database} {row.phase}")
        for line in row.details:
            print(f"    {line}")

    print("\naims")
    for row in rows:
        if row.phase.startswith("drain"):
            verdict = "met" if row.rate >= AIM_EVENTS_PER_SECOND else "missed"
            print(f"  {row.database:<11}{row.phase:<30} >= {AIM_EVENTS_PER_SECOND:.0f} events/s: "
                  f"{row.rate:.0f} {verdict}")
        elif row.latencies_ms:
            p50 = percentile(row.latencies_ms, 0.5)
            verdict = "met" if p50 < AIM_P50_MS else "missed"
            print(f"  {row.database:<11}{row.phase:<30} p50 < {AIM_P50_MS:.0f} ms: {p50:.1f} ms {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--receiver", help=argparse.SUPPRESS)  # internal: run as the receiver process
    parser.add_argument("--quick", action="store_true",
                        help="short smoke run: 100 assets, 4 s latency runs on 40 assets")
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--assets", type=int, default=250, help="assets in the drain backlog")
    parser.add_argument("--tags", type=int, default=3, help="add_tag calls per backlog asset")
    parser.add_argument("--backlog-clients", type=int, default=4, help="client threads building backlogs")
    parser.add_argument("--rate", type=float, default=50.0, help="paced events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--latency-assets", type=int, default=100, help="assets the latency runs tag in turn")
    parser.add_argument("--loaded-clients", type=int, default=4, help="client threads of the loaded run")
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver)
        return
    if args.quick:
        # Smaller sizes, unless given on the command line as well.
        for name, value in QUICK_SIZES.items():
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)

    databases = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    print(f"events benchmark: {', '.join(databases)}; drain {args.assets} assets x (1 upload + {args.tags} tags); "
          f"latency {args.rate:g}/s paced and {args.loaded_clients} loaded clients, {args.seconds:g} s each; "
          f"{os.cpu_count()} CPUs", flush=True)
    receiver = Receiver()
    rows: list[Row] = []
    try:
        print(receiver_self_test(receiver, 1000 if args.quick else 4000), flush=True)
        with tempfile.TemporaryDirectory(prefix="medialoom-events-") as scratch:
            root = Path(scratch)
            for database in databases:
                print(f"{database}: drain ...", flush=True)
                with database_url(database) as url:
                    rows.append(drain_phase(database, url, root, receiver, args))
                print(f"{database}: latency ...", flush=True)
                rows.extend(latency_phases(database, root, receiver, args))
    finally:
        receiver.stop()
    print_table(rows)


if __name__ == "__main__":
    main()
