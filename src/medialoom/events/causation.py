"""What caused the changes being made in this context: a flow run, or nobody (an API call, a
person). Events recorded meanwhile carry it in the outbox's facts (never in a notification), so
the runs they start know how long a chain of runs they continue: a flow that tags on tag changes
would otherwise start itself forever (reliability.md WF-09). The flow engine caps the chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cause:
    run_id: str
    chain_depth: int  # 0 for a run nobody's run started: by hand, an API call, a schedule


# Sent by the http.request block, read by catch webhooks: the depth a run the call starts has.
CHAIN_HEADER = "X-Medialoom-Chain-Depth"

_RUN, _DEPTH = "caused_by_run", "chain_depth"  # the keys events carry in the outbox's facts

_current: ContextVar[Cause | None] = ContextVar("medialoom_cause", default=None)


@contextmanager
def caused_by(cause: Cause) -> Iterator[None]:
    token = _current.set(cause)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Cause | None:
    return _current.get()


def next_depth() -> int:
    """The chain depth of a run that what is happening now would start."""
    cause = _current.get()
    return 0 if cause is None else cause.chain_depth + 1


def event_facts() -> dict[str, Any]:
    """What an event recorded now carries about its cause (nothing when nobody's run made it)."""
    cause = _current.get()
    return {} if cause is None else {_RUN: cause.run_id, _DEPTH: cause.chain_depth + 1}


def read_facts(facts: dict[str, Any] | None) -> tuple[str | None, int, dict[str, Any]]:
    """An event's facts taken apart: the run that caused it, the depth of a run it starts, and
    its other facts."""
    facts = facts or {}
    others = {key: value for key, value in facts.items() if key not in (_RUN, _DEPTH)}
    return facts.get(_RUN), int(facts.get(_DEPTH) or 0), others
