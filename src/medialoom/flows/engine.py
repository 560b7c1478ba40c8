"""This process's part in running flows: the runtime executing runs through the run hooks, and
a housekeeping loop that starts scheduled runs, hands over runs whose hand-over was lost (a
process that wrote a run and died before submitting it, or one that does not execute flows
itself) and prunes old runs.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import delete, select

from medialoom.db.models import FlowRun
from medialoom.db.session import Database, utcnow
from medialoom.flows.runs import RunHooks
from medialoom.flows.runtime.base import Runtime, Submission
from medialoom.flows.scheduler import Scheduler

log = logging.getLogger("medialoom.flows")

HOUSEKEEPING_SECONDS = 5.0
# A run written this long ago and still unknown to the runtime lost its hand-over.
LOST_AFTER = timedelta(seconds=5)
PRUNE_EVERY = 720  # housekeeping rounds (an hour)


class FlowEngine:
    def __init__(self, db: Database, runtime: Runtime, hooks: RunHooks, *, retention: timedelta) -> None:
        self.db = db
        self.runtime = runtime
        self.hooks = hooks
        self.retention = retention
        # Schedule triggers (and scheduled searches, which act through the hooks' asset port).
        self.scheduler = Scheduler(db, self.submit, lambda environment_id: hooks.assets_for(environment_id))
        self.started = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.runtime.start(self.hooks)
        self.started = True
        self._thread = threading.Thread(target=self._housekeeping, name="flow-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self.started:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.runtime.stop()
        self.started = False

    def submit(self, submission: Submission) -> None:
        """Hand a committed run to the runtime now when this process executes flows; otherwise
        a process that does picks it up within a housekeeping round."""
        if self.started:
            self.runtime.submit(submission)

    def _housekeeping(self) -> None:
        rounds = 0
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            try:
                self.scheduler.tick()
                self.resubmit_lost()
                rounds += 1
                if rounds % PRUNE_EVERY == 1:
                    self.prune()
            except Exception:  # the next round tries again
                log.exception("flow housekeeping failed")

    def resubmit_lost(self) -> int:
        with self.db.read() as session:
            queued = session.execute(select(FlowRun.run_id, FlowRun.partition_key).where(
                FlowRun.status == "queued", FlowRun.created_at <= utcnow() - LOST_AFTER).limit(500)).all()
        if not queued:
            return 0
        known = self.runtime.status([run_id for run_id, _ in queued])
        lost = [Submission(run_id, key) for run_id, key in queued if run_id not in known]
        for submission in lost:
            self.runtime.submit(submission)
        if lost:
            log.info("handed %d queued runs to the runtime again", len(lost))
        return len(lost)

    def prune(self) -> int:
        """Forget finished runs (and their steps) that ended before the retention window."""
        with self.db.write() as session:
            result = session.execute(delete(FlowRun).where(FlowRun.finished_at.is_not(None),
                                                           FlowRun.finished_at < utcnow() - self.retention))
            return result.rowcount or 0
