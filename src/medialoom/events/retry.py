"""When to try a failed notification again, and when to give up on it.

A schedule is the list of delays before retry 1, 2, ... (the first attempt is immediate and not
part of it), written as ``"5s,1m,5m,30m"``: units s, m, h and d, plain numbers are seconds. Once
the list is spent the delivery has failed for good. Each delay gets random jitter, and a
receiver's ``Retry-After`` answer can be read with ``parse_retry_after``. Pure: the caller
supplies the clock and, in tests, the randomness.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from random import random as _random

# Short steps first, because most failures are momentary (a receiver restarting, a deploy, a
# proxy answering 502) and the event is most useful while fresh. Then the delay roughly doubles,
# so an outage of a few hours costs at most about its own length again in waiting, up to 8 h
# between the last attempts. In all 23 h 36 min over 9 retries: a receiver that is down
# overnight still gets every event the next day (Svix, for comparison, spends about 27.6 h).
DEFAULT_SCHEDULE = "5s,1m,5m,30m,1h,2h,4h,8h,8h"
MAX_RETRIES = 50
# +-20 %: enough that deliveries which failed together (one receiver's outage) do not all come
# back in the same second when it recovers, small enough that the documented times still hold
# roughly. Symmetric, so on average the schedule takes as long as written.
JITTER = 0.2

_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)")
_DELTA_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class RetrySchedule:
    """The delays between a notification's attempts, read once from configuration."""

    delays: tuple[float, ...]  # seconds before retry 1, 2, ..., without jitter

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        """A schedule from its written form, e.g. ``"30s, 5m, 1h, 1d"``."""
        entries = text.split(",")
        if not text.strip():
            raise ValueError("The retry schedule is empty: give delays such as '30s,5m,1h'")
        if len(entries) > MAX_RETRIES:
            raise ValueError(f"The retry schedule has {len(entries)} delays; at most {MAX_RETRIES} "
                             "are allowed")
        delays = []
        for position, entry in enumerate(entries, start=1):
            written = entry.strip()
            if not written:
                raise ValueError(f"Retry delay {position} is empty (two commas in a row, or one at the end?)")
            if written.startswith("-"):
                raise ValueError(f"Retry delay {position} ({written!r}) is negative")
            match = _DURATION.fullmatch(written.lower())
            if not match:
                raise ValueError(f"Retry delay {position} ({written!r}) is not a duration such as 30s, 5m, "
                                 "2h or 1d")
            delays.append(float(match[1]) * _UNIT_SECONDS[match[2]])
        return cls(tuple(delays))

    @property
    def total_seconds(self) -> float:
        """From the first attempt to the last, without jitter."""
        return sum(self.delays)

    @property
    def attempts(self) -> int:
        """Deliveries tried at most: the immediate one plus every retry."""
        return 1 + len(self.delays)

    def delay_before(self, retry_number: int, random: Callable[[], float] = _random) -> float | None:
        """Seconds to wait before retry ``retry_number`` (1-based), jittered; None once the
        schedule is spent and the delivery has failed for good. ``random`` returns [0, 1)."""
        if retry_number < 1:
            raise ValueError(f"Retries are numbered from 1, not {retry_number}")
        if retry_number > len(self.delays):
            return None
        return self.delays[retry_number - 1] * (1 + JITTER * (2 * random() - 1))


def parse_retry_after(value: str | None, now: float, *, cap: float = 86400) -> float | None:
    """Seconds a receiver asked us to wait, from its ``Retry-After`` header (delta-seconds or an
    HTTP-date); None when absent or unreadable, so the schedule applies. A date in the past
    means no wait; the result never exceeds ``cap``, so a receiver cannot park an event forever.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        seconds = float(min(int(text), cap))
    else:
        try:
            when = parsedate_to_datetime(text)
        except ValueError:
            return None
        # A date without a zone ("-0000" or none) is taken as GMT, which HTTP-dates always are.
        seconds = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp() - now
    return min(max(seconds, 0.0), cap)
