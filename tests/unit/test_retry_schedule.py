"""Retry schedules: their written form, jitter bounds, exhaustion, and Retry-After."""

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from medialoom.events.retry import DEFAULT_SCHEDULE, MAX_RETRIES, RetrySchedule, parse_retry_after

NOW = 1_700_000_000.0


def test_units_and_plain_seconds():
    schedule = RetrySchedule.parse("5, 10s, 2m,1.5h , 1d,3M, 0s")
    assert schedule.delays == (5, 10, 120, 5400, 86400, 180, 0)
    assert schedule.attempts == 8
    assert schedule.total_seconds == 5 + 10 + 120 + 5400 + 86400 + 180


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("  ", "empty"),
    ("5s,,1m", "delay 2 is empty"),
    ("5s,1m,", "delay 3 is empty"),
    ("5s,-1m", "delay 2 ('-1m') is negative"),
    ("soon", "delay 1 ('soon') is not a duration"),
    ("5w", "not a duration"),
    ("1e3", "not a duration"),
    ("5 s m", "not a duration"),
    (",".join(["1s"] * (MAX_RETRIES + 1)), f"at most {MAX_RETRIES}"),
])
def test_parse_errors_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RetrySchedule.parse(text)


def test_as_many_retries_as_allowed():
    assert RetrySchedule.parse(",".join(["1s"] * MAX_RETRIES)).attempts == MAX_RETRIES + 1


def test_jitter_bounds_with_a_fake_random():
    schedule = RetrySchedule.parse("10s,1m")
    assert schedule.delay_before(1, lambda: 0.0) == pytest.approx(8)
    assert schedule.delay_before(1, lambda: 0.5) == pytest.approx(10)
    assert schedule.delay_before(1, lambda: 1.0) == pytest.approx(12)
    assert schedule.delay_before(2, lambda: 0.0) == pytest.approx(48)
    assert schedule.delay_before(2, lambda: 1.0) == pytest.approx(72)


def test_real_randomness_stays_within_the_jitter():
    schedule = RetrySchedule.parse("100s")
    assert all(80 <= schedule.delay_before(1) <= 120 for _ in range(200))


def test_exhaustion_means_failed_for_good():
    schedule = RetrySchedule.parse("1s,2s")
    assert schedule.delay_before(2, lambda: 0.5) == 2
    assert schedule.delay_before(3, lambda: 0.5) is None
    assert schedule.delay_before(100) is None
    with pytest.raises(ValueError, match="from 1"):
        schedule.delay_before(0)


def test_the_default_takes_about_a_day():
    schedule = RetrySchedule.parse(DEFAULT_SCHEDULE)
    assert 20 * 3600 <= schedule.total_seconds <= 28 * 3600
    assert schedule.total_seconds == 84965  # 23 h 36 min 5 s, as documented
    assert schedule.attempts == 10
    assert list(schedule.delays) == sorted(schedule.delays)
    # Even with every delay at its jitter's low end, the last attempt comes after most of a day.
    assert sum(schedule.delay_before(n, lambda: 0.0) for n in range(1, schedule.attempts)) > 18 * 3600


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120),
    (" 0 ", 0),
    ("86400", 86400),
    ("86401", 86400),
    ("9" * 400, 86400),
    (None, None),
    ("", None),
    ("soon", None),
    ("-5", None),
    ("1.5", None),
    ("Mon, 32 Oct 2015 07:28:00 GMT", None),
])
def test_retry_after_seconds(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_http_date():
    in_ten_minutes = format_datetime(datetime.fromtimestamp(NOW + 600, UTC), usegmt=True)
    assert parse_retry_after(in_ten_minutes, NOW) == 600
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0  # in the past: no wait
    next_week = format_datetime(datetime.fromtimestamp(NOW + 7 * 86400, UTC), usegmt=True)
    assert parse_retry_after(next_week, NOW) == 86400
    assert parse_retry_after(next_week, NOW, cap=3600) == 3600
    zoneless = format_datetime(datetime.fromtimestamp(NOW + 60, UTC)).replace("+0000", "-0000")
    assert parse_retry_after(zoneless, NOW) == 60
