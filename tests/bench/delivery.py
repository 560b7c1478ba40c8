"""Image delivery benchmark, reference/performance.md §5a: medialoom against thumbor and IPX
(prints figures; not a test).

Starts three image servers side by side on loopback, each serving the same generated sources,
and runs the suite of §5a on all three in the same run, interleaved in rounds (each cell is
3 rounds x 3 servers, the order rotating), so that a noisy machine slows all three alike:

- medialoom (tests/server.py, one worker, a fresh data dir, so its derived store starts
  empty), sources uploaded with the official Cloudinary Python SDK and every URL built by it
  (``cloudinary.utils.cloudinary_url``);
- thumbor 7.8.0 (PIL engine, Pillow 12 with its native AVIF plugin, file loader, file result
  storage that also stores unsafe URLs, thread pool of one thread per core);
- IPX 3.1.1 (sharp/libvips, file storage, its node HTTP handler; ``peers/ipx/server.mjs``).

Sources (generated, deterministic): S1 2040x1356 baseline JPEG q90, S2 4000x3000 JPEG q90
(12 MP), S3 2048x1536 PNG with alpha; gradients, soft shapes, blocks and noise.

Transformations (medialoom URL / thumbor / IPX):

- T1 ``c_fill,g_auto,w_320/f_auto/q_auto`` sent with ``Accept: image/webp`` -> WebP q80
  (q_auto:good). c_fill with only a width keeps the aspect ratio, so nothing is cropped and
  the peers scale to the same width: thumbor ``Wx0/smart/filters:format(webp):quality(80)``
  (smart is a no-op: no OpenCV detectors installed), IPX ``w_W,f_webp,q_80``.
- T2 ``c_fit,h_512,w_512/fl_progressive,q_80`` .jpg -> progressive JPEG: thumbor
  ``fit-in/WxH/filters:format(jpeg):quality(80)`` (PROGRESSIVE_JPEG on), IPX
  ``s_WxH,fit_inside,q_80,f_jpeg`` (progressive). **The headline row** (T2 x S1).
- T3 ``w_1200/f_webp,q_75``: thumbor ``Wx0/filters:format(webp):quality(75)``, IPX
  ``w_W,f_webp,q_75``.
- T4 ``c_fill,g_center,h_240,w_320/f_avif,q_50`` (medialoom encodes AVIF at effort 2):
  thumbor ``WxH/center/middle/filters:format(avif):quality(50)`` with AVIF_SPEED 7 (= libvips
  effort 2), IPX ``s_WxH,fit_cover,pos_centre,f_avif,q_50`` with sharp's AVIF effort 2 and
  4:2:0 chroma (sharp's defaults are effort 4 and 4:4:4; libvips and Pillow subsample).
- T5 ``c_thumb,h_150,w_150/f_png`` (the alpha path on S3; JPEG sources make RGB PNGs):
  thumbor ``WxH/filters:format(png)``, IPX ``s_WxH,fit_cover,f_png`` (adaptive PNG row filters,
  as libvips' ``filter=all`` in medialoom and Pillow in thumbor; compression 6 everywhere).

A peer that cannot do a transformation (wrong content type or an error on the probe request)
gets "n/a" in its cells, which are left out of the geometric means.

Phases:

1. Output of each transformation on each source at its nominal size on every server (bytes,
   size, type): shows whether a server is fast because it writes smaller or worse files. These
   requests also warm every server up.
2. Cold: every request a new rendering. The width varies by +-32 px per request (so does the
   height where there is one), over byte-identical copies of each source under different
   names (``--copies``), so no URL repeats in a run: this defeats the derived store / result
   storage, libvips' operation cache and request coalescing. Loads c=2 and c=8 concurrent
   clients (Python threads, raw keep-alive HTTP/1.1 connections; wrk is not used), each cell
   3 rounds of ``--seconds`` per server. req/s and CPU ms per request are medians of the
   rounds; p50/p99 are over all requests of the cell; output KB is the mean response size.
3. Warm: the 15 nominal URLs (5 transformations x 3 sources) are primed, then hammered in
   turn at c=2 and c=8. IPX keeps no rendered results and renders every warm request.

CPU ms per request is the server's whole process tree, from /proc. Ratios: ``x rps`` =
medialoom req/s / peer req/s, ``x CPU`` = peer CPU / medialoom CPU (>1: medialoom better).
Each cell shows /proc/pressure/cpu some avg10 (the highest seen after its slots) and ``oth%``,
the CPU that processes outside this benchmark took during the cell (% of one core). Cells where
avg10 exceeded 50 % are marked NOISY (the rule of §5), those where other processes took more
than a quarter of a core BUSY. avg10 includes this benchmark's own load, which alone passes
50 % at c=8 (more runnable threads than cores), so there oth% tells whether the noise came
from elsewhere. The warm rows also show ``client%``, the CPU of the load generator (% of one
core; near 100 % the client, not the server, would set the pace).

The end gives the aims of the issue (headline T2 x S1 at c=2: >= 1.2x thumbor's req/s at
<= 0.9x its CPU per request; geometric mean of the req/s ratios over all cold cells >= 1.0 vs
thumbor and >= 1.2 vs IPX; warm >= 1000 req/s with p99 <= 10 ms), the absolute goals of the
§5a table, and each server's peak RSS (VmHWM, summed over its processes).

    .venv/bin/python tests/bench/delivery.py [--quick] [--only medialoom,thumbor,ipx]
                                             [--rounds 3] [--seconds 1.8] [--warm-seconds 3]

A default run takes about 10-11 minutes on 2 cores (3 rounds of 1.8 s per server and cell;
§5's 30 s rounds would take hours); --quick (1 round of 1.2 s, warm 2 s) about 2.5 minutes.

First run installs the peers (needs PyPI and the npm registry; later runs reuse them):
thumbor into its own virtualenv tests/bench/.peers/thumbor-venv (``python3 -m venv`` + pip,
never into .venv), and IPX into tests/bench/peers/ipx/node_modules (``npm ci`` from the
committed package-lock.json; node 20). Both folders are git-ignored. A peer that cannot be
installed or started is reported loudly and the others still run; the exit status is then 1,
as it is when any request fails (the failures are listed at the end, with medialoom's
x-cld-error).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cloudinary  # noqa: E402
import cloudinary.uploader  # noqa: E402
import cloudinary.utils  # noqa: E402
import pyvips  # noqa: E402

from medialoom.transform.render import AUTO_QUALITY  # noqa: E402
from tests.server import free_port, start_server, stop_process  # noqa: E402

BENCH = Path(__file__).resolve().parent
THUMBOR_VERSION = "7.8.0"
IPX_VERSION = "3.1.1"
THUMBOR_VENV = BENCH / ".peers" / "thumbor-venv"
IPX_DIR = BENCH / "peers" / "ipx"
SERVER_NAMES = ("medialoom", "thumbor", "ipx")
CORES = os.cpu_count() or 1
LOADS = (2, 8)
JITTER = 32
AVIF_EFFORT = 2  # medialoom's (transform/render.py); libvips maps it to aom speed 9 - effort
NOISY_PRESSURE = 50.0  # /proc/pressure/cpu some avg10, % (performance.md §5: such a run is invalid)
BUSY_OTHERS = 0.25  # CPU taken by processes outside the benchmark during a cell, cores


class PeerError(RuntimeError):
    """A server that could not be installed or started."""


# -- sources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    key: str
    label: str
    ext: str
    width: int
    height: int

    def filename(self, copy: int) -> str:
        return f"{self.key}_{copy:02d}.{self.ext}"

    def public_id(self, copy: int) -> str:
        return f"bench/{self.key}_{copy:02d}"


SOURCES = (
    Source("S1", "S1 2040x1356 JPEG q90", "jpg", 2040, 1356),
    Source("S2", "S2 4000x3000 JPEG q90", "jpg", 4000, 3000),
    Source("S3", "S3 2048x1536 PNG+alpha", "png", 2048, 1536),
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


def make_sources(folder: Path, copies: int) -> None:
    """Copy 0 of each source, and hard links 1..copies to it under other names (the peers read
    these files; medialoom gets each uploaded as its own asset)."""
    folder.mkdir(parents=True, exist_ok=True)
    s1, s2, s3 = SOURCES
    photo_like(s1.width, s1.height, 1, 4.5).write_to_file(str(folder / s1.filename(0)), Q=90)
    photo_like(s2.width, s2.height, 2, 4.5).write_to_file(str(folder / s2.filename(0)), Q=90)
    xyz = pyvips.Image.xyz(s3.width, s3.height)
    radius = ((xyz[0] - s3.width / 2) ** 2 + (xyz[1] - s3.height / 2) ** 2) ** 0.5
    alpha = (255 - radius * (255 / (s3.width * 0.62))).cast("uchar")  # opaque centre, clear corners
    rgba = photo_like(s3.width, s3.height, 3, 1.5).bandjoin(alpha).copy(interpretation="srgb")
    rgba.write_to_file(str(folder / s3.filename(0)), compression=6)
    for source in SOURCES:
        for copy in range(1, copies + 1):
            os.link(folder / source.filename(0), folder / source.filename(copy))


# -- transformations --------------------------------------------------------------------------

@dataclass(frozen=True)
class Transform:
    key: str
    label: str
    width: int
    height: int | None
    output: str  # the content type's subtype every server must answer with
    accept: str | None = None


TRANSFORMS = (
    Transform("T1", "c_fill,g_auto,w_320/f_auto/q_auto + Accept: image/webp -> WebP", 320, None, "webp",
              accept="image/webp,image/*,*/*;q=0.8"),
    Transform("T2", "c_fit,h_512,w_512/fl_progressive,q_80 -> progressive JPEG", 512, 512, "jpeg"),
    Transform("T3", "w_1200/f_webp,q_75", 1200, None, "webp"),
    Transform("T4", f"c_fill,g_center,h_240,w_320/f_avif,q_50 (effort {AVIF_EFFORT})", 320, 240, "avif"),
    Transform("T5", "c_thumb,h_150,w_150/f_png", 150, 150, "png"),
)
T_AUTO_QUALITY = AUTO_QUALITY["good"]  # what q_auto gives T1 in medialoom; the peers ask for it


# -- HTTP client --------------------------------------------------------------------------------

@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]  # lower-case names
    seconds: float


class _Closed(Exception):
    """The server closed the connection before a whole response arrived."""

    def __init__(self, got_bytes: bool) -> None:
        super().__init__("connection closed")
        self.got_bytes = got_bytes


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _more(self, got: bool) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise _Closed(got or bool(self.buffer))
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._more(True)
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n")) < 0:
            self._more(True)
        line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
        return line

    def response(self) -> tuple[int, dict[str, str], bytes, bool]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._more(False)
        head, self.buffer = self.buffer[:end].decode("latin-1"), self.buffer[end + 4:]
        lines = head.split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            while size := int(self._line().split(b";")[0], 16):
                parts.append(self._take(size))
                self._take(2)
            while self._line():  # trailers, then the empty line
                pass
            body = b"".join(parts)
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"]))
        else:  # delimited by the end of the connection
            while True:
                try:
                    self._more(True)
                except _Closed:
                    break
            body, self.buffer, close = self.buffer, b"", True
        return int(status), headers, body, close

    def close(self) -> None:
        self.sock.close()


class Client:
    """Keep-alive HTTP/1.1 connections over plain sockets, one per server: a fraction of the
    CPU of http.client (which parses headers with the email package), so the load generator
    steals less CPU from the servers on a small machine. Not thread-safe: one per thread."""

    def __init__(self) -> None:
        self.connections: dict[tuple[str, int], _Connection] = {}

    def get(self, url: str, accept: str | None = None) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = f"Accept: {accept}\r\n" if accept else ""
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n".encode("latin-1")
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        for attempt in range(2):
            connection = self.connections.get(address)
            reused = connection is not None
            if connection is None:
                connection = self.connections[address] = _Connection(*address)
            started = time.perf_counter()
            try:
                connection.sock.sendall(request)
                status, headers, body, close = connection.response()
            except (OSError, _Closed, ValueError) as error:
                connection.close()
                del self.connections[address]
                idle_close = isinstance(error, _Closed | ConnectionResetError | BrokenPipeError) and not (
                    isinstance(error, _Closed) and error.got_bytes)
                if reused and attempt == 0 and idle_close:  # the server closed an idle keep-alive connection
                    continue
                raise ConnectionError(f"{type(error).__name__}: {error}") from None
            seconds = time.perf_counter() - started
            if close:
                connection.close()
                del self.connections[address]
            return Reply(status, body, headers, seconds)
        raise RuntimeError("unreachable")

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


# -- /proc --------------------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        one = pending.pop()
        if one in found:
            continue
        found.append(one)
        try:
            for task in Path(f"/proc/{one}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def process_tree_cpu(pid: int) -> float:
    """User+system CPU seconds of a process, its live descendants and its reaped children."""
    total = 0.0
    for one in process_tree(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15]) / TICKS  # utime stime cutime cstime
    return total


def peak_rss_mb(pid: int) -> tuple[float, int]:
    """VmHWM summed over the live process tree (MB), and how many processes that is."""
    total, count = 0, 0
    for one in process_tree(pid):
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
                    count += 1
        except OSError:
            continue
    return total / 1024, count


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, steal included)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def pressure_avg10() -> float | None:
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        return float(dict(item.split("=") for item in some[1:])["avg10"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


def machine_state() -> str:
    load = Path("/proc/loadavg").read_text().split()[:3]
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        pressure = {item.split("=")[0]: float(item.split("=")[1]) for item in some[1:3]}
        noisy = "  [NOISY: pressure avg10 > 50 %]" if pressure["avg10"] > NOISY_PRESSURE else ""
        cpu = f", cpu pressure avg10 {pressure['avg10']:.0f} % avg60 {pressure['avg60']:.0f} %{noisy}"
    except (OSError, IndexError, KeyError, ValueError):
        cpu = ""
    return f"load {' '.join(load)}{cpu}"


# -- servers ------------------------------------------------------------------------------------

class Server(ABC):
    name: str
    version: str
    process: subprocess.Popen
    base: str

    @abstractmethod
    def url(self, transform: Transform, source: Source, copy: int, width: int, height: int | None) -> str:
        """The URL that asks this server for ``transform`` of a source copy at this size."""

    def cpu_seconds(self) -> float:
        return process_tree_cpu(self.process.pid)

    def stop(self) -> None:
        stop_process(self.process)


class Medialoom(Server):
    name = "medialoom"

    def __init__(self, work: Path, sources: Path, workers: int, copies: int) -> None:
        from importlib.metadata import version

        self.version = f"{version('medialoom')}, libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}"
        self.running = start_server(work / "medialoom-data", workers=workers)  # fresh: empty derived store
        self.process = self.running.process
        self.base = self.running.base_url
        os.environ["CLOUDINARY_URL"] = self.running.cloudinary_url
        cloudinary.reset_config()
        jobs = [(source, copy) for copy in range(copies + 1) for source in SOURCES]

        def upload(job: tuple[Source, int]) -> None:
            source, copy = job
            cloudinary.uploader.upload(str(sources / source.filename(copy)), public_id=source.public_id(copy),
                                       overwrite=True)

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(upload, jobs))

    def url(self, transform: Transform, source: Source, copy: int, width: int, height: int | None) -> str:
        public_id = source.public_id(copy)
        options: dict = {}
        if transform.key == "T1":
            steps = [{"width": width, "crop": "fill", "gravity": "auto"}, {"fetch_format": "auto"},
                     {"quality": "auto"}]
        elif transform.key == "T2":
            steps = [{"crop": "fit", "width": width, "height": height}, {"quality": 80, "flags": "progressive"}]
            options["format"] = "jpg"
        elif transform.key == "T3":
            steps = [{"width": width}, {"fetch_format": "webp", "quality": 75}]
        elif transform.key == "T4":
            steps = [{"crop": "fill", "width": width, "height": height, "gravity": "center"},
                     {"fetch_format": "avif", "quality": 50}]
        else:
            steps = [{"width": width, "height": height, "crop": "thumb"}, {"fetch_format": "png"}]
        return cloudinary.utils.cloudinary_url(public_id, transformation=steps, **options)[0]

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
        probe = _run([str(python), "-c", "import PIL, PIL.features as f; print(PIL.__version__, "
                      "f.version('avif') if f.check('avif') else 'none')"], "thumbor's Pillow", env=_peer_env())
        pillow, avif = probe.split()
        self.version = f"{THUMBOR_VERSION}, Pillow {pillow}, AVIF: libavif {avif}"
        conf = work / "thumbor.conf"
        settings = {
            "LOADER": "thumbor.loaders.file_loader",
            "FILE_LOADER_ROOT_PATH": str(sources),
            "STORAGE": "thumbor.storages.no_storage",  # the loader reads local files: no copy of originals
            "RESULT_STORAGE": "thumbor.result_storages.file_storage",
            "RESULT_STORAGE_FILE_STORAGE_ROOT_PATH": str(work / "thumbor-results"),
            "RESULT_STORAGE_STORES_UNSAFE": True,
            "ALLOW_UNSAFE_URL": True,
            "QUALITY": 80,
            "PROGRESSIVE_JPEG": True,  # T2 asks medialoom for fl_progressive; T2 is the only JPEG output
            "PNG_COMPRESSION_LEVEL": 6,
            "AVIF_SPEED": 9 - AVIF_EFFORT,
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

    def url(self, transform: Transform, source: Source, copy: int, width: int, height: int | None) -> str:
        name = source.filename(copy)
        if transform.key == "T1":
            return f"{self.base}/unsafe/{width}x0/smart/filters:format(webp):quality({T_AUTO_QUALITY})/{name}"
        if transform.key == "T2":
            return f"{self.base}/unsafe/fit-in/{width}x{height}/filters:format(jpeg):quality(80)/{name}"
        if transform.key == "T3":
            return f"{self.base}/unsafe/{width}x0/filters:format(webp):quality(75)/{name}"
        if transform.key == "T4":
            return f"{self.base}/unsafe/{width}x{height}/center/middle/filters:format(avif):quality(50)/{name}"
        return f"{self.base}/unsafe/{width}x{height}/filters:format(png)/{name}"


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


# sharp's encoder options that IPX copies onto every pipeline (its URL modifiers cannot set them):
# progressive JPEG (T2), AVIF at medialoom's effort with 4:2:0 chroma as libvips and Pillow
# write it (T4), adaptive PNG row filters as libvips' filter=all and Pillow (T5).
IPX_SHARP_OPTIONS = {"jpegProgressive": True, "heifEffort": AVIF_EFFORT, "heifChromaSubsampling": "4:2:0",
                     "pngAdaptiveFiltering": True}


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
        env = {**os.environ, "IPX_BENCH_DIR": str(sources), "IPX_BENCH_PORT": str(port),
               "IPX_BENCH_SHARP_OPTIONS": json.dumps(IPX_SHARP_OPTIONS)}
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen([node, "server.mjs"], cwd=IPX_DIR, stdout=log, stderr=subprocess.STDOUT,
                                            env=env)
        self.base = f"http://127.0.0.1:{port}"
        _wait_ready(self, f"{self.base}/w_16/{SOURCES[0].filename(0)}", log_path)

    def url(self, transform: Transform, source: Source, copy: int, width: int, height: int | None) -> str:
        name = source.filename(copy)
        if transform.key == "T1":
            return f"{self.base}/w_{width},f_webp,q_{T_AUTO_QUALITY}/{name}"
        if transform.key == "T2":
            return f"{self.base}/s_{width}x{height},fit_inside,q_80,f_jpeg/{name}"
        if transform.key == "T3":
            return f"{self.base}/w_{width},f_webp,q_75/{name}"
        if transform.key == "T4":
            return f"{self.base}/s_{width}x{height},fit_cover,pos_centre,f_avif,q_50/{name}"
        return f"{self.base}/s_{width}x{height},fit_cover,f_png/{name}"


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


def fetch(client: Client, server: Server, url: str, accept_header: str | None) -> Reply | None:
    try:
        reply = client.get(url, accept_header)
    except (ConnectionError, OSError) as error:
        accept(server, url, None, error)
        return None
    return reply if accept(server, url, reply) else None


@dataclass
class Slot:
    """One server, one round of one cell."""
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    bytes: int = 0
    cpu: float = 0.0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    exhausted: bool = False

    @property
    def count(self) -> int:
        return len(self.latencies)

    def rps(self) -> float | None:
        return self.count / self.elapsed if self.count and self.elapsed else None

    def cpu_ms(self) -> float | None:
        return self.cpu * 1000 / self.count if self.count else None


@dataclass
class Cell:
    slots: list[Slot] = field(default_factory=list)
    na: str | None = None

    def _latencies(self) -> list[float]:
        return sorted(latency for slot in self.slots for latency in slot.latencies)

    @property
    def count(self) -> int:
        return sum(slot.count for slot in self.slots)

    @property
    def errors(self) -> int:
        return sum(slot.errors for slot in self.slots)

    @property
    def exhausted(self) -> bool:
        return any(slot.exhausted for slot in self.slots)

    def rps(self) -> float | None:
        values = [value for slot in self.slots if (value := slot.rps()) is not None]
        return statistics.median(values) if values else None

    def cpu_ms(self) -> float | None:
        values = [value for slot in self.slots if (value := slot.cpu_ms()) is not None]
        return statistics.median(values) if values else None

    def percentile_ms(self, percent: float) -> float | None:
        ordered = self._latencies()
        if not ordered:
            return None
        return ordered[max(0, math.ceil(len(ordered) * percent / 100) - 1)] * 1000

    def kb(self) -> float | None:
        count = self.count
        return sum(slot.bytes for slot in self.slots) / count / 1000 if count else None

    def client_core_share(self) -> float | None:
        elapsed = sum(slot.elapsed for slot in self.slots)
        return sum(slot.client_cpu for slot in self.slots) / elapsed if elapsed else None


def settle(server: Server, limit: float = 0.25) -> float:
    """The server's CPU once it has stopped working (thumbor stores results after answering)."""
    last, deadline = server.cpu_seconds(), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(0.02)
        now = server.cpu_seconds()
        if now - last < 0.5 / TICKS:
            return now
        last = now
    return last


