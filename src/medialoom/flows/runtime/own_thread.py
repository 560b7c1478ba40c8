"""Run a call on a thread of its own and wait for it, as if called here.

DBOS reads the calling thread: it refuses to launch on one with a running event loop, and it
records an enqueue made inside a workflow as that workflow's child. Calls that must not look
like they come from here go through this.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def call_in_own_thread(call: Callable[[], T], name: str) -> T:
    """``call()``'s result, or its exception raised here."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as error:  # noqa: BLE001 - raised in the caller's thread below
            outcome.append((False, error))

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value
