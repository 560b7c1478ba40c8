"""The runtime on DBOS Transact (``dbos>=3.4,<4``): every run is one durable workflow whose steps
are checkpointed in a system database, so a process killed mid-run resumes the run at the
interrupted block, without running finished blocks again.

One generic workflow, ``medialoom.run_flow(run_id)``:

1. it loads the run (``RunHooks.load``). Not a step: the pinned version and the trigger payload
   never change, so loading them again on a replay gives the same (environment variables are
   read afresh, see the port), and secrets are not copied into the system database;
2. the pure ``Interpreter`` walks the graph with an executor that runs **one step per attempt of
   a block with effects** (``RunHooks.execute``), retries by the block's ``RetryPolicy`` with a
   durable ``DBOS.sleep`` between attempts, and sleeps durably for ``Sleep`` directives. Pure
   blocks (``RunHooks.replayable``: condition, switch, set variables ...) are executed in the
   workflow itself, on every replay, without a step: their result follows from what came
   before, which is recorded. A replay after a crash gets every recorded attempt back from the
   database and re-executes only the attempt that was running when the process died
   (at-least-once for that attempt: blocks get a stable idempotency key from the hooks,
   ``run:block:iteration``, and the same attempt number);
3. it reports the outcome (``RunHooks.finished``, idempotent, so not a step either) and returns
   the run's status.

Status mapping (``wait``/``status``): the workflow completes normally for every outcome the flow
itself decides, and returns ``succeeded`` or ``failed`` (a stop block is one of the two). A DBOS
``ERROR`` (the engine itself broke: the run could not be loaded or finished, a replay diverged)
and ``MAX_RECOVERY_ATTEMPTS_EXCEEDED`` read as ``failed``; ``CANCELLED`` (``cancel``) reads as
``stopped``. Until then a run is ``queued`` (ENQUEUED) or ``running`` (PENDING).

Runs without a ``partition_key`` submitted in a process that executes runs start at once while
it has fewer than ``worker_concurrency`` of them running (``_start_now``); beyond that, and from
other processes, they are queued. A run with a key that holds the key's lease (created while
nothing else of its key was queued or running, flows/key_leases.py; ``Submission.holds_key``)
starts at once too, always: the queued runs of its key that the queue lets in meanwhile wait for
it before their first block (``_wait_for_key``), holding their queue slots, so it must never
wait for one. ``can_start_now`` caps such runs at four times ``worker_concurrency``; beyond that
runs are created without the lease and queued.

The queue: one, partitioned with ``partition_concurrency=1`` (runs of one key never overlap,
across every process sharing the system database). A run without a key is queued under a key
of its own (``run:<run id>``), so it waits for nothing but the queue. One queue rather than a
keyed and an unkeyed one because every queue is polled, and each poll costs ~8 ms of CPU in
DBOS whether or not there is work. ``worker_concurrency`` limits how many queued runs each
process takes (next to at most as many started at once), and like the polling interval it is
stored in the queue's row, shared by every process on the system database: the process that
started last has set it for all. DBOS starts queued work by polling (``polling_interval_sec``,
0.2 s by default; each poll starts at most ``worker_concurrency`` runs, and an idle runtime
spends ~5 % of a core on it on the 2-CPU development machine): a run waits half an interval on
average before it starts, and consecutive runs of one key are at least one interval apart. On a
fresh system database the queue's poller starts up to a second after ``start`` (DBOS looks for
new queues once a second).

System database: SQLite for the embedded mode, a file of its own next to the application's data
(``sqlite:////var/lib/medialoom/runtime.sqlite``), never the application's database, to keep
their writers apart. It runs in WAL mode with ``synchronous=NORMAL`` (``sqlite_synchronous``):
a commit survives a killed process but not a power cut, which may lose the last few steps (their
blocks then run again). ``"FULL"`` adds an fsync per commit for power-cut durability.
With the application on PostgreSQL, pass its URL: DBOS keeps its tables in a schema of their
own (``dbos``).

Deployment with several processes (one system database on PostgreSQL):

* **Executor ids.** DBOS recovers, at launch, only the PENDING workflows whose ``executor_id``
  is this process's. Give every process an id that is stable across its restarts and unique
  among live processes (``worker-1``, ``worker-2`` ..., or the host name for one process per
  host); never run two live processes with one id (both would resume the same runs). An
  embedded single process can keep the default.
* **A dead process's runs.** DBOS open source has no heartbeat takeover: the runs a process was
  executing stay PENDING, and their partition keys stay blocked, until a process with the same
  id starts again. When a process is known to be gone for good (our own workers heartbeat
  table says so), a reaper in any live process calls ``runtime.recover([dead_id])``: it hands
  those runs back to their queues, where any live process takes them (the claim is atomic, so
  recovering twice is harmless).
* **Application version.** Recovery and dequeuing also filter on ``app_version``: a process
  only resumes runs started under its own version. Keep it pinned (``APP_VERSION``) and change
  it only when this module's workflow changes in a way a replay of an older run could not
  follow (then drain the old version before the upgrade). The interpreter must stay
  deterministic for the same reason: a replay that asks for different steps than were recorded
  fails the run (DBOS ``DBOSUnexpectedStepError``).
* **Every process that submits runs a ``DbosRuntime``** (``submit`` needs a launched DBOS), and
  every ``DbosRuntime`` also executes runs from the queues. A web process that should only
  enqueue would use DBOS's ``DBOSClient``, which this module does not wrap yet.

Limits worth knowing:

* Waits (retry backoff, delay blocks) up to ``long_wait_seconds`` are ``DBOS.sleep``: a durable
  record plus ``time.sleep`` in the workflow's thread, holding a thread and a
  ``worker_concurrency`` slot (and its partition key). A longer wait ends the workflow instead:
  it enqueues a continuation (``<run>.1``, ``<run>.2`` ...) that starts when the wait is over
  (DBOS ``delay_seconds``) and replays the run from the journal it is handed, so that a day-long
  delay holds nothing. ``wait``, ``status`` and ``cancel`` follow the continuations. During the
  wait other runs of the same partition key may run (the key is held only while executing; a
  run holding its key's lease gives it up when the wait begins).
* A block's ``timeout_seconds`` is enforced by the hooks, not by DBOS (which times out only
  async steps, dbos/_core.py ``invoke_step``): blocks get a deadline, and one that overruns it
  is given up on (flows/runs.py ``_within_timeout``).
* A concurrent for_each's items are child workflows (``medialoom.run_flow_item``), outside the
  queues: they do not count against ``worker_concurrency``, and each holds a thread of DBOS's
  unbounded executor while it runs (for_each caps them at 20 per loop).
* ``load`` and ``finished`` are called again by every replay (a process killed after
  ``finished`` but before DBOS recorded the workflow's end calls it twice). A transient error in
  either is retried a few times in the workflow; a run that is not in the database fails.
* ``stop()`` does not wait for runs in flight unless asked (``drain_seconds``); they are
  resumed at the next start, their interrupted attempt executed again.

What is stored: every recorded attempt's output and the run's final status, in the system
database (which block outputs may hold whatever a block returned). Protect its file or schema
like the application's database.

DBOS is a process-wide singleton (its workflow registry is global), so one ``DbosRuntime`` may
be started per process at a time. Every DBOS import stays in this module.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Mapping
from itertools import islice
from typing import Any

import sqlalchemy as sa
from dbos import DBOS, SetEnqueueOptions, SetWorkflowID

from medialoom.flows.definition import FlowDocument
from medialoom.flows.interpreter import (
    BlockCall,
    Failure,
    Interpreter,
    ItemPass,
    Loop,
    Outcome,
    PassResult,
    Result,
    SetVariables,
    Sleep,
    Stop,
)
from medialoom.flows.runtime.base import RunHooks, Submission
from medialoom.flows.runtime.own_thread import call_in_own_thread

APP_NAME = "medialoom"
APP_VERSION = "flows-2"  # bump only with a replay-incompatible change to run_flow (see above)
WORKFLOW_NAME = "medialoom.run_flow"
ITEM_WORKFLOW_NAME = "medialoom.run_flow_item"
QUEUE = "medialoom_flows_by_key"

# DELAYED: a continuation waiting for its start (only continuations are enqueued with a delay).
_ACTIVE_STATES = {"ENQUEUED": "queued", "DELAYED": "running", "PENDING": "running"}
_FINAL_STATES = {"CANCELLED": "stopped", "ERROR": "failed", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed"}

# DBOS functions are registered globally, so what they call back into is module state too.
_lock = threading.Lock()
_hooks: RunHooks | None = None
_runtime: DbosRuntime | None = None


class DbosRuntime:
    """The ``Runtime`` port on DBOS (see the module docstring)."""

    def __init__(self, system_database_url: str, *, executor_id: str = "local", app_version: str = APP_VERSION,
                 worker_concurrency: int = 8, polling_interval_sec: float = 0.2,
                 sqlite_synchronous: str = "NORMAL", schema: str = "dbos", pool_size: int | None = None,
                 log_level: str = "WARNING", long_wait_seconds: float = 60.0) -> None:
        if sqlite_synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"sqlite_synchronous: {sqlite_synchronous!r}")
        if worker_concurrency < 1:
            raise ValueError("worker_concurrency must be at least 1")
        self.system_database_url = system_database_url
        self.executor_id = executor_id
        self.app_version = app_version
        self.worker_concurrency = worker_concurrency
        self.polling_interval_sec = polling_interval_sec
        self.sqlite_synchronous = sqlite_synchronous.upper()
        self.schema = schema
        self.pool_size = pool_size or max(10, 2 * worker_concurrency + 6)
        self.log_level = log_level
        # A wait longer than this (a delay block, a retry's backoff) ends the workflow and a
        # continuation enqueued to start when the wait is over carries on; shorter ones sleep
        # durably in place, holding their worker.
        self.long_wait_seconds = long_wait_seconds
        self._engine: sa.Engine | None = None
        self._queue: Any = None  # the DBOS Queue, once started
        self._client: Any = None  # a DBOSClient, for processes that enqueue without executing
        # Runs without a key started at once, bypassing the queue's polling (see submit).
        self._direct_slots = threading.BoundedSemaphore(worker_concurrency)
        # Runs holding their key's lease started at once (see can_start_now).
        self._holders_running = 0
        self._holders_lock = threading.Lock()

    @property
    def sqlite(self) -> bool:
        return self.system_database_url.startswith("sqlite")

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, hooks: RunHooks) -> None:
        """Launch DBOS. Launching re-enqueues this executor id's PENDING runs (DBOS does it by
        itself: ``DBOS._launch`` calls ``get_pending_workflows(executor_id, app_version)``), and
        runs still queued are taken from their queues, so nothing else is needed to resume."""
        global _hooks, _runtime
        with _lock:
            if _runtime is not None:
                raise RuntimeError("a DbosRuntime is already running in this process (DBOS is a singleton)")
            _hooks, _runtime = hooks, self
        try:
            config: dict[str, Any] = {
                "name": APP_NAME,
                "system_database_url": self.system_database_url,
                "executor_id": self.executor_id,
                "application_version": self.app_version,
                "log_level": self.log_level,
                "sys_db_pool_size": self.pool_size,
            }
            if self.sqlite:
                self._engine = self._sqlite_engine()
                config["system_database_engine"] = self._engine
            else:
                config["dbos_system_schema"] = self.schema
            DBOS(config=config)  # type: ignore[arg-type]
            DBOS.launch()
            # Queues live in the system database and are registered after launch (DBOS 3.x).
            self._queue = DBOS.register_queue(QUEUE, worker_concurrency=self.worker_concurrency,
                                              partition_concurrency=1,
                                              polling_interval_sec=self.polling_interval_sec,
                                              on_conflict="always_update")
        except BaseException:
            self.stop()
            raise

    def stop(self, *, drain_seconds: int = 0) -> None:
        """Shut DBOS down. Runs still executing are left PENDING and resume when a process with
        this executor id starts again (or when ``recover`` names it). ``drain_seconds`` > 0
        stops taking runs from the queues, then waits up to that long (in whole seconds, DBOS
        polls once a second) for the running ones to end."""
        global _hooks, _runtime
        if _runtime is not self:
            return
        try:
            DBOS.destroy(workflow_completion_timeout_sec=drain_seconds)
        finally:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            self._queue = None
            with _lock:
                if _runtime is self:
                    _hooks, _runtime = None, None

    def _sqlite_engine(self) -> sa.Engine:
        """DBOS's own SQLite engine settings (IMMEDIATE transactions, a long busy timeout, foreign
        keys: dbos/_sys_db_sqlite.py) plus WAL and the chosen ``synchronous`` level."""
        engine = sa.create_engine(self.system_database_url, pool_size=self.pool_size, max_overflow=0,
                                  pool_timeout=30, pool_pre_ping=True)
        synchronous = self.sqlite_synchronous

        @sa.event.listens_for(engine, "connect")
        def configure(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute(f"PRAGMA synchronous={synchronous}")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")
            dbapi_conn.execute("PRAGMA foreign_keys=ON")
            dbapi_conn.isolation_level = "IMMEDIATE"

        return engine

    # -- the port ---------------------------------------------------------------------------

    def submit(self, submission: Submission) -> None:
        """Enqueue durably under the run id (a second submission of one id is a no-op: DBOS
        returns the existing workflow). The enqueue runs outside any workflow context, so a
        block that submits another run does not make it a child of its own run. A process that
        does not execute runs (a web worker) enqueues through a DBOS client instead."""
        if _runtime is not self:
            self._client_submit(submission)
            return
        queue = self._queue
        options = SetEnqueueOptions(queue_partition_key=_queue_key(submission.run_id, submission.partition_key),
                                    priority=_priority(submission))
        if _in_dbos_context():
            # DBOS would record an enqueue inside a workflow as that workflow's child (and a
            # step may not start workflows).
            def enqueue() -> None:
                if submission.holds_key:
                    self._start_holder(submission.run_id)
                    return
                with options, SetWorkflowID(submission.run_id):
                    queue.enqueue(run_flow, submission.run_id)

            call_in_own_thread(enqueue, "medialoom-submit")
            return
        if submission.holds_key:
            self._start_holder(submission.run_id)
            return
        if submission.partition_key is None and self._direct_slots.acquire(blocking=False):
            self._start_now(submission.run_id, self._direct_slots.release)
            return
        with options, SetWorkflowID(submission.run_id):
            queue.enqueue(run_flow, submission.run_id)

    def can_start_now(self) -> bool:
        """Room for one more run holding its key's lease. Such runs always start at once, never
        through the queue: queued runs of their key wait for them, holding their queue slots, so
        a holder waiting for a slot could wait forever. The limit (four times the queue's
        concurrency) keeps a burst of uploads from starting hundreds of runs at once; beyond it
        runs are created without the lease and queued."""
        with self._holders_lock:
            return _runtime is self and self._holders_running < 4 * self.worker_concurrency

    def _start_holder(self, run_id: str) -> None:
        with self._holders_lock:
            self._holders_running += 1

        def ended() -> None:
            with self._holders_lock:
                self._holders_running -= 1

        self._start_now(run_id, ended)

    def _start_now(self, run_id: str, ended: Any) -> None:
        """Start a run here and now, without waiting for the queue's next poll or a dequeue
        transaction; ``ended()`` once it is over. Durable all the same (the workflow's row is
        written before it starts, and DBOS resumes it at this executor's next launch, or
        ``recover`` hands it on)."""
        try:
            with SetWorkflowID(run_id):
                handle = DBOS.start_workflow(run_flow, run_id)
        except BaseException:
            ended()
            raise
        future = getattr(handle, "future", None)  # None: the run existed already, nothing started
        if future is None:
            ended()
        else:
            future.add_done_callback(lambda _: ended())

    def wait(self, run_id: str, timeout: float) -> str | None:
        """The run's final status, or None when it is still queued or running after ``timeout``
        seconds. KeyError for a run id never submitted."""
        self._require_started()
        deadline = time.monotonic() + timeout
        delay = 0.01
        workflow_id = run_id
        while True:
            found = _last_part(workflow_id)
            if found is None:
                raise KeyError(run_id)
            workflow_id, status = found
            final = _final_status(status.status, status.output)
            if final is not None:
                return final
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, 0.25)

    def status(self, run_ids: list[str]) -> Mapping[str, str]:
        """queued, running, succeeded, failed or stopped per run id; ids never submitted are
        left out."""
        self._require_started()
        found: dict[str, str] = {}
        run_of = {run_id: run_id for run_id in run_ids}  # workflow id -> the run it is part of
        while run_of:
            ids, continued = list(run_of), {}
            for start in range(0, len(ids), 500):
                for status in DBOS.list_workflows(workflow_ids=ids[start:start + 500], load_input=False):
                    later = _continued_by(status.status, status.output)
                    if later is not None:
                        continued[later] = run_of[status.workflow_id]
                    else:
                        found[run_of[status.workflow_id]] = (_final_status(status.status, status.output)
                                                             or _ACTIVE_STATES.get(status.status, "running"))
            run_of = continued
        return found

    # -- operations -------------------------------------------------------------------------

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Hand the PENDING runs of dead processes (by executor id, of this app version) back
        to their queues, where any live process takes them; returns their run ids. Only for
        ids whose process is known to be gone: a live one would keep running them too (DBOS's
        ownership token then fails its later checkpoints, but the attempt in flight ran twice).
        DBOS 3.4 exposes this as ``DBOS._recover_pending_workflows`` (dbos/_recovery.py)."""
        self._require_started()
        handles = DBOS._recover_pending_workflows(list(executor_ids))
        return [handle.workflow_id for handle in handles]

    def cancel(self, run_id: str) -> None:
        """Stop a run between steps (the attempt in flight finishes); it then reads as
        ``stopped``. ``RunHooks.finished`` is not called for a cancelled run."""
        self._require_started()
        found = _last_part(run_id)
        if found is not None:
            DBOS.cancel_workflow(found[0])

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The steps its first workflow recorded, in order: name (``<block>#<attempt>`` or
        ``<block>[<iteration>]#<attempt>``, ``DBOS.sleep``, the ``medialoom.run_flow_item`` of a
        concurrent loop, the ``medialoom.run_flow`` it handed a long wait to), start and end
        (epoch ms), and the recorded output."""
        self._require_started()
        return [{"step": step["function_id"], "name": step["function_name"],
                 "started_at_ms": step["started_at_epoch_ms"], "completed_at_ms": step["completed_at_epoch_ms"],
                 "output": step["output"], "error": None if step["error"] is None else str(step["error"])}
                for step in DBOS.list_workflow_steps(run_id)]

    def _client_submit(self, submission: Submission) -> None:
        """Enqueue from outside the runtime (the system database must exist: some process has
        started the runtime on it once)."""
        from dbos import DBOSClient

        with _lock:
            if self._client is None:
                if self.sqlite:
                    self._client = DBOSClient(system_database_engine=self._sqlite_engine())
                else:
                    self._client = DBOSClient(system_database_url=self.system_database_url,
                                              dbos_system_schema=self.schema)
        # A lease holder never waits behind its key's queued runs (they wait for it).
        key = None if submission.holds_key else submission.partition_key
        options: dict[str, Any] = {"workflow_name": WORKFLOW_NAME, "workflow_id": submission.run_id,
                                   "app_version": self.app_version, "application_name": APP_NAME,
                                   "queue_name": QUEUE, "queue_partition_key": _queue_key(submission.run_id, key)}
        if (priority := _priority(submission)) is not None:
            options["priority"] = priority
        self._client.enqueue(options, submission.run_id)

    def _require_started(self) -> None:
        if _runtime is not self:
            raise RuntimeError("the runtime is not started")


# -- the workflow -------------------------------------------------------------------------------


def _active_hooks() -> RunHooks:
    hooks = _hooks
    if hooks is None:
        raise RuntimeError("the flow runtime is not started")
    return hooks


def _bookkeeping(call: Any, *args: Any) -> Any:
    """Load and finish touch the application's database in the workflow itself: a few quick
    retries ride out a blip; a run that is not there (LookupError) fails at once."""
    for delay in (0.5, 1.0, None):
        try:
            return call(*args)
        except LookupError:
            raise
        except Exception:
            if delay is None:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


@DBOS.workflow(name=WORKFLOW_NAME)
def run_flow(run_id: str, journal: list[dict[str, Any]] | None = None, part: int = 0) -> dict[str, Any]:
    """A run, or (``part`` > 0) its continuation after a long wait, given what the parts before
    it recorded (``journal``)."""
    hooks = _active_hooks()
    spec = _bookkeeping(hooks.load, run_id)
    if spec.partition_key is not None and not spec.holds_key:
        _wait_for_key(hooks, run_id, spec.partition_key)
    executor = _DurableExecutor(run_id, spec.flow, hooks, journal or [])
    try:
        result = Interpreter(spec.flow, executor, env=spec.env).run(spec.trigger)
    except _LongWait as wait:
        # Hand the rest to a workflow that starts when the wait is over, so that the wait holds
        # no thread, no queue slot and no partition (an enqueue in a workflow is recorded, so a
        # replay of this one finds the continuation instead of making another).
        if spec.partition_key is not None:
            _bookkeeping(hooks.release_key, run_id)
        later = f"{run_id}.{part + 1}"
        queue = _runtime._queue  # type: ignore[union-attr]
        with SetEnqueueOptions(delay_seconds=wait.seconds,
                               queue_partition_key=_queue_key(run_id, spec.partition_key)), SetWorkflowID(later):
            queue.enqueue(run_flow, run_id, wait.journal, part + 1)
        return {"status": "waiting", "continued_by": later}
    _bookkeeping(hooks.finished, run_id, result)
    return {"status": result.status, "error": result.error}


def _wait_for_key(hooks: RunHooks, run_id: str, key: str) -> None:
    """Wait while another run that started at once on ``key`` (holding its lease) is going. The
    queue let this run in because nothing of the key was in the queue's own slots. No DBOS
    operation happens here, so a replay makes the same steps however long it waits. A holder not
    handed to the runtime yet (its hand-over was lost) is waited for: housekeeping hands it on.
    A lease whose run the runtime reports ended is no reason to wait."""
    delay = 0.01
    while True:
        seen = hooks.runs_ended()  # before the check, so that an end right after it wakes the wait
        holder = _bookkeeping(hooks.key_holder, run_id, key)
        if holder is None:
            return
        if _runtime is None or _runtime.status([holder]).get(holder) in ("succeeded", "failed", "stopped"):
            return
        hooks.await_run_end(seen, delay)
        delay = min(delay * 1.5, 0.25)


class _LongWait(Exception):
    def __init__(self, seconds: float, journal: list[dict[str, Any]]) -> None:
        super().__init__(f"waiting {seconds} s")
        self.seconds, self.journal = seconds, journal


class _DurableExecutor:
    """The interpreter's executor inside the workflow: one DBOS step per attempt of a block with
    effects; pure blocks executed in place.

    Everything durable it does (attempts, sleeps, concurrent loops) also goes into a journal, in
    order. A wait longer than the runtime's ``long_wait_seconds`` ends the workflow and hands the journal to
    a continuation, which replays the run from it: the interpreter asks for the same things in
    the same order, answered from the journal, until it reaches the point where the wait began.
    Items of a concurrent loop (``in_item``) wait in place instead."""

    def __init__(self, run_id: str, flow: FlowDocument, hooks: RunHooks, journal: list[dict[str, Any]],
                 *, in_item: bool = False) -> None:
        self.run_id = run_id
        self.flow = flow
        self.hooks = hooks
        self.earlier = journal  # what the parts of this run before this workflow did
        self.journal: list[dict[str, Any]] = []  # all this run did so far, the earlier parts included
        self.in_item = in_item

    def _from_earlier(self, kind: str) -> dict[str, Any] | None:
        position = len(self.journal)
        if position >= len(self.earlier):
            return None
        entry = self.earlier[position]
        if (entry["type"] == "slept") != (kind == "slept") or (entry["type"] == "passes") != (kind == "passes"):
            raise RuntimeError(f"the continued run diverged at its entry {position}: {entry['type']}, not {kind}")
        return entry

    def run_block(self, call: BlockCall) -> Result | Failure:
        if self.hooks.replayable(call):
            # Another attempt would compute the same: no retries, nothing recorded.
            return _decode(_attempt(self.run_id, call, 1))
        policy = self.flow.blocks[call.block].retry
        where = f"[{'.'.join(str(index) for index in call.iteration)}]" if call.iteration else ""
        result: Result | Failure = Failure("no attempt was made")
        for attempt in range(1, policy.max_attempts + 1):
            if attempt > 1:
                self.sleep(policy.delay_before(attempt))  # durable: a restart waits only what is left
            recorded = self._from_earlier("attempt") or DBOS.run_step(
                {"name": f"{call.block}{where}#{attempt}"}, _attempt, self.run_id, call, attempt)
            self.journal.append(recorded)
            result = _decode(recorded)
            if not isinstance(result, Failure) or not result.retryable:
                return result
        return result

    def sleep(self, seconds: float) -> None:
        if self._from_earlier("slept") is None:
            if seconds > _runtime.long_wait_seconds and not self.in_item:  # type: ignore[union-attr]
                raise _LongWait(seconds, [*self.journal, {"type": "slept"}])
            DBOS.sleep(seconds)
        self.journal.append({"type": "slept"})

    def run_passes(self, passes: list[ItemPass], concurrency: int) -> list[PassResult]:
        """Each item a child workflow, at most ``concurrency`` running. They are started and
        awaited strictly in item order, so a replay makes the same calls and finds each child
        under the id it had (``<run>-<call number>``, DBOS's child ids)."""
        earlier = self._from_earlier("passes")
        if earlier is not None:
            results = earlier["results"]
        else:
            waiting: deque[Any] = deque()
            results = []
            upcoming = iter(passes)
            for item_pass in islice(upcoming, concurrency):
                waiting.append(DBOS.start_workflow(run_flow_item, self.run_id, _encode_pass(item_pass)))
            while waiting:
                results.append(waiting.popleft().get_result())
                following = next(upcoming, None)
                if following is not None:
                    waiting.append(DBOS.start_workflow(run_flow_item, self.run_id, _encode_pass(following)))
        self.journal.append({"type": "passes", "results": results})
        return [_decode_pass_result(result) for result in results]


@DBOS.workflow(name=ITEM_WORKFLOW_NAME)
def run_flow_item(run_id: str, item_pass: dict[str, Any]) -> dict[str, Any]:
    """One item of a concurrent for_each (see ``_DurableExecutor.run_passes``)."""
    hooks = _active_hooks()
    spec = _bookkeeping(hooks.load, run_id)
    interpreter = Interpreter(spec.flow, _DurableExecutor(run_id, spec.flow, hooks, [], in_item=True), env=spec.env)
    result = interpreter.run_pass(spec.trigger, _decode_pass(item_pass))
    return {"steps": result.steps, "variables": result.variables, "failed": result.failed,
            "stopped": None if result.stopped is None else _encode(result.stopped)}


def _attempt(run_id: str, call: BlockCall, attempt: int) -> dict[str, Any]:
    """One attempt, as a plain dict (what DBOS records). An exception fails the attempt."""
    hooks = _active_hooks()  # outside the try: a runtime being stopped is no failure of the block
    try:
        result = hooks.execute(run_id, call, attempt)
    except Exception as error:  # noqa: BLE001  (a hook's exception is a failed attempt)
        result = Failure(f"{type(error).__name__}: {error}")
    return _encode(result)


# -- recorded values ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON values only, so what is recorded is what a replay gets back, whatever the serializer."""
    return json.loads(json.dumps(value, default=str))


def _encode(result: Result | Failure) -> dict[str, Any]:
    if isinstance(result, Failure):
        return {"type": "failure", "message": result.message, "kind": result.kind, "retryable": result.retryable}
    if isinstance(result, Outcome):
        return {"type": "outcome", "port": result.port, "output": _plain(result.output)}
    if isinstance(result, Loop):
        return {"type": "loop", "items": _plain(list(result.items)), "concurrency": result.concurrency}
    if isinstance(result, Sleep):
        return {"type": "sleep", "seconds": float(result.seconds), "output": _plain(result.output)}
    if isinstance(result, Stop):
        return {"type": "stop", "failed": result.failed, "message": result.message}
    if isinstance(result, SetVariables):
        return {"type": "set_variables", "values": _plain(result.values)}
    return {"type": "failure", "message": f"a block answered {type(result).__name__}, not a result", "kind": "invalid",
            "retryable": False}


def _decode(recorded: dict[str, Any]) -> Result | Failure:
    kind = recorded["type"]
    if kind == "outcome":
        return Outcome(recorded["port"], recorded["output"])
    if kind == "loop":
        return Loop(recorded["items"], recorded.get("concurrency", 1))
    if kind == "sleep":
        return Sleep(recorded["seconds"], recorded["output"])
    if kind == "stop":
        return Stop(recorded["failed"], recorded["message"])
    if kind == "set_variables":
        return SetVariables(recorded["values"])
    return Failure(recorded["message"], recorded["kind"], recorded["retryable"])


def _encode_pass(item_pass: ItemPass) -> dict[str, Any]:
    return _plain({"loop": item_pass.loop, "item": item_pass.item, "index": item_pass.index,
                   "iteration": list(item_pass.iteration), "steps": item_pass.steps,
                   "variables": item_pass.variables})


def _decode_pass(recorded: dict[str, Any]) -> ItemPass:
    return ItemPass(recorded["loop"], recorded["item"], recorded["index"], tuple(recorded["iteration"]),
                    recorded["steps"], recorded["variables"])


def _decode_pass_result(recorded: dict[str, Any]) -> PassResult:
    stopped = recorded["stopped"]
    return PassResult(recorded["steps"], recorded["variables"], recorded["failed"],
                      None if stopped is None else _decode(stopped))  # type: ignore[arg-type]


def _queue_key(run_id: str, partition_key: str | None) -> str:
    """The queue's partition for a run: its own key, or one of its own when it has none."""
    return partition_key if partition_key is not None else f"run:{run_id}"


def _priority(submission: Submission) -> int | None:
    """The queue's order for a run: its creation order. DBOS takes a partition's runs by
    priority, then by enqueue time in milliseconds, then by workflow id, so runs of one key
    enqueued within a millisecond (one batch of events) would start in the random order of their
    ids. DBOS priorities go up to 2**31 - 1; beyond that many runs the order is enqueue time's.
    Continuations have none (0, the first): a run already begun goes before later ones."""
    if submission.sequence is None:
        return None
    return max(1, min(submission.sequence, 2**31 - 1))


def _last_part(workflow_id: str) -> tuple[str, Any] | None:
    """The workflow now carrying the run ``workflow_id`` is part of, past its continuations, and
    its status; None when there is no such workflow."""
    while True:
        status = DBOS.get_workflow_status(workflow_id)
        if status is None:
            return None
        later = _continued_by(status.status, status.output)
        if later is None:
            return workflow_id, status
        workflow_id = later


def _continued_by(dbos_status: str, output: Any) -> str | None:
    """The workflow that carries on a run after a long wait, when this one handed over to it."""
    if dbos_status == "SUCCESS" and isinstance(output, dict):
        return output.get("continued_by")
    return None


def _final_status(dbos_status: str, output: Any) -> str | None:
    if dbos_status == "SUCCESS":
        status = output.get("status") if isinstance(output, dict) else None
        return status if status in ("succeeded", "failed", "stopped") else "succeeded"
    return _FINAL_STATES.get(dbos_status)


def _in_dbos_context() -> bool:
    try:
        return DBOS.workflow_id is not None
    except Exception:  # noqa: BLE001
        return False


__all__ = ["APP_VERSION", "DbosRuntime"]
