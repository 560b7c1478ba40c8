"""Background chores of a serving process or worker, each at its own interval, on one thread:
taking up eager jobs whose process died, discarding chunked uploads nobody finished.

A chore that raises is logged and tried again at its next turn: a database hiccup must not end
the chores for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Chore:
    name: str
    every: float
    run: Callable[[], object]
    due: float


class Housekeeping:
    def __init__(self) -> None:
        self._chores: list[_Chore] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def every(self, seconds: float, name: str, run: Callable[[], object]) -> None:
        """Run ``run`` every ``seconds``, the first time one interval after ``start``."""
        self._chores.append(_Chore(name, seconds, run, 0.0))

    def start(self) -> None:
        if self._thread is not None or not self._chores:
            return
        now = time.monotonic()
        for chore in self._chores:
            chore.due = now + chore.every
        self._thread = threading.Thread(target=self._loop, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(max(0.0, min(chore.due for chore in self._chores) - time.monotonic())):
            for chore in self._chores:
                if chore.due <= time.monotonic():
                    try:
                        chore.run()
                    except Exception:
                        log.exception("housekeeping: %s failed", chore.name)
                    chore.due = time.monotonic() + chore.every
