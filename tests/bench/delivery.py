"""Image delivery benchmark: medialoom against thumbor and IPX (prints figures; not a test).

Starts three image servers side by side on loopback, each serving the same generated sources,
and requests equivalent transformations from each, interleaved request by request (A, B, C,
B, C, A, ...) so that a noisy machine slows all three alike:

- medialoom (tests/server.py), sources uploaded with the official Cloudinary Python SDK and
  URLs built by it (``c_scale,w_N``, ``c_fill,g_center,h_N,w_N``, ``c_fit``, ``.webp``);
- thumbor 7.8.0 (PIL engine, file loader, file result storage that also stores unsafe URLs,
  thread pool of one thread per core);
- IPX 3.1.1 (sharp/libvips, file storage, its node HTTP handler; ``peers/ipx/server.mjs``).

All three write baseline JPEG and WebP at medialoom's default quality (80) and PNG at
compression 6. Sources (reference/performance.md §5a): S1 2040x1356 JPEG q90, S2 4000x3000
JPEG q90 (12 MP), S3 2048x1536 PNG with alpha; gradients, soft shapes, blocks and noise.

Scenarios:
1. cold derive: resize to width ~320 and fill-crop ~320x320 (center) of each source, every URL
   new (widths from 300 up, 320 left out, so each request renders). One client.
2. warm: the width-320 URLs again and again, served from each server's result cache. IPX has
   no result cache and renders every request; its warm rows measure that.
3. throughput: N concurrent clients for a fixed time, in rounds, on cold derives of S1 (every
   URL new): fit in ~512x512 (the headline row T2 of performance.md §5a) and fill-crops; then
   the same clients on cached URLs.
4. format conversion: JPEG to WebP at width ~800 (cold).
Rows give median and p95 latency in ms (or requests/s), server CPU ms per request (from /proc,
the server's whole process tree) and the ratio to medialoom (>1: medialoom is faster). A table
of output bytes and sizes for the same operation on each server shows whether a server is fast
because it writes smaller or worse files.

    .venv/bin/python tests/bench/delivery.py [--quick] [--only medialoom,thumbor,ipx]
                                             [--clients 8] [--seconds 8]

A default run takes about 3.5 minutes on 2 cores, --quick under one minute (plus the first
install). Each scenario header shows the load average and /proc/pressure/cpu; rows measured
while pressure was above 50 % are marked NOISY and are best compared by their ratios.

First run installs the peers (needs PyPI and the npm registry; later runs reuse them):
thumbor into its own virtualenv tests/bench/.peers/thumbor-venv (``python3 -m venv`` + pip,
never into .venv), and IPX into tests/bench/peers/ipx/node_modules (``npm ci`` from the
committed package-lock.json; node 20). Both folders are git-ignored. A peer that cannot be
installed or started is reported loudly and the others still run; the exit status is then 1,
as it is when any request fails (the failures are listed at the end).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cloudinary  # noqa: E402
import cloudinary.uploader  # noqa: E402
import cloudinary.utils  # noqa: E402
import pyvips  # noqa: E402

from medialoom.transform.render import DEFAULT_QUALITY  # noqa: E402
from tests.server import free_port, start_server  # noqa: E402

BENCH = Path(__file__).resolve().parent
THUMBOR_VERSION = "7.8.0"
IPX_VERSION = "3.1.1"
THUMBOR_VENV = BENCH / ".peers" / "thumbor-venv"
IPX_DIR = BENCH / "peers" / "ipx"
SERVER_NAMES = ("medialoom", "thumbor", "ipx")
CORES = os.cpu_count() or 1


class PeerError(RuntimeError):
    """A server that could not be installed or started."""


# -- sources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    key: str
    label: str
    filename: str
    width: int
    height: int

    @property
    def public_id(self) -> str:
        return f"bench/{self.key}"

    @property
    def ext(self) -> str:
        return self.filename.rsplit(".", 1)[1]


SOURCES = (
    Source("s1", "S1 2040x1356 JPEG", "s1.jpg", 2040, 1356),
    Source("s2", "S2 4000x3000 JPEG", "s2.jpg", 4000, 3000),
    Source("s3", "S3 2048x1536 PNG+alpha", "s3.png", 2048, 1536),
)


def _noise(width: int, height: int, sigma: float, seed: int, bands: int = 3) -> pyvips.Image:
    planes = [pyvips.Image.gaussnoise(width, height, sigma=sigma, mean=0, seed=seed + b) for b in range(bands)]
    return planes[0].bandjoin(planes[1:])


def photo_like(width: int, height: int, seed: int, grain: float) -> pyvips.Image:
    """Colour gradients, soft blotches (upscaled coarse noise), flat blocks with hard edges and
    fine grain: compresses like a photo (~0.25 bytes per pixel as JPEG q90), not to nothing."""
    xyz = pyvips.Image.xyz(width, height)
    x, y = xyz[0], xyz[1]
    image = (x * (150 / width) + 50).bandjoin([y * (140 / height) + 60, (x + y) * (120 / (width + height)) + 70])
    coarse_w, coarse_h = width // 48 + 2, height // 48 + 2
    blotches = _noise(coarse_w, coarse_h, 12, seed + 3) + pyvips.Image.gaussnoise(coarse_w, coarse_h, sigma=40,
                                                                                   mean=0, seed=seed)
    image = (image + blotches.resize(48, kernel="cubic").crop(0, 0, width, height)).cast("uchar")
    rng = random.Random(seed)
    for _ in range(40):
        block_w, block_h = rng.randint(width // 40, width // 6), rng.randint(height // 40, height // 6)
        image = image.draw_rect([rng.randint(0, 255) for _ in range(3)], rng.randint(0, width - block_w),
                                rng.randint(0, height - block_h), block_w, block_h, fill=True)
    return (image + _noise(width, height, grain, seed + 10)).cast("uchar").copy(interpretation="srgb")


def make_sources(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    s1, s2, s3 = SOURCES
    photo_like(s1.width, s1.height, 1, 4.5).write_to_file(str(folder / s1.filename), Q=90)
    photo_like(s2.width, s2.height, 2, 4.5).write_to_file(str(folder / s2.filename), Q=90)
    xyz = pyvips.Image.xyz(s3.width, s3.height)
    radius = ((xyz[0] - s3.width / 2) ** 2 + (xyz[1] - s3.height / 2) ** 2) ** 0.5
    alpha = (255 - radius * (255 / (s3.width * 0.62))).cast("uchar")  # opaque centre, clear corners
    rgba = photo_like(s3.width, s3.height, 3, 1.5).bandjoin(alpha).copy(interpretation="srgb")
    rgba.write_to_file(str(folder / s3.filename), compression=6)


# -- HTTP client --------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    body: bytes
    headers: http.client.HTTPMessage
    seconds: float


class Client:
    """Keep-alive connections, one per server: cheaper than httpx, so the client steals less CPU
    from the servers on a small machine. Not thread-safe: one per thread."""

    def __init__(self) -> None:
        self.connections: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in range(2):
            reused = parts.netloc in self.connections
            connection = self.connections.get(parts.netloc) or http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=120)
            self.connections[parts.netloc] = connection
            started = time.perf_counter()
            try:
                connection.request("GET", target)
                response = connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                connection.close()
                del self.connections[parts.netloc]
                if reused and attempt == 0:  # the server closed an idle keep-alive connection
                    continue
                raise
            seconds = time.perf_counter() - started
            if response.will_close:
                connection.close()
                del self.connections[parts.netloc]
            return Reply(response.status, body, response.headers, seconds)
        raise RuntimeError("unreachable")

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


# -- servers ------------------------------------------------------------------------------------

def process_tree_cpu(pid: int) -> float:
    """User+system CPU seconds of a process, its live descendants and its reaped children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, pending, seen = 0.0, [pid], set()
    while pending:
        one = pending.pop()
        if one in seen:
            continue
        seen.add(one)
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / ticks  # utime stime cutime cstime
        try:
            for task in Path(f"/proc/{one}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return total


class Server:
    name: str
    version: str
    process: subprocess.Popen
    base: str

    def url(self, source: Source, kind: str, width: int, height: int | None = None) -> str:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        return process_tree_cpu(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Medialoom(Server):
    name = "medialoom"

    def __init__(self, work: Path, sources: Path, workers: int) -> None:
        from importlib.metadata import version

        self.version = f"{version('medialoom')}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
        self.running = start_server(work / "medialoom-data", workers=workers)
        self.process = self.running.process
        self.base = self.running.base_url
        os.environ["CLOUDINARY_URL"] = self.running.cloudinary_url
        cloudinary.reset_config()
        for source in SOURCES:
            cloudinary.uploader.upload(str(sources / source.filename), public_id=source.public_id, overwrite=True)

    def url(self, source: Source, kind: str, width: int, height: int | None = None) -> str:
        if kind == "scale":
            options = {"width": width, "crop": "scale", "format": source.ext}
        elif kind == "fill":
            options = {"width": width, "height": height, "crop": "fill", "gravity": "center", "format": source.ext}
        elif kind == "fit":
            options = {"width": width, "height": height, "crop": "fit", "format": source.ext}
        else:  # webp
            options = {"width": width, "crop": "scale", "format": "webp"}
        return cloudinary.utils.cloudinary_url(source.public_id, **options)[0]

    def stop(self) -> None:
        self.running.stop()


def _run(command: list[str], what: str, **kwargs) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PeerError(f"{what}: {error}") from None
    if done.returncode != 0:
        raise PeerError(f"{what} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}")
    return done.stdout


def _peer_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _wait_ready(server: Server, url: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PeerError(f"{server.name} exited with {server.process.returncode}:\n"
                            f"{log_path.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as error:
            server.stop()
            raise PeerError(f"{server.name} answered {error.code} to {url}:\n{error.read()[:500]!r}") from None
        except OSError:
            time.sleep(0.2)
    server.stop()
    raise PeerError(f"{server.name} not ready after {timeout:.0f} s:\n{log_path.read_text(errors='replace')[-2000:]}")


def install_thumbor() -> Path:
    python = THUMBOR_VENV / "bin" / "python"
    if python.exists():
        probe = subprocess.run([str(python), "-c", "import thumbor; print(thumbor.__version__)"],
                               capture_output=True, text=True, env=_peer_env())
        if probe.returncode == 0 and probe.stdout.strip() == THUMBOR_VERSION:
            return python
    print(f"  installing thumbor {THUMBOR_VERSION} into {THUMBOR_VENV} (first run)", flush=True)
    base_python = shutil.which("python3") or sys.executable
    _run([base_python, "-m", "venv", "--clear", str(THUMBOR_VENV)], "python3 -m venv", env=_peer_env())
    _run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
          f"thumbor=={THUMBOR_VERSION}"], "pip install thumbor", env=_peer_env())
    return python


class Thumbor(Server):
    name = "thumbor"

    def __init__(self, work: Path, sources: Path) -> None:
        python = install_thumbor()
        pillow = _run([str(python), "-c", "import PIL; print(PIL.__version__)"], "thumbor's Pillow", env=_peer_env())
        self.version = f"{THUMBOR_VERSION}, Pillow {pillow.strip()}"
        conf = work / "thumbor.conf"
        settings = {
            "LOADER": "thumbor.loaders.file_loader",
            "FILE_LOADER_ROOT_PATH": str(sources),
            "STORAGE": "thumbor.storages.no_storage",  # the loader reads local files: no copy of originals
            "RESULT_STORAGE": "thumbor.result_storages.file_storage",
            "RESULT_STORAGE_FILE_STORAGE_ROOT_PATH": str(work / "thumbor-results"),
            "RESULT_STORAGE_STORES_UNSAFE": True,
            "ALLOW_UNSAFE_URL": True,
            "QUALITY": DEFAULT_QUALITY,
            "WEBP_QUALITY": DEFAULT_QUALITY,
            "PROGRESSIVE_JPEG": False,  # medialoom writes baseline unless fl_progressive
            "PNG_COMPRESSION_LEVEL": 6,
            "ENGINE_THREADPOOL_SIZE": CORES,
        }
        conf.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))
        port = free_port()
        log_path = work / "thumbor.log"
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(THUMBOR_VENV / "bin" / "thumbor"), "--ip", "127.0.0.1", "--port", str(port), "--conf", str(conf),
                 "--log-level", "error"], stdout=log, stderr=subprocess.STDOUT, env=_peer_env())
        self.base = f"http://127.0.0.1:{port}"
        _wait_ready(self, f"{self.base}/healthcheck", log_path)

    def url(self, source: Source, kind: str, width: int, height: int | None = None) -> str:
        if kind == "scale":
            return f"{self.base}/unsafe/{width}x0/{source.filename}"
        if kind == "fill":
            return f"{self.base}/unsafe/{width}x{height}/center/middle/{source.filename}"
        if kind == "fit":
            return f"{self.base}/unsafe/fit-in/{width}x{height}/{source.filename}"
        return f"{self.base}/unsafe/{width}x0/filters:format(webp)/{source.filename}"


