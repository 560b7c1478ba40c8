"""Render workers: child processes that decode and render, so that whatever a hostile file does
to a decoder stays in one child.

Decoders are where image servers break (reliability.md IMG-04: libwebp's CVE-2023-4863 and its
kind). When a worker dies on a file (a memory bug, an abort, the kernel's OOM killer) or a
rendering runs past its time limit, that one request gets an error, the worker is killed and
forgotten, and the next request gets a new one; the server, its other requests, uploads and
flows go on. Rendering in children also takes the pixel work off the server's GIL.

Workers start when first needed (a start costs ~0.4 s of CPU: Python, libvips and the codecs)
and are reused, one request at a time each. Idle ones retire after ``IDLE_SECONDS`` (one is
kept for the next request), and each retires after ``MAX_JOBS`` jobs, which hands back what the
allocator kept from large images. How many render at once is the caller's cap
(``delivery.derived``); there are never more workers than renderings in progress.

A source that killed workers ``CRASHES_TO_REFUSE`` times within ``CRASH_MEMORY_SECONDS`` is
refused without a try until then: the same file asked for again and again (at a new width each
time, so no cache helps) would otherwise cost a worker start per request.
"""

from __future__ import annotations

import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from medialoom.delivery.render_job import (LENGTH, MAX_HEADER_BYTES, RenderJob, WorkerFailed, answer,
                                           decode_header, frame)
from medialoom.transform.render import Rendered, RenderError

if TYPE_CHECKING:
    from medialoom.config import Settings

log = logging.getLogger(__name__)

MAX_JOBS = 1000
IDLE_SECONDS = 120.0
KEEP_IDLE = 1
CRASHES_TO_REFUSE = 2
CRASH_MEMORY_SECONDS = 600.0
MAX_REMEMBERED_CRASHES = 1000
READ_CHUNK = 1 << 20


class RenderWorkers:
    def __init__(self, settings: Settings, *, timeout: float) -> None:
        self.timeout = timeout
        self._settings = frame(pickle.dumps(settings))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # the most recently used last
        self._crashes: OrderedDict[str, list[float]] = OrderedDict()  # source key -> crash times
        self._closed = False

    def render(self, job: RenderJob) -> Rendered:
        """Raises what rendering raises (``render_job``'s errors), RenderError when the worker
        died or ran out of time, WorkerFailed when it broke the protocol."""
        self._refuse_if_crashing(job.source_key)
        worker = self._take()
        try:
            header, data = worker.call(pickle.dumps(job), self.timeout)
        except _WorkerLost as lost:
            worker.kill()
            if lost.crashed:
                self._remember_crash(job.source_key)
            log.warning("render worker %s lost on %s: %s", worker.pid, job.source_key, lost)
            raise RenderError(str(lost)) from None
        except BaseException:
            worker.kill()
            raise
        self._give_back(worker)
        return answer(header, data)

    def retire_idle(self) -> None:
        """Stop workers idle for ``IDLE_SECONDS`` (a housekeeping chore), keeping ``KEEP_IDLE``."""
        now = time.monotonic()
        with self._lock:
            keep = self._idle[-KEEP_IDLE:] if KEEP_IDLE else []
            retiring = [w for w in self._idle[:len(self._idle) - len(keep)] if now - w.idle_since > IDLE_SECONDS]
            self._idle = [w for w in self._idle if w not in retiring]
        for worker in retiring:
            worker.stop()

    @property
    def pids(self) -> list[int]:
        """The idle workers' process ids (for tests and diagnostics)."""
        with self._lock:
            return [worker.pid for worker in self._idle]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()

    # -- the pool -------------------------------------------------------------------------

    def _take(self) -> _Worker:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Worker(self._settings)

    def _give_back(self, worker: _Worker) -> None:
        worker.jobs += 1
        worker.idle_since = time.monotonic()
        with self._lock:
            if not self._closed and worker.jobs < MAX_JOBS:
                self._idle.append(worker)
                return
        # Retiring waits for the process to exit: not on the request's time.
        threading.Thread(target=worker.stop, name="render-worker-retire", daemon=True).start()

    # -- sources that kill workers --------------------------------------------------------

    def _refuse_if_crashing(self, source_key: str) -> None:
        with self._lock:
            recent = self._recent_crashes(source_key)
        if len(recent) >= CRASHES_TO_REFUSE:
            wait = CRASH_MEMORY_SECONDS - (time.monotonic() - recent[0])
            raise RenderError(f"this file stopped the renderer {len(recent)} times; it is refused for "
                              f"another {max(1, round(wait / 60))} min")

    def _remember_crash(self, source_key: str) -> None:
        with self._lock:
            self._crashes[source_key] = [*self._recent_crashes(source_key), time.monotonic()]
            self._crashes.move_to_end(source_key)
            while len(self._crashes) > MAX_REMEMBERED_CRASHES:
                self._crashes.popitem(last=False)

    def _recent_crashes(self, source_key: str) -> list[float]:
        since = time.monotonic() - CRASH_MEMORY_SECONDS
        return [at for at in self._crashes.get(source_key, ()) if at > since]


class _WorkerLost(Exception):
    def __init__(self, message: str, *, crashed: bool) -> None:
        super().__init__(message)
        self.crashed = crashed  # the process died (rather than being stopped for its time)


class _Worker:
    """One child process, used by one request at a time."""

    def __init__(self, settings_frame: bytes) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "medialoom.delivery.render_child", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, close_fds=True)
        self.pid = self.process.pid
        self.jobs = 0
        self.idle_since = time.monotonic()
        self._send(settings_frame)

    def call(self, job: bytes, timeout: float) -> tuple[dict, bytes]:
        deadline = time.monotonic() + timeout
        self._send(frame(job))
        (length,) = LENGTH.unpack(self._read(LENGTH.size, deadline, timeout))
        if length > MAX_HEADER_BYTES:
            raise WorkerFailed("The render worker sent a malformed answer")
        header = decode_header(self._read(length, deadline, timeout))
        return header, self._read(header["size"], deadline, timeout)

    def stop(self) -> None:
        """Let the worker end (its stdin closes); killed if it does not within a few seconds."""
        try:
            self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self.process.stdin.write(view):]
        except (BrokenPipeError, ConnectionResetError):
            raise _WorkerLost(self._death(), crashed=True) from None

    def _read(self, size: int, deadline: float, timeout: float) -> bytes:
        fd = self.process.stdout.fileno()
        poller = select.poll()  # not select(): a busy server's descriptors pass 1024
        poller.register(fd, select.POLLIN)
        received = bytearray()
        while len(received) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise _WorkerLost(f"rendering took longer than {timeout:g} s and was stopped", crashed=False)
            chunk = os.read(fd, min(size - len(received), READ_CHUNK))
            if not chunk:
                raise _WorkerLost(self._death(), crashed=True)
            received += chunk
        return bytes(received)

    def _death(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the renderer stopped answering"
        if code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit status {code}"
        return f"the renderer crashed on it ({how})"
