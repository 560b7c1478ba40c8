"""This process's part in running flows: the runtime executing runs through the run hooks, and
a housekeeping loop that starts scheduled runs, hands over runs whose hand-over was lost (a
process that wrote a run and died before submitting it, or one that does not execute flows
itself) and prunes old runs.

The runtime starts only once there is something for it to do: an enabled flow, an unfinished
run, a run submitted here, or a dead executor's runs to take over. Until then a process that
executes flows behaves like one that does not. An idle runtime is not free: DBOS polls its
queue and threads wake several times a second (about 7 % of a core at the 0.2 s default on
the 2-CPU development machine), which a medialoom that only stores and delivers media should
not pay. Once started it runs until the process stops.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import Connection, delete, exists, or_, select

from medialoom.db.models import Flow, FlowExecutor, FlowKeyLease, FlowRun
from medialoom.db.session import Database, utcnow
from medialoom.flows import key_leases
from medialoom.flows.calls import FlowCalls
from medialoom.flows.runs import RunHooks
from medialoom.flows.runtime.base import Runtime, Submission
from medialoom.flows.runtime.own_thread import call_in_own_thread
from medialoom.flows.scheduler import Scheduler

log = logging.getLogger("medialoom.flows")

HOUSEKEEPING_SECONDS = 5.0
# A run written this long ago and still unknown to the runtime lost its hand-over.
LOST_AFTER = timedelta(seconds=5)
PRUNE_EVERY = 720  # housekeeping rounds (an hour)


class FlowEngine:
    def __init__(self, db: Database, runtime: Runtime, hooks: RunHooks, *, retention: timedelta,
                 executor_id: str = "local", executor_timeout: timedelta = timedelta(seconds=30),
                 max_chain_depth: int = 10) -> None:
        self.db = db
        self.runtime = runtime
        self.hooks = hooks
        self.retention = retention
        self.executor_id = executor_id
        self.executor_timeout = executor_timeout
        self.max_chain_depth = max_chain_depth  # see Settings.flow_max_chain_depth
        hooks.calls = FlowCalls(db, self.submit, max_chain_depth)  # flow.call blocks start runs through this engine
        # Schedule triggers (and scheduled searches, which act through the hooks' asset port).
        self.scheduler = Scheduler(db, self.submit, lambda environment_id: hooks.assets_for(environment_id))
        self.executing = False  # this process executes runs (start was called)
        self.runtime_started = False
        self._runtime_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Execute runs in this process: the runtime starts now if there is work for it, or
        when there is (see the module's docstring)."""
        self.executing = True
        self.heartbeat(started=True)
        if self.work_exists():
            self.ensure_runtime()
        self._thread = threading.Thread(target=self._housekeeping, name="flow-housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if not self.executing:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._runtime_lock:
            if self.runtime_started:
                self.runtime.stop()
                self.runtime_started = False
        self.executing = False

    def ensure_runtime(self) -> None:
        """Start the runtime unless it runs already (executing processes only)."""
        with self._runtime_lock:
            if self.runtime_started or not self.executing:
                return
            # DBOS refuses to launch on a thread with a running event loop, and a submit may
            # come from one.
            call_in_own_thread(lambda: self.runtime.start(self.hooks), "flow-runtime-start")
            self.runtime_started = True
            log.info("flow runtime started")

    def work_exists(self) -> bool:
        """Whether the runtime has anything to do: an enabled flow may start runs, and an
        unfinished run (queued, running, waiting) needs executing or resuming."""
        with self.db.read() as session:
            return bool(session.scalar(select(or_(
                exists().where(Flow.enabled.is_(True)), exists().where(FlowRun.finished_at.is_(None))))))

    def claims_key(self, connection: Connection, run_pk: int, run_id: str, key: str | None) -> bool:
        """Whether the run ``run_id`` (row ``run_pk``), being created in the transaction of
        ``connection``, takes its key's lease and so starts at once when handed over
        (flows/key_leases.py). Only a process that executes runs, with its runtime up and room
        for one more such run, starts runs at once."""
        return (key is not None and self.executing and self.runtime_started
                and self.runtime.can_start_now() and key_leases.claim(connection, run_pk, run_id, key))

    def submit(self, submission: Submission) -> None:
        """Hand a committed run to the runtime now. In a process that does not execute flows a
        failure to enqueue leaves the run queued: a process that does hands it over within a
        housekeeping round or two."""
        if self.executing:
            self.ensure_runtime()
            self.runtime.submit(submission)
            return
        try:
            self.runtime.submit(submission)
        except Exception as error:  # noqa: BLE001 - e.g. no runtime has created its database yet
            log.info("run %s left queued for a flow-executing process: %s", submission.run_id, error)

    def _housekeeping(self) -> None:
        rounds = 0
        while not self._stop.wait(HOUSEKEEPING_SECONDS):
            try:
                self.heartbeat()
                if not self.runtime_started and self.work_exists():
                    self.ensure_runtime()  # a flow was enabled, or a run queued, by another process
                self.recover_dead()
                self.scheduler.tick()
                self.resubmit_lost()
                rounds += 1
                if rounds % PRUNE_EVERY == 1:
                    self.prune()
            except Exception:  # the next round tries again
                log.exception("flow housekeeping failed")

    def heartbeat(self, *, started: bool = False) -> None:
        now = utcnow()
        with self.db.write() as session:
            row = session.get(FlowExecutor, self.executor_id)
            if row is None:
                session.add(FlowExecutor(executor_id=self.executor_id, heartbeat_at=now, started_at=now))
            else:
                row.heartbeat_at = now
                if started:
                    row.started_at = now

    def recover_dead(self) -> list[str]:
        """Hand the unfinished runs of executors silent for longer than the timeout back to the
        queues (whichever live process deletes a dead one's row does it, once). A process that
        was only slow finds its runs taken over: the idempotency keys are what makes that safe."""
        threshold = utcnow() - self.executor_timeout
        with self.db.read() as session:
            silent = session.scalars(select(FlowExecutor.executor_id).where(
                FlowExecutor.heartbeat_at < threshold, FlowExecutor.executor_id != self.executor_id)).all()
        recovered = []
        for executor_id in silent:
            with self.db.write() as session:
                claimed = session.execute(delete(FlowExecutor).where(
                    FlowExecutor.executor_id == executor_id, FlowExecutor.heartbeat_at < threshold)).rowcount
            if claimed:
                self.ensure_runtime()
                runs = self.runtime.recover([executor_id])
                log.warning("executor %s was silent for %s: %d of its runs handed back to the queues",
                            executor_id, self.executor_timeout, len(runs))
                recovered += runs
        return recovered

    def resubmit_lost(self) -> int:
        with self.db.read() as session:
            queued = session.execute(
                select(FlowRun.id, FlowRun.run_id, FlowRun.partition_key, FlowKeyLease.run_id.is_not(None))
                .outerjoin(FlowKeyLease, FlowKeyLease.run_id == FlowRun.run_id)
                .where(FlowRun.status == "queued", FlowRun.created_at <= utcnow() - LOST_AFTER).limit(500)).all()
        if not queued:
            return 0
        self.ensure_runtime()
        known = self.runtime.status([run_id for _, run_id, _, _ in queued])
        lost = [Submission(run_id, key, holds_key=bool(holds), sequence=pk)
                for pk, run_id, key, holds in queued if run_id not in known]
        for submission in lost:
            self.runtime.submit(submission)
        if lost:
            log.info("handed %d queued runs to the runtime again", len(lost))
        return len(lost)

    def prune(self) -> int:
        """Forget finished runs (and their steps) that ended before the retention window."""
        with self.db.write() as session:
            key_leases.prune(session)
            result = session.execute(delete(FlowRun).where(FlowRun.finished_at.is_not(None),
                                                           FlowRun.finished_at < utcnow() - self.retention))
            return result.rowcount or 0