def install_ipx() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise PeerError("node and npm must be on PATH (node 20)")
    installed = IPX_DIR / "node_modules" / "ipx" / "package.json"
    if installed.exists() and json.loads(installed.read_text()).get("version") == IPX_VERSION:
        return node
    verb = "ci" if (IPX_DIR / "package-lock.json").exists() else "install"
    print(f"  installing ipx {IPX_VERSION} into {IPX_DIR / 'node_modules'} (npm {verb}, first run)", flush=True)
    _run([npm, verb, "--no-audit", "--no-fund"], f"npm {verb}", cwd=IPX_DIR)
    return node


class Ipx(Server):
    name = "ipx"

    def __init__(self, work: Path, sources: Path) -> None:
        node = install_ipx()
        sharp = _run([node, "--input-type=module", "-e",
                      "import s from 'sharp'; console.log(s.versions.sharp + ' ' + s.versions.vips)"],
                     "loading sharp", cwd=IPX_DIR).split()
        self.version = f"{IPX_VERSION}, sharp {sharp[0]}, libvips {sharp[1]}"
        port = free_port()
        log_path = work / "ipx.log"
        env = {**os.environ, "IPX_BENCH_DIR": str(sources), "IPX_BENCH_PORT": str(port)}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen([node, "server.mjs"], cwd=IPX_DIR, stdout=log, stderr=subprocess.STDOUT,
                                            env=env)
        self.base = f"http://127.0.0.1:{port}"
        _wait_ready(self, f"{self.base}/w_16/{SOURCES[0].filename}", log_path)

    def url(self, source: Source, kind: str, width: int, height: int | None = None) -> str:
        if kind == "scale":
            return f"{self.base}/w_{width}/{source.filename}"
        if kind == "fill":
            return f"{self.base}/s_{width}x{height},fit_cover,pos_centre/{source.filename}"
        if kind == "fit":
            return f"{self.base}/s_{width}x{height},fit_inside/{source.filename}"
        return f"{self.base}/w_{width},f_webp/{source.filename}"


