"""Chores run at their own intervals on one thread; one that fails is tried again at its next turn."""

from __future__ import annotations

import time

from medialoom.housekeeping import Housekeeping


def test_chores_run_at_their_intervals_and_survive_failures() -> None:
    runs = {"fast": 0, "slow": 0, "broken": 0}

    def broken() -> None:
        runs["broken"] += 1
        raise RuntimeError("database hiccup")

    chores = Housekeeping()
    chores.every(0.05, "fast", lambda: runs.__setitem__("fast", runs["fast"] + 1))
    chores.every(0.5, "slow", lambda: runs.__setitem__("slow", runs["slow"] + 1))
    chores.every(0.05, "broken", broken)
    chores.start()
    time.sleep(0.8)
    chores.stop()
    assert runs["fast"] >= 5 and runs["broken"] >= 5  # not ended by its failures
    assert 1 <= runs["slow"] <= 2
    settled = dict(runs)
    time.sleep(0.2)
    assert runs == settled  # stopped
