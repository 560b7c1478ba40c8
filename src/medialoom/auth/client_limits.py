"""Budgets per client address: what keeps one address from guessing secrets or flooding an
environment with unsigned uploads (reliability.md AUTH-03, AUTH-08).

Pure and in memory: each server process counts what it sees. With ``serve --workers N`` an
address gets up to N times the budget, which still turns a flood into a trickle; the Admin
API's hourly budget, which Cloudinary documents exactly, is shared through the database
instead (rate_limits.py).

A budget is a sliding window: the events of the last ``window`` seconds count. An address past
its failed-authentication budget is refused before its credentials are even looked at, until
enough of its failures have aged out, so a guesser cannot go on at full speed with correct
requests mixed in.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from threading import Lock

from medialoom.errors import TooManyRequests

__all__ = ["ClientLimits", "SlidingBudget"]

# Addresses remembered per budget; past it the least recently seen are forgotten (a spoofed
# source per request must not grow the process without bound).
MAX_ADDRESSES = 100_000


class SlidingBudget:
    """At most ``limit`` events per ``window`` seconds per key; 0 is no limit."""

    def __init__(self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = MAX_ADDRESSES) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = Lock()

    def spent(self, key: str) -> float | None:
        """Seconds until ``key`` may have one more event, or None while it has budget left."""
        if not self.limit:
            return None
        with self._lock:
            events = self._recent(key)
            if events is None or len(events) < self.limit:
                return None
            return max(0.0, events[0] + self.window - self.clock())

    def take(self, key: str) -> float | None:
        """Count one event for ``key``; the seconds to wait if it was over the budget (then it is
        not counted: a refused flood does not push the end of the wait further out)."""
        if not self.limit:
            return None
        with self._lock:
            events = self._recent(key)
            if events is None:
                events = self._events[key] = deque()
                if len(self._events) > self.max_keys:
                    self._events.popitem(last=False)
            if len(events) >= self.limit:
                return max(0.0, events[0] + self.window - self.clock())
            events.append(self.clock())
            return None

    def _recent(self, key: str) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        self._events.move_to_end(key)
        horizon = self.clock() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        return events


class ClientLimits:
    """The budgets the API applies per client address."""

    def __init__(self, *, unsigned_uploads_per_minute: int, auth_failures_per_minute: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.unsigned_uploads = SlidingBudget(unsigned_uploads_per_minute, clock=clock)
        self.auth_failures = SlidingBudget(auth_failures_per_minute, clock=clock)

    def check_not_locked_out(self, address: str) -> None:
        """Before credentials are checked: refuse an address that failed too often lately."""
        wait = self.auth_failures.spent(address)
        if wait is not None:
            raise TooManyRequests(f"Too many failed authentications from this address; "
                                  f"try again in {_seconds(wait)}", retry_after=wait)

    def failed_authentication(self, address: str) -> None:
        self.auth_failures.take(address)

    def take_unsigned_upload(self, environment_id: int, address: str) -> None:
        wait = self.unsigned_uploads.take(f"{environment_id}|{address}")
        if wait is not None:
            raise TooManyRequests(f"Too many unsigned uploads from this address (at most "
                                  f"{self.unsigned_uploads.limit} per minute); try again in {_seconds(wait)}",
                                  retry_after=wait)


def _seconds(wait: float) -> str:
    whole = max(1, int(wait + 0.999))
    return f"{whole} second" + ("" if whole == 1 else "s")