# -- measuring ----------------------------------------------------------------------------------

PROBLEMS: dict[tuple[str, int, str], list] = {}  # (server, status, reason) -> [count, first url]
PROBLEMS_LOCK = threading.Lock()


def accept(server: Server, url: str, reply: Reply | None, error: BaseException | None = None) -> bool:
    """True for a 200 with a body; otherwise remember what went wrong (the reason medialoom gives
    in x-cld-error, or the start of a peer's body)."""
    if reply is not None and reply.status == 200 and reply.body:
        return True
    if reply is None:
        status, reason = 0, f"{type(error).__name__}: {error}"
    else:
        status = reply.status
        reason = reply.headers.get("x-cld-error") or reply.body[:160].decode("utf-8", "replace")
    with PROBLEMS_LOCK:
        PROBLEMS.setdefault((server.name, status, reason), [0, url])[0] += 1
    return False


def fetch(client: Client, server: Server, url: str) -> Reply | None:
    try:
        reply = client.get(url)
    except (http.client.HTTPException, OSError) as error:
        accept(server, url, None, error)
        return None
    return reply if accept(server, url, reply) else None


@dataclass
class Row:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cpu: float = 0.0
    elapsed: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies)

    def median_ms(self) -> float | None:
        return statistics.median(self.latencies) * 1000 if self.latencies else None

    def p95_ms(self) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)] * 1000

    def cpu_ms(self) -> float | None:
        return self.cpu * 1000 / self.count if self.count else None

    def rps(self) -> float | None:
        return self.count / self.elapsed if self.elapsed else None

    def merge(self, other: Row) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.cpu += other.cpu
        self.elapsed += other.elapsed