def run_slot(server: Server, urls: Iterator[tuple[str, str | None]], clients: int, seconds: float,
             lock: threading.Lock) -> Slot:
    """``clients`` threads, each with its own keep-alive connection, taking the next URL until
    the time is up (or the URLs run out); the requests under way then finish."""
    slot = Slot()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        client, latencies, errors, size = Client(), [], 0, 0
        while time.monotonic() < deadline:
            with lock:
                item = next(urls, None)
            if item is None:
                slot.exhausted = True
                break
            reply = fetch(client, server, *item)
            if reply is None:
                errors += 1
            else:
                latencies.append(reply.seconds)
                size += len(reply.body)
        client.close()
        with lock:
            slot.latencies += latencies
            slot.errors += errors
            slot.bytes += size

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    cpu_before, own_before, started = server.cpu_seconds(), own_cpu_seconds(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slot.elapsed = time.monotonic() - started
    slot.client_cpu = own_cpu_seconds() - own_before
    slot.cpu = settle(server) - cpu_before
    return slot


def rotated(servers: list[Server], step: int) -> list[Server]:
    step %= len(servers)
    return servers[step:] + servers[:step]


@dataclass
class CellRun:
    cells: dict[str, Cell]
    pressure: float | None
    others: float | None  # share of one core used outside the benchmark

    @property
    def noisy(self) -> bool:
        return self.pressure is not None and self.pressure > NOISY_PRESSURE

    @property
    def busy(self) -> bool:
        return self.others is not None and self.others > BUSY_OTHERS


def run_cell(servers: list[Server], active: list[Server], urls: dict[str, Iterator[tuple[str, str | None]]],
             clients: int, seconds: float, rounds: int, offset: int, cells: dict[str, Cell]) -> CellRun:
    locks = {server.name: threading.Lock() for server in active}
    pressures = []
    busy0, own0 = machine_busy_seconds(), own_cpu_seconds()
    servers0 = {server.name: server.cpu_seconds() for server in servers}
    started = time.monotonic()
    for number in range(rounds):
        for server in rotated(active, number + offset):
            cells[server.name].slots.append(run_slot(server, urls[server.name], clients, seconds, locks[server.name]))
            pressures.append(pressure_avg10())
    elapsed = time.monotonic() - started
    ours = own_cpu_seconds() - own0 + sum(server.cpu_seconds() - servers0[server.name] for server in servers)
    others = max(0.0, machine_busy_seconds() - busy0 - ours) / elapsed if elapsed else None
    known = [value for value in pressures if value is not None]
    return CellRun(cells, max(known) if known else None, others)


# -- reporting ----------------------------------------------------------------------------------

def _num(value: float | None, width: int, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(math.log(value) for value in values) / len(values)) if values else None


HEADER = (f"  {'cell':<14} {'server':<11} {'n':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/req':>10} "
          f"{'err':>4} {'out KB':>7} {'x rps':>6} {'x CPU':>6}  {'psi':>4} {'oth%':>5}")


def print_cell(label: str, run: CellRun, notes: dict[str, str] | None = None, client_share: bool = False) -> None:
    ours = run.cells.get("medialoom")
    for number, (name, cell) in enumerate(run.cells.items()):
        first = number == 0
        tail = f"  {'':>4} {'':>5}"
        if first:
            tail = f"  {_num(run.pressure, 4, 0)} {_num(None if run.others is None else run.others * 100, 5, 0)}"
        if client_share:
            share = cell.client_core_share()
            tail += f" {_num(None if share is None else share * 100, 8, 0)}"
        if first and run.noisy:
            tail += "  NOISY"
        if first and run.busy:
            tail += "  BUSY"
        server = name + ((notes or {}).get(name, ""))
        if cell.na:
            print(f"  {label if first else '':<14} {server:<11} {'n/a':>5}  ({cell.na}){tail}", flush=True)
            continue
        peer = ours is not None and name != "medialoom" and not ours.na
        ratio = _ratio(ours.rps(), cell.rps()) if peer else None
        cpu_ratio = _ratio(cell.cpu_ms(), ours.cpu_ms()) if peer else None
        ran_out = "  (URLs ran out)" if cell.exhausted else ""
        print(f"  {label if first else '':<14} {server:<11} {cell.count:>5} {_num(cell.rps(), 7)} "
              f"{_num(cell.percentile_ms(50), 7)} {_num(cell.percentile_ms(99), 7)} {_num(cell.cpu_ms(), 10)} "
              f"{cell.errors:>4} {_num(cell.kb(), 7)} {_num(ratio, 6, 2)} {_num(cpu_ratio, 6, 2)}{tail}{ran_out}",
              flush=True)


def loud(message: str) -> None:
    bar = "!" * 100
    print(f"\n{bar}\n!!! {message}\n{bar}\n", flush=True)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


# -- main ---------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 1.2 s per cell, warm 2 s (about 3 min)")
    parser.add_argument("--only", default=",".join(SERVER_NAMES), help="servers to run, comma-separated")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per cell (3; quick 1)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="seconds per server per cold round (1.8; quick 1.2)")
    parser.add_argument("--warm-seconds", type=float, default=None,
                        help="seconds per server per warm round (3; quick 2)")
    parser.add_argument("--copies", type=int, default=24, help="copies of each source for the cold URLs")
    parser.add_argument("--medialoom-workers", type=int, default=1, help="medialoom server processes")
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - set(SERVER_NAMES)
    if unknown or not wanted:
        parser.error(f"--only takes {', '.join(SERVER_NAMES)}")
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.2 if args.quick else 1.8)
    warm_seconds = args.warm_seconds or (2.0 if args.quick else 3.0)

    started = time.monotonic()
    print(f"delivery benchmark, reference/performance.md §5a: {', '.join(wanted)}; {CORES} cores; "
          f"{machine_state()}", flush=True)
    print(f"  {rounds} round(s) per cell, {seconds:g} s per server per cold round, {warm_seconds:g} s warm; "
          f"loads c={' and c='.join(map(str, LOADS))}", flush=True)
    unavailable: dict[str, str] = {}
    servers: list[Server] = []
    summary_ok = True
    with tempfile.TemporaryDirectory(prefix="medialoom-bench-delivery-") as folder:
        work = Path(folder)
        sources = work / "sources"
        make_sources(sources, args.copies)
        print("sources: " + ", ".join(f"{s.label} {(sources / s.filename(0)).stat().st_size / 1e6:.2f} MB"
                                      for s in SOURCES) + f"; {args.copies} more copies of each for cold URLs",
              flush=True)
        try:
            for name, factory in (
                    ("medialoom", lambda: Medialoom(work, sources, args.medialoom_workers, args.copies)),
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
                summary_ok = run_suite(servers, rounds, seconds, warm_seconds, args.copies)
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
    return 1 if unavailable or PROBLEMS or not summary_ok else 0


def nominal(server: Server, transform: Transform, source: Source) -> tuple[str, str | None]:
    return server.url(transform, source, 0, transform.width, transform.height), transform.accept


def cold_urls(server: Server, transform: Transform, source: Source, copies: int,
              ) -> Iterator[tuple[str, str | None]]:
    """Every (copy, width, height) once, in an order that is the same for every server: widths
    (and heights, where the transformation has one) within +-JITTER of the nominal size."""
    offsets = range(-JITTER, JITTER + 1)
    combos = list(itertools.product(range(1, copies + 1), offsets, offsets if transform.height else [0]))
    random.Random(f"{transform.key}{source.key}").shuffle(combos)
    for copy, dw, dh in combos:
        height = transform.height + dh if transform.height else None
        yield server.url(transform, source, copy, transform.width + dw, height), transform.accept


def run_suite(servers: list[Server], rounds: int, seconds: float, warm_seconds: float, copies: int) -> bool:
    """Runs and prints everything; False when a server could not do a transformation it should
    (that is, medialoom)."""
    names = [server.name for server in servers]
    by_name = {server.name: server for server in servers}

    # Idle CPU: background work that would be charged to requests.
    before = {server.name: server.cpu_seconds() for server in servers}
    time.sleep(1.0)
    print("idle CPU (ms per s): " + ", ".join(f"{server.name} {(server.cpu_seconds() - before[server.name]) * 1000:.0f}"
                                              for server in servers), flush=True)

    # 0. output of each transformation at its nominal size; finds what a peer cannot do.
    na: dict[tuple[str, str, str], str] = {}  # (server, T, S) -> why
    client = Client()
    print("\nOutput at the nominal size (bytes, width x height, type); this also warms the servers up")
    print(f"  {'':<8}" + "".join(f" {name:>28}" for name in names))
    for transform in TRANSFORMS:
        for source in SOURCES:
            cells = []
            for server in servers:
                url, accept_header = nominal(server, transform, source)
                reply = fetch(client, server, url, accept_header)
                if reply is None:
                    na[(server.name, transform.key, source.key)] = "the request failed"
                    cells.append("ERROR -> n/a")
                    continue
                kind = (reply.headers.get("content-type") or "?").split(";")[0].split("/")[-1]
                if kind != transform.output:
                    na[(server.name, transform.key, source.key)] = f"answers {kind}, not {transform.output}"
                    cells.append(f"{kind}?! -> n/a")
                    continue
                image = pyvips.Image.new_from_buffer(reply.body, "")
                alpha = "+a" if image.hasalpha() else ""
                cells.append(f"{len(reply.body):,} {image.width}x{image.height} {kind}{alpha}")
            print(f"  {transform.key} {source.key}  " + "".join(f" {c:>28}" for c in cells), flush=True)
    client.close()
    for transform in TRANSFORMS:
        print(f"  {transform.key} = {transform.label}")

    # 1. cold
    results: dict[tuple[str, str, int], CellRun] = {}
    iterators = {(server.name, t.key, s.key): cold_urls(server, t, s, copies)
                 for server in servers for t in TRANSFORMS for s in SOURCES}
    offset = 0
    for clients in LOADS:
        print(f"\nCold, c={clients}: every request renders (width +-{JITTER} px, {copies} copies of each source); "
              f"{rounds} x {seconds:g} s per server, interleaved; {machine_state()}")
        print("  req/s and CPU ms/req: median of the rounds; p50/p99 over all the cell's requests; out KB: mean "
              "response; x rps = medialoom req/s / peer req/s; x CPU = peer CPU / medialoom CPU (>1: medialoom "
              "better)\n  psi: /proc/pressure/cpu some avg10 (highest after the cell's slots; it includes this "
              "benchmark's own load, which alone passes 50 % at c=8); oth%: CPU that other processes took during "
              "the cell, % of one core; NOISY: psi > 50 %; BUSY: oth% > 25")
        print(HEADER)
        for transform in TRANSFORMS:
            for source in SOURCES:
                cells = {server.name: Cell(na=na.get((server.name, transform.key, source.key))) for server in servers}
                active = [server for server in servers if not cells[server.name].na]
                urls = {server.name: iterators[(server.name, transform.key, source.key)] for server in active}
                run = run_cell(servers, active, urls, clients, seconds, rounds, offset, cells)
                offset += 1
                results[(transform.key, source.key, clients)] = run
                print_cell(f"{transform.key} {source.key} c={clients}", run)

    # 2. warm
    warm: dict[int, CellRun] = {}
    print(f"\nWarm: the 15 nominal URLs ({len(TRANSFORMS)} transformations x {len(SOURCES)} sources), primed, "
          f"then requested in turn; {rounds} x {warm_seconds:g} s per server; {machine_state()}")
    client = Client()
    for server in servers:
        for transform in TRANSFORMS:
            for source in SOURCES:
                if (server.name, transform.key, source.key) not in na:
                    fetch(client, server, *nominal(server, transform, source))
    client.close()
    print(HEADER + f" {'client%':>8}")
    for clients in LOADS:
        cells = {server.name: Cell() for server in servers}
        urls = {}
        for server in servers:
            items = [nominal(server, t, s) for t in TRANSFORMS for s in SOURCES
                     if (server.name, t.key, s.key) not in na]
            urls[server.name] = itertools.cycle(items)
        run = run_cell(servers, servers, urls, clients, warm_seconds, rounds, clients, cells)
        warm[clients] = run
        print_cell(f"warm c={clients}", run, {"ipx": "*"} if "ipx" in names else None, client_share=True)
    if "ipx" in names:
        print("  * IPX keeps no rendered results: every warm request renders again (put a CDN or cache in front).")
    print("  client% = CPU of this benchmark's own client threads, % of one core (they hold the GIL: near 100 % "
          "the client, not the server, sets the pace)")
    stalls = [name for run in warm.values() for name, cell in run.cells.items()
              if name != "ipx" and cell.count and 38 <= (cell.percentile_ms(50) or 0) <= 46]
    if stalls:
        print(f"  WARNING: warm p50 in the 38-46 ms band for {sorted(set(stalls))}: looks like a Nagle / "
              f"delayed-ACK stall, not work (performance.md §2c)")

    peaks = {server.name: peak_rss_mb(server.process.pid) for server in servers}
    return summarize(servers, by_name, results, warm, na, peaks)


def summarize(servers: list[Server], by_name: dict[str, Server], results: dict[tuple[str, str, int], CellRun],
              warm: dict[int, CellRun], na: dict[tuple[str, str, str], str],
              peaks: dict[str, tuple[float, int]]) -> bool:
    names = [server.name for server in servers]
    print("\nSummary (aims of the issue)")
    if na:
        for (name, t, s), why in sorted(na.items()):
            print(f"  n/a: {name} {t} {s}: {why}; left out of the geometric means")
    else:
        print("  every server did every transformation on every source (no n/a cells)")
    ok = not any(name == "medialoom" for name, _, _ in na)
    if "medialoom" not in names:
        print("  medialoom did not run: no ratios")
        return ok

    headline = results.get(("T2", "S1", 2))
    if headline and "thumbor" in names:
        ours, theirs = headline.cells["medialoom"], headline.cells["thumbor"]
        rps_ratio, cpu_ratio = _ratio(ours.rps(), theirs.rps()), _ratio(ours.cpu_ms(), theirs.cpu_ms())
        noisy = ("  [NOISY]" if headline.noisy else "") + ("  [BUSY]" if headline.busy else "")
        print(f"  headline T2 x S1 at c=2: medialoom {_num(ours.rps(), 0)} req/s, {_num(ours.cpu_ms(), 0)} ms CPU/req; "
              f"thumbor {_num(theirs.rps(), 0)} req/s, {_num(theirs.cpu_ms(), 0)} ms{noisy}")
        print(f"    req/s {_num(rps_ratio, 0, 2)}x thumbor's (aim >= 1.20): "
              f"{verdict(None if rps_ratio is None else rps_ratio >= 1.2)}")
        print(f"    CPU/req {_num(cpu_ratio, 0, 2)}x thumbor's (aim <= 0.90): "
              f"{verdict(None if cpu_ratio is None else cpu_ratio <= 0.9)}")
    for peer, aim in (("thumbor", 1.0), ("ipx", 1.2)):
        if peer not in names:
            continue
        for clients in (None, *LOADS):
            rps_ratios, cpu_ratios, noisy, busy = [], [], 0, 0
            for (_t, _s, c), run in results.items():
                if clients is not None and c != clients:
                    continue
                ours, theirs = run.cells["medialoom"], run.cells[peer]
                if ours.na or theirs.na:
                    continue
                noisy += run.noisy
                busy += run.busy
                if (value := _ratio(ours.rps(), theirs.rps())) is not None:
                    rps_ratios.append(value)
                if (value := _ratio(theirs.cpu_ms(), ours.cpu_ms())) is not None:
                    cpu_ratios.append(value)
            mean, cpu_mean = geomean(rps_ratios), geomean(cpu_ratios)
            if clients is None:
                print(f"  geometric mean over {len(rps_ratios)} cold cells vs {peer}: req/s {_num(mean, 0, 2)}x "
                      f"(aim >= {aim:.1f}): {verdict(None if mean is None else mean >= aim)}; "
                      f"{peer}'s CPU/req {_num(cpu_mean, 0, 2)}x ours ({noisy} cells NOISY, {busy} BUSY)")
            else:
                print(f"    c={clients} alone ({len(rps_ratios)} cells): req/s {_num(mean, 0, 2)}x, "
                      f"{peer}'s CPU/req {_num(cpu_mean, 0, 2)}x ours")
    for clients, run in warm.items():
        cell = run.cells["medialoom"]
        rps, p50, p99 = cell.rps(), cell.percentile_ms(50), cell.percentile_ms(99)
        share = cell.client_core_share() or 0
        met = None if rps is None or p99 is None else rps >= 1000 and p99 <= 10
        bound = (f"; the client used {share * 100:.0f} % of a core: client-bound, the server may do more"
                 if share >= 0.8 else f"; the client used {share * 100:.0f} % of a core")
        marks = ("  [NOISY]" if run.noisy else "") + ("  [BUSY]" if run.busy else "")
        print(f"  warm c={clients}: medialoom {_num(rps, 0)} req/s, p50 {_num(p50, 0, 1)} ms, p99 {_num(p99, 0, 1)} ms "
              f"(aim >= 1000 req/s, p99 <= 10 ms): {verdict(met)}{bound}{marks}")
        for peer in ("thumbor", "ipx"):
            if peer in run.cells:
                print(f"    {peer}{'*' if peer == 'ipx' else ''} {_num(run.cells[peer].rps(), 0)} req/s, "
                      f"p99 {_num(run.cells[peer].percentile_ms(99), 0, 1)} ms; medialoom "
                      f"{_num(_ratio(rps, run.cells[peer].rps()), 0, 2)}x")

    print("\n§5a goals for medialoom on this box (performance.md table; secondary)")
    def cell_of(t: str, s: str, c: int) -> Cell | None:
        run = results.get((t, s, c))
        return run.cells.get("medialoom") if run else None
    goals = []
    if (c2 := cell_of("T2", "S1", 2)) and (c8 := cell_of("T2", "S1", 8)):
        goals.append(("T2 S1 cold c=2: >= 65 req/s", c2.rps(), c2.rps() is not None and c2.rps() >= 65))
        goals.append(("T2 S1 cold c=2: <= 24 ms CPU/req", c2.cpu_ms(), c2.cpu_ms() is not None and c2.cpu_ms() <= 24))
        goals.append(("T2 S1 cold c=2: p99 <= 60 ms", c2.percentile_ms(99),
                      c2.percentile_ms(99) is not None and c2.percentile_ms(99) <= 60))
        goals.append(("T2 S1 cold c=8: p99 <= 150 ms", c8.percentile_ms(99),
                      c8.percentile_ms(99) is not None and c8.percentile_ms(99) <= 150))
    for t in ("T1", "T3"):
        if cell := cell_of(t, "S1", 2):
            goals.append((f"{t} S1 (WebP) cold c=2: <= 40 ms CPU/req", cell.cpu_ms(),
                          cell.cpu_ms() is not None and cell.cpu_ms() <= 40))
    if cell := cell_of("T4", "S1", 2):
        goals.append(("T4 S1 (AVIF) cold c=2: >= 12 req/s", cell.rps(), cell.rps() is not None and cell.rps() >= 12))
    if cell := cell_of("T2", "S2", 2):
        goals.append(("T2 S2 (12 MP) cold c=2: <= 60 ms CPU/req", cell.cpu_ms(),
                      cell.cpu_ms() is not None and cell.cpu_ms() <= 60))
        goals.append(("T2 S2 (12 MP) cold c=2: >= 28 req/s", cell.rps(), cell.rps() is not None and cell.rps() >= 28))
    if 2 in warm:
        cell = warm[2].cells["medialoom"]
        goals.append(("warm c=2: p50 <= 2 ms", cell.percentile_ms(50),
                      cell.percentile_ms(50) is not None and cell.percentile_ms(50) <= 2))
        if cold := cell_of("T2", "S1", 2):
            ratio = _ratio(cell.rps(), cold.rps())
            goals.append(("warm c=2 / T2 S1 cold c=2 req/s: >= 15x", ratio, ratio is not None and ratio >= 15))
    for label, value, met in goals:
        print(f"  {label:<44} {_num(value, 8, 1)}  {verdict(met)}")

    print("\nPeak RSS (VmHWM, summed over each server's processes): " + ", ".join(
        f"{name} {mb:.0f} MB" + (f" ({count} processes)" if count > 1 else "") for name, (mb, count) in peaks.items()))
    return ok


if __name__ == "__main__":
    sys.exit(main())
