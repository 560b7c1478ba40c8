"""Per-address budgets: a sliding minute, refusals that do not extend the wait, bounded memory."""

from __future__ import annotations

import pytest

from medialoom.auth.client_limits import ClientLimits, SlidingBudget
from medialoom.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_budget_slides_with_the_window() -> None:
    clock = Clock()
    budget = SlidingBudget(3, 60, clock=clock)
    for _ in range(3):
        assert budget.take("a") is None
        clock.now += 10
    assert budget.take("a") == pytest.approx(30)  # the first event ages out at 1060
    assert budget.take("b") is None  # other keys have their own
    clock.now += 30
    assert budget.spent("a") is None and budget.take("a") is None
    assert budget.take("a") == pytest.approx(10)


def test_refused_events_do_not_push_the_wait_out() -> None:
    clock = Clock()
    budget = SlidingBudget(2, 60, clock=clock)
    budget.take("a"), budget.take("a")
    for _ in range(100):
        clock.now += 0.5
        assert budget.take("a") is not None
    clock.now = 1060.0
    assert budget.take("a") is None


def test_no_limit_and_bounded_memory() -> None:
    assert all(SlidingBudget(0).take("a") is None for _ in range(1000))
    budget = SlidingBudget(1, 60, clock=Clock(), max_keys=100)
    for n in range(1000):
        budget.take(f"10.0.{n // 256}.{n % 256}")
    assert len(budget._events) == 100


def test_an_address_that_failed_too_often_is_refused_until_its_failures_age_out() -> None:
    clock = Clock()
    limits = ClientLimits(unsigned_uploads_per_minute=2, auth_failures_per_minute=3, clock=clock)
    for _ in range(3):
        limits.check_not_locked_out("1.2.3.4")
        limits.failed_authentication("1.2.3.4")
    with pytest.raises(TooManyRequests, match="failed authentications") as refused:
        limits.check_not_locked_out("1.2.3.4")
    assert refused.value.status == 429 and refused.value.retry_after == pytest.approx(60)
    limits.check_not_locked_out("5.6.7.8")
    clock.now += 60
    limits.check_not_locked_out("1.2.3.4")


def test_unsigned_uploads_count_per_environment_and_address() -> None:
    limits = ClientLimits(unsigned_uploads_per_minute=2, auth_failures_per_minute=3, clock=Clock())
    limits.take_unsigned_upload(1, "1.2.3.4")
    limits.take_unsigned_upload(1, "1.2.3.4")
    with pytest.raises(TooManyRequests, match="at most 2 per minute"):
        limits.take_unsigned_upload(1, "1.2.3.4")
    limits.take_unsigned_upload(2, "1.2.3.4")
    limits.take_unsigned_upload(1, "5.6.7.8")
