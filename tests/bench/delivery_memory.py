"""Delivery memory benchmark (prints figures; not a test).

Two measurements of a real server (one web process) on loopback, read from /proc. Memory is
the server's process tree: the web process and its render workers (renderings run in child
processes, ``delivery.render_workers``).

1. **Big source**: a 100-megapixel baseline JPEG (12247 x 8165) is uploaded and fetched once at
   ``w_64`` (which starts the render worker that stays), then at ``w_320`` (and
   ``c_fill,w_320,h_320,g_auto``). Prints the tree's resident memory before, its peak (VmHWM
   summed over the processes) during each render, and the render time. The aim (issue 4) is
   under 100 MB of extra memory for ``w_320``.
2. **Soak**: for ``--soak`` seconds, 4 client threads ask for new variants of a 12 MP photo
   (each URL once: widths, crops, formats, effects), so that every request renders. Prints the
   tree's resident memory every 30 s; a flat line means no leak.

    .venv/bin/python tests/bench/delivery_memory.py [--soak 600] [--skip-big]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import cloudinary  # noqa: E402
import cloudinary.uploader  # noqa: E402
import cloudinary.utils  # noqa: E402
import httpx  # noqa: E402
import pyvips  # noqa: E402

from tests.server import start_server  # noqa: E402

SERVER_ENV = {
    "MEDIALOOM_MAX_IMAGE_BYTES": str(200 * 1024 * 1024),
    "MEDIALOOM_MAX_IMAGE_MEGAPIXELS": "120",
}


def process_tree(pid: int) -> list[int]:
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
    return tree


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since start or the last reset), summed over the process tree."""
    figures = {"VmRSS": 0, "VmHWM": 0}
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except FileNotFoundError:
            continue  # a render worker that retired meanwhile
        for line in lines:
            name, _, value = line.partition(":")
            if name in figures:
                figures[name] += int(value.split()[0])
    return figures


def reset_peak(pid: int) -> None:
    """Linux resets VmHWM to the current RSS when 5 is written to clear_refs."""
    for member in process_tree(pid):
        with contextlib.suppress(FileNotFoundError):
            Path(f"/proc/{member}/clear_refs").write_text("5")


def photo(width: int, height: int) -> pyvips.Image:
    """Photo-like content: smooth gradients plus noise, so JPEG sizes are realistic."""
    x = pyvips.Image.xyz(width, height)
    gradient = (x[0] * (255 / width)).bandjoin([x[1] * (255 / height), (x[0] + x[1]) * (127 / (width + height))])
    noise = pyvips.Image.gaussnoise(width, height, sigma=25)
    return (gradient + noise).cast("uchar").copy(interpretation="srgb")


def big_source(pid: int, folder: Path) -> None:
    path = folder / "big.jpg"
    started = time.perf_counter()
    photo(12247, 8165).write_to_file(str(path), Q=85, optimize_coding=False, interlace=False)
    print(f"100 MP baseline JPEG: {path.stat().st_size / 1e6:.1f} MB, made in {time.perf_counter() - started:.1f} s")
    public_id = cloudinary.uploader.upload(str(path), public_id="memory/big", overwrite=True)["public_id"]
    httpx.get(cloudinary.utils.cloudinary_url(public_id, format="jpg", width=64, crop="scale")[0], timeout=120)
    for options in ({"width": 320, "crop": "scale"},
                    {"width": 320, "height": 320, "crop": "fill", "gravity": "auto"}):
        url = cloudinary.utils.cloudinary_url(public_id, format="jpg", **options)[0]
        before = memory_kib(pid)["VmRSS"]
        reset_peak(pid)
        started = time.perf_counter()
        response = httpx.get(url, timeout=120)
        elapsed = time.perf_counter() - started
        peak = memory_kib(pid)["VmHWM"]
        print(f"  {url.split('/upload/')[1].split('/')[0]:<28} HTTP {response.status_code}  {elapsed:5.2f} s  "
              f"RSS before {before / 1024:6.1f} MB  peak {peak / 1024:6.1f} MB  extra {(peak - before) / 1024:6.1f} MB")


def soak(pid: int, folder: Path, seconds: float) -> None:
    path = folder / "soak.jpg"
    photo(4000, 3000).write_to_file(str(path), Q=85)
    public_id = cloudinary.uploader.upload(str(path), public_id="memory/soak", overwrite=True)["public_id"]
    crops = ["scale", "fill", "fit", "pad", "crop", "thumb"]
    formats = ["jpg", "webp", "png", "avif"]
    effects = [None, "sepia", "blur:200", "grayscale", "sharpen"]
    variants = itertools.count()
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counts = {"ok": 0, "failed": 0}

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < stop:
                with lock:
                    n = next(variants)
                # Every (width, height) pair is new for the first 810,000 requests: each renders.
                options = {"width": 100 + n % 900, "height": 100 + (n // 900) % 900, "crop": crops[n % len(crops)],
                           "background": "white"}
                effect = effects[(n // 7) % len(effects)]
                if effect:
                    options["effect"] = effect
                url = cloudinary.utils.cloudinary_url(public_id, format=formats[(n // 3) % len(formats)],
                                                      **options)[0]
                status = http.get(url).status_code
                with lock:
                    counts["ok" if status == 200 else "failed"] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    print(f"soak: {seconds:.0f} s of new variants of a 12 MP JPEG, 4 client threads")
    samples = []
    while any(thread.is_alive() for thread in threads):
        time.sleep(min(30, max(0.1, stop - time.monotonic())) if time.monotonic() < stop else 0.5)
        rss = memory_kib(pid)["VmRSS"] / 1024
        samples.append(rss)
        print(f"  t={time.monotonic() - started:5.0f} s  renders {counts['ok']:>6}  failed {counts['failed']}  "
              f"RSS {rss:6.1f} MB", flush=True)
    first_third = samples[: max(1, len(samples) // 3)]
    last_third = samples[-max(1, len(samples) // 3):]
    print(f"  RSS median first third {sorted(first_third)[len(first_third) // 2]:.1f} MB, "
          f"last third {sorted(last_third)[len(last_third) // 2]:.1f} MB, max {max(samples):.1f} MB; "
          f"{counts['ok'] / seconds:.1f} renders/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak", type=float, default=600, help="seconds of soak (0 to skip)")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "data", extra_env=SERVER_ENV)
        try:
            os.environ["CLOUDINARY_URL"] = server.cloudinary_url
            cloudinary.reset_config()
            pid = server.process.pid
            print(f"server pid {pid}, RSS at start {memory_kib(pid)['VmRSS'] / 1024:.1f} MB")
            if not args.skip_big:
                big_source(pid, Path(folder))
            if args.soak:
                soak(pid, Path(folder), args.soak)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
