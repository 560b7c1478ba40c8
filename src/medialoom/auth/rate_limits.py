"""The Admin API's hourly call budget per environment, counted in the database so that every
server process shares it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from medialoom.db.models import RateWindow
from medialoom.db.session import Database
from medialoom.errors import RateLimited

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Budget:
    limit: int
    remaining: int
    reset_at: int  # unix time when the window ends


class AdminRateLimits:
    def __init__(self, db: Database, limit: int) -> None:
        self.db = db
        self.limit = limit
        insert = (sqlite if db.is_sqlite else postgresql).insert(RateWindow)
        self._count = insert.on_conflict_do_update(index_elements=["environment_id", "window_start"],
                                                   set_={"calls": RateWindow.calls + 1}).returning(RateWindow.calls)

    def take(self, environment_id: int) -> Budget:
        """Count one call; a 420 once the hour's budget is spent (the refused call counts too,
        so hammering does not earn a faster reset)."""
        window = int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS
        with self.db.write_connection() as connection:  # every Admin call passes here: no ORM session
            calls = connection.execute(self._count, {"environment_id": environment_id, "window_start": window,
                                                     "calls": 1}).scalar_one()
            if calls == 1:  # a new window: forget the old ones
                connection.execute(delete(RateWindow).where(RateWindow.environment_id == environment_id,
                                                            RateWindow.window_start < window))
        budget = Budget(self.limit, max(self.limit - calls, 0), window + WINDOW_SECONDS)
        if calls > self.limit:
            raise RateLimited(f"Rate Limit Exceeded: {self.limit} Admin API calls per hour; "
                              f"try again after {time.strftime('%H:%M:%S UTC', time.gmtime(budget.reset_at))}")
        return budget
