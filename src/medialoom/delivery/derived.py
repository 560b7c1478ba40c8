"""Derived files: rendered once per (asset version, canonical transformation, format), then served
from storage.

The blob store is the cache. A derived file's key holds the version id of the original it came
from and a digest of what was asked, so a new version (overwrite) never meets an old rendering,
and deleting an asset or a version removes everything under its prefix
(``assets.store.discard_original``). Identical requests that arrive together render once: the first does
the work, the others wait for its result. At most ``max_concurrent`` renderings run at a time
in a process, so a burst of new variants cannot take every CPU and all memory; each runs in a
render worker (``delivery.render_workers``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future

from medialoom.assets.store import derived_prefix
from medialoom.delivery.render_job import RenderJob
from medialoom.delivery.render_workers import RenderWorkers
from medialoom.storage import BlobStore
from medialoom.transform.grammar import Transformation, canonical
from medialoom.transform.render import Rendered


def derived_key(environment_id: int, version_id: str, transformation: Transformation, format_: str,
                variant: str = "") -> str:
    """``variant`` names request facts that change the bytes (Save-Data with q_auto)."""
    digest = hashlib.sha256(f"{canonical(transformation)}|{format_}|{variant}".encode()).hexdigest()[:40]
    return f"{derived_prefix(environment_id, version_id)}{digest}.{format_}"


class Derivations:
    def __init__(self, blobs: BlobStore, workers: RenderWorkers, max_concurrent: int) -> None:
        self.blobs = blobs
        self.workers = workers
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}

    def get_or_render(self, key: str, job: RenderJob,
                      stored: Callable[[Rendered], None] | None = None) -> str:
        """The blob key of the derived file, rendering and storing it first when missing;
        ``stored`` hears about a file this call rendered (to record it)."""
        if self.blobs.exists(key):
            return key
        with self._lock:
            future = self._inflight.get(key)
            leader = future is None
            if leader:
                future = self._inflight[key] = Future()
        if not leader:
            return future.result()
        try:
            with self._slots:
                if not self.blobs.exists(key):  # another process may have finished meanwhile
                    rendered = self.workers.render(job)
                    self.blobs.put(key, rendered.data)
                    if stored is not None:
                        stored(rendered)
            future.set_result(key)
            return key
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)
