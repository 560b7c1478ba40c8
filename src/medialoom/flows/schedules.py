"""When a schedule trigger fires. Pure: cron expressions (five fields, croniter's dialect) read in
an IANA time zone, so "0 9 * * 1-5" is nine in the morning where the team works, daylight saving
included. A slot is identified by its UTC instant; the scheduler starts one run per (flow, slot),
which is what keeps a slot from running twice across restarts and processes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_SLOTS = 100  # per flow and scheduler pass: a "* * * * *" flow catching up ten minutes has 10


def check_cron(expression: str) -> str:
    """The expression when it is a valid five-field cron expression; ValueError otherwise."""
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a five-field cron expression (minute hour day month weekday)")
    return expression


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Paris, UTC)") from None
    return name


def due_slots(expression: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """The slots in (after, until], as UTC instants, oldest first (at most MAX_SLOTS)."""
    zone = ZoneInfo(timezone)
    iterator = croniter(expression, after.astimezone(zone))
    slots = []
    while len(slots) < MAX_SLOTS:
        slot = iterator.get_next(datetime).astimezone(UTC)
        if slot > until:
            break
        slots.append(slot)
    return slots