def rotated(servers: list[Server], step: int) -> list[Server]:
    step %= len(servers)
    return servers[step:] + servers[:step]


def sequential(servers: list[Server], make_url: Callable[[Server, int], str], count: int) -> dict[str, Row]:
    """One client; request i goes to every server in turn (the order rotates), each on its own
    URL; CPU per server over the whole row (each server only works on its own requests)."""
    client = Client()
    rows = {server.name: Row() for server in servers}
    before = {server.name: server.cpu_seconds() for server in servers}
    for index in range(count):
        for server in rotated(servers, index):
            reply = fetch(client, server, make_url(server, index))
            if reply is None:
                rows[server.name].errors += 1
            else:
                rows[server.name].latencies.append(reply.seconds)
    for server in servers:
        rows[server.name].cpu = server.cpu_seconds() - before[server.name]
    client.close()
    return rows


def concurrent(server: Server, urls: Iterator[str], clients: int, seconds: float) -> Row:
    """``clients`` threads, each with its own keep-alive connection, taking the next URL until
    the time is up (or the URLs run out)."""
    row, lock = Row(), threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        client = Client()
        while time.monotonic() < deadline:
            with lock:
                url = next(urls, None)
            if url is None:
                break
            reply = fetch(client, server, url)
            with lock:
                if reply is None:
                    row.errors += 1
                else:
                    row.latencies.append(reply.seconds)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    cpu_before, started = server.cpu_seconds(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    row.elapsed = time.monotonic() - started
    row.cpu = server.cpu_seconds() - cpu_before
    return row


# -- reporting ----------------------------------------------------------------------------------

def machine_state() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        pressure = {item.split("=")[0]: float(item.split("=")[1]) for item in some[1:3]}
        noisy = "  [NOISY: pressure avg10 > 50 %]" if pressure["avg10"] > 50 else ""
        cpu = f", cpu pressure avg10 {pressure['avg10']:.0f} % avg60 {pressure['avg60']:.0f} %{noisy}"
    except (OSError, IndexError, KeyError, ValueError):
        cpu = ""
    return f"load {' '.join(load)}{cpu}"


def _num(value: float | None, width: int, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def _ratio(peer: float | None, ours: float | None) -> float | None:
    return peer / ours if peer and ours else None


HEADER_LATENCY = (f"  {'scenario':<38} {'server':<10} {'n':>4} {'median ms':>10} {'p95 ms':>8} {'CPU ms/req':>11} "
                  f"{'err':>4} {'ratio':>6} {'CPU ratio':>10}")
HEADER_RATE = (f"  {'scenario':<38} {'server':<10} {'n':>5} {'req/s':>8} {'median ms':>10} {'p95 ms':>8} "
               f"{'CPU ms/req':>11} {'err':>4} {'ratio':>6} {'CPU ratio':>10}")


def print_latency_rows(scenario: str, rows: dict[str, Row], notes: dict[str, str] | None = None) -> None:
    ours = rows.get("medialoom")
    for number, (name, row) in enumerate(rows.items()):
        ratio = _ratio(row.median_ms(), ours.median_ms()) if ours and name != "medialoom" else None
        cpu_ratio = _ratio(row.cpu_ms(), ours.cpu_ms()) if ours and name != "medialoom" else None
        label = scenario if number == 0 else ""
        server = name + ((notes or {}).get(name, ""))
        print(f"  {label:<38} {server:<10} {row.count:>4} {_num(row.median_ms(), 10)} {_num(row.p95_ms(), 8)} "
              f"{_num(row.cpu_ms(), 11)} {row.errors:>4} {_num(ratio, 6, 2)} {_num(cpu_ratio, 10, 2)}", flush=True)


def print_rate_rows(scenario: str, rows: dict[str, Row], notes: dict[str, str] | None = None) -> None:
    ours = rows.get("medialoom")
    for number, (name, row) in enumerate(rows.items()):
        ratio = _ratio(ours.rps(), row.rps()) if ours and name != "medialoom" else None
        cpu_ratio = _ratio(row.cpu_ms(), ours.cpu_ms()) if ours and name != "medialoom" else None
        label = scenario if number == 0 else ""
        server = name + ((notes or {}).get(name, ""))
        print(f"  {label:<38} {server:<10} {row.count:>5} {_num(row.rps(), 8)} {_num(row.median_ms(), 10)} "
              f"{_num(row.p95_ms(), 8)} {_num(row.cpu_ms(), 11)} {row.errors:>4} {_num(ratio, 6, 2)} "
              f"{_num(cpu_ratio, 10, 2)}", flush=True)


def stalled_at_40ms(rows: dict[str, Row]) -> list[str]:
    """Servers whose typical request sits in the 38-46 ms band: the Nagle / delayed-ACK stall
    of reference/performance.md §2c, not work."""
    return [name for name, row in rows.items() if row.latencies and 38 <= (row.median_ms() or 0) <= 46]


def loud(message: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!!! {message}\n{bar}\n", flush=True)


# -- main ---------------------------------------------------------------------------------------

KIND_LABELS = {"scale": "resize w", "fill": "fill-crop ", "fit": "fit in ", "webp": "to WebP w"}


def cold_widths(center: int, count: int) -> list[int]:
    """``count`` widths from center-20 upwards, skipping ``center`` (that URL is the cached one)."""
    return [w for w in range(center - 20, center + 200) if w != center][:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (about a quarter of the time)")
    parser.add_argument("--only", default=",".join(SERVER_NAMES), help="servers to run, comma-separated")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the throughput scenario")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per throughput round (8; quick 4)")
    parser.add_argument("--medialoom-workers", type=int, default=1, help="medialoom server processes")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - set(SERVER_NAMES)
    if unknown or not wanted:
        parser.error(f"--only takes {', '.join(SERVER_NAMES)}")
    cold_n, webp_n, warm_rounds = (8, 6, 10) if args.quick else (30, 20, 40)
    rounds = 1 if args.quick else 2
    seconds = args.seconds or (4.0 if args.quick else 8.0)
    warm_seconds = 2.0 if args.quick else 4.0

    started = time.monotonic()
    print(f"delivery benchmark: {', '.join(wanted)}; {CORES} cores; {machine_state()}", flush=True)
    unavailable: dict[str, str] = {}
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="medialoom-bench-delivery-") as folder:
        work = Path(folder)
        sources = work / "sources"
        make_sources(sources)
        print("sources: " + ", ".join(f"{s.label} {(sources / s.filename).stat().st_size / 1e6:.2f} MB"
                                      for s in SOURCES), flush=True)
        try:
            for name, factory in (("medialoom", lambda: Medialoom(work, sources, args.medialoom_workers)),
                                  ("thumbor", lambda: Thumbor(work, sources)), ("ipx", lambda: Ipx(work, sources))):
                if name not in wanted:
                    continue
                try:
                    server = factory()
                except PeerError as error:
                    unavailable[name] = str(error)
                    loud(f"{name.upper()} IS NOT AVAILABLE; running the others without it.\n{error}")
                    continue
                servers.append(server)
                print(f"  {name:<10} {server.base}  ({server.version})", flush=True)
            if servers:
                run_scenarios(servers, args.clients, cold_n, webp_n, warm_rounds, rounds, seconds, warm_seconds)
        finally:
            for server in servers:
                server.stop()

    if PROBLEMS:
        print("\nFailed requests (server, status, reason, count, first URL):")
        for (name, status, reason), (count, url) in sorted(PROBLEMS.items()):
            print(f"  {name:<10} {status:>3}  {reason!r}  x{count}\n             {url}")
    for name, reason in unavailable.items():
        loud(f"{name.upper()} WAS NOT AVAILABLE: its rows are missing. {reason.splitlines()[0]}")
    print(f"\ntotal time {time.monotonic() - started:.0f} s; {machine_state()}")
    return 1 if unavailable or PROBLEMS else 0


def run_scenarios(servers: list[Server], clients: int, cold_n: int, webp_n: int, warm_rounds: int, rounds: int,
                  seconds: float, warm_seconds: float) -> None:
    names = [server.name for server in servers]
    no_cache = {"ipx": "*"} if "ipx" in names else {}
    ipx_note = ("  * IPX keeps no rendered results: every request renders (serve it behind a CDN or cache)."
                if no_cache else "")

    # Output of the same operation on each server (also warms every server up and fills the
    # result caches used by the warm scenario).
    canonical = [(source, "scale", 320, None) for source in SOURCES]
    canonical += [(source, "fill", 320, 320) for source in SOURCES]
    canonical += [(source, "webp", 800, None) for source in SOURCES[:2]]
    canonical += [(SOURCES[0], "fit", 512, 512)]
    client = Client()
    print("\nOutput of the same operation (bytes, width x height, type); medialoom's default quality "
          f"{DEFAULT_QUALITY}, baseline JPEG")
    print(f"  {'operation':<38}" + "".join(f" {name:>27}" for name in names))
    for source, kind, width, height in canonical:
        cells = []
        for server in servers:
            reply = fetch(client, server, server.url(source, kind, width, height))
            if reply is None:
                cells.append("ERROR")
                continue
            image = pyvips.Image.new_from_buffer(reply.body, "")
            kind_of = (reply.headers.get("content-type") or "?").split("/")[-1]
            cells.append(f"{len(reply.body):,} {image.width}x{image.height} {kind_of}")
        size = f"{width}x{height}" if height else f"{width}"
        print(f"  {source.key.upper() + ' ' + KIND_LABELS[kind] + size:<38}" + "".join(f" {c:>27}" for c in cells),
              flush=True)
    client.close()

    # 1. cold derive
    widths = cold_widths(320, cold_n)
    print(f"\n1. Cold derive: every URL new (width {widths[0]}..{widths[-1]}, not 320), one client, "
          f"servers interleaved; {machine_state()}")
    print("   ratio = peer median / medialoom median, CPU ratio = peer CPU / medialoom CPU (>1: medialoom better)")
    print(HEADER_LATENCY)
    for source in SOURCES:
        for kind in ("scale", "fill"):
            rows = sequential(servers, lambda server, i, s=source, k=kind, ws=widths: server.url(
                s, k, ws[i], ws[i] if k == "fill" else None), cold_n)
            label = "resize w~320" if kind == "scale" else "fill-crop ~320x320 center"
            print_latency_rows(f"{source.key.upper()} {label}", rows)

    # 2. warm
    print(f"\n2. Warm: the width-320 URLs (resize and fill-crop), cached, {warm_rounds} rounds, one client; "
          f"{machine_state()}")
    print(HEADER_LATENCY)
    stalls = []
    for source in SOURCES:
        urls = {server.name: [server.url(source, "scale", 320), server.url(source, "fill", 320, 320)]
                for server in servers}
        rows = sequential(servers, lambda server, i, u=urls: u[server.name][i % 2], warm_rounds * 2)
        print_latency_rows(f"{source.label} cached", rows, no_cache)
        stalls += stalled_at_40ms({k: v for k, v in rows.items() if k != "ipx"})
    if ipx_note:
        print(ipx_note)
    if stalls:
        print(f"  WARNING: median in the 38-46 ms band for {sorted(set(stalls))}: looks like a Nagle / "
              f"delayed-ACK stall, not work")

    # 3. throughput
    s1 = SOURCES[0]
    print(f"\n3. Throughput: {clients} concurrent clients, {rounds} x {seconds:.0f} s per server (rounds interleaved); "
          f"{machine_state()}")
    print("   ratio = medialoom req/s / peer req/s, CPU ratio = peer CPU / medialoom CPU (>1: medialoom better)")
    print(HEADER_RATE)
    # The headline row of reference/performance.md §5a (T2: fit in 512x512, cold, every width and
    # height new), then a fill-crop; h < 300 there, so no URL of scenario 1 comes back.
    for label, kind, pairs in (
            (f"{s1.key.upper()} cold fit in 480-543 x 480-543", "fit",
             [(w, h) for h in range(480, 544) for w in range(480, 544)]),
            (f"{s1.key.upper()} cold fill-crop 300-379 x 200-279", "fill",
             [(w, h) for h in range(200, 280) for w in range(300, 380)])):
        iterators = {server.name: iter([server.url(s1, kind, w, h) for w, h in pairs]) for server in servers}
        rows = {server.name: Row() for server in servers}
        for number in range(rounds):
            for server in rotated(servers, number):
                rows[server.name].merge(concurrent(server, iterators[server.name], clients, seconds))
        print_rate_rows(label, rows)
    rows = {server.name: Row() for server in servers}
    for server in servers:
        urls = [server.url(s1, "scale", 320), server.url(s1, "fill", 320, 320)]
        endless = (urls[i % 2] for i in range(10**9))
        rows[server.name].merge(concurrent(server, endless, clients, warm_seconds))
    print_rate_rows(f"{s1.key.upper()} cached w320 + fill 320x320", rows, no_cache)
    print("   (cached rows are bounded by the Python client threads on this machine, not only by the servers)")
    if ipx_note:
        print(ipx_note)

    # 4. format conversion
    widths = cold_widths(800, webp_n)
    print(f"\n4. Format conversion: JPEG to WebP, width {widths[0]}..{widths[-1]} (not 800), every URL new, "
          f"one client; {machine_state()}")
    print(HEADER_LATENCY)
    for source in SOURCES[:2]:
        rows = sequential(servers, lambda server, i, s=source, ws=widths: server.url(s, "webp", ws[i]), webp_n)
        print_latency_rows(f"{source.key.upper()} JPEG -> WebP w~800", rows)


if __name__ == "__main__":
    sys.exit(main())
