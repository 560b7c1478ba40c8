"""Upload throughput benchmark (prints figures; not a test).

Uploads a 200 KB JPEG to a real medialoom server on loopback, from a raw HTTP client (bodies
pre-built and pre-signed, sent over keep-alive connections, so the client costs little CPU)
and from the official Python SDK, at 1, 4 and 8 threads. Reports uploads/s, p50/p99 latency
and the server's CPU milliseconds per upload (from /proc, all server processes).

    .venv/bin/python tests/bench/upload.py [--seconds 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cloudinary  # noqa: E402
import cloudinary.uploader  # noqa: E402
import cloudinary.utils  # noqa: E402
import pyvips  # noqa: E402

from tests.server import start_server  # noqa: E402


def make_jpeg(target_bytes: int = 200 * 1024) -> bytes:
    side = 300
    while True:
        image = pyvips.Image.gaussnoise(side, side, mean=128, sigma=50).cast("uchar").bandjoin([120, 90])
        data = image.jpegsave_buffer(Q=85)
        if len(data) >= target_bytes:
            return data
        side = int(side * 1.15)


def process_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and its (reaped and live) children."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for one in pids:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / ticks  # utime stime cutime cstime
    return total


def reference_ms() -> float:
    """CPU time of a fixed pure-Python workload: printed next to each row because these shared
    machines change speed by up to 2x within minutes, and a row is only comparable with rows
    measured at a similar reference time."""
    started = time.process_time()
    total = 0
    for number in range(200_000):
        total += len(str(number * 7))
    return (time.process_time() - started) * 1000


def multipart_body(server, jpeg: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    params = {"public_id": f"bench/{uuid.uuid4().hex}", "timestamp": str(int(time.time()))}
    params["signature"] = cloudinary.utils.api_sign_request(params, server.api_secret)
    params["api_key"] = server.api_key
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in params.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="b.jpg"\r\n'
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + jpeg + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def run(threads: int, seconds: float, one_upload) -> tuple[int, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    errors: list[BaseException] = []

    def worker() -> None:
        state: dict = {}
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                one_upload(state)
            except BaseException as error:  # report, don't hide
                errors.append(error)
                return
            with lock:
                latencies.append(time.perf_counter() - started)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]
    return len(latencies), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    jpeg = make_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data", workers=args.workers)
        try:
            os.environ["CLOUDINARY_URL"] = server.cloudinary_url
            cloudinary.reset_config()
            host, port = server.base_url.split("://")[1].split(":")
            path = f"/v1_1/{server.cloud_name}/image/upload"
            bodies = [multipart_body(server, jpeg) for _ in range(4000)]
            counter = iter(range(10**9))

            def raw_upload(state: dict) -> None:
                connection = state.get("c") or http.client.HTTPConnection(host, int(port), timeout=30)
                state["c"] = connection
                body, content_type = bodies[next(counter) % len(bodies)]
                connection.request("POST", path, body=body, headers={"Content-Type": content_type})
                response = connection.getresponse()
                payload = response.read()
                if response.status != 200:
                    raise RuntimeError(f"upload failed: {response.status} {payload[:200]!r}")

            def sdk_upload(state: dict) -> None:
                cloudinary.uploader.upload(jpeg, public_id=f"bench/sdk-{uuid.uuid4().hex}")

            print(f"200 KB JPEG ({len(jpeg)} bytes), server workers={args.workers}, {args.seconds:.0f} s per row, "
                  f"{os.cpu_count()} cores")
            print(f"{'client':<6} {'threads':>7} {'uploads/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'server CPU ms/upload':>21} {'reference ms':>13}")
            for name, function in (("raw", raw_upload), ("sdk", sdk_upload)):
                for threads in (1, 4, 8):
                    run(threads, 1.0, function)  # warm up connections and caches
                    reference = reference_ms()
                    cpu_before = process_cpu_seconds(server.process.pid)
                    started = time.monotonic()
                    count, latencies = run(threads, args.seconds, function)
                    elapsed = time.monotonic() - started
                    cpu = process_cpu_seconds(server.process.pid) - cpu_before
                    latencies.sort()
                    p50 = statistics.median(latencies) * 1000
                    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
                    print(f"{name:<6} {threads:>7} {count / elapsed:>10.1f} {p50:>8.1f} {p99:>8.1f} "
                          f"{cpu * 1000 / count:>21.2f} {reference:>13.1f}", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
