"""What the runtime calls back into (``RunHooks``): load a run, execute one attempt of one
block, record how the run ended. Every attempt leaves a ``flow_run_steps`` row with the block's
resolved parameters (secrets masked), its output or error, and its duration.

Writes are few: a block with effects writes its row when it starts (so a long block shows as
running) and again when it ends; pure blocks' rows wait in memory and go with the next write
(the next block's start, or the run's end). A replay computes pure blocks again, so rows lost
with a killed process come back; rows are keyed by (run, block, iteration, attempt).

Executing an attempt: the block's parameters are resolved (``{{ }}`` templates, flows.expressions)
and validated by its Params model; both failures are the flow's, named by parameter, and are
not retried. Then the block runs with a ``StepContext``; a BlockError or any other exception
fails the attempt, which the runtime retries by the block's policy.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Executable, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from medialoom.db.models import (Environment, Flow, FlowKeyLease, FlowRun, FlowRunStep, FlowVariable, FlowVersion,
                                 OutboxEvent)
from medialoom.db.session import Database, utcnow
from medialoom.events import causation, outbox
from medialoom.events.causation import Cause
from medialoom.flows import expressions, key_leases
from medialoom.flows.blocks.base import AssetOperations, BlockError, BlockType
from medialoom.flows.definition import SavedVersions
from medialoom.flows.calls import FlowCalls
from medialoom.flows.inbox import Inbox
from medialoom.flows.interpreter import (
    BlockCall,
    Failure,
    Loop,
    Outcome,
    Result,
    RunResult,
    SetVariables,
    Sleep,
    Stop,
)
from medialoom.flows.runtime.base import RunSpec
from medialoom.net.addresses import AllowList

log = logging.getLogger("medialoom.flows")

MASK = "********"
# Blocks with effects running at once in a process, hung ones included. Well above what the
# engine starts at once (3 x MEDIALOOM_FLOW_CONCURRENCY runs, up to 20 loop items each), since a
# block waiting for a thread is already spending its timeout (threads start only when needed).
BLOCK_THREADS = 256

# What ``load`` reads, built once (a statement's cache key is computed once per object).
_RUN_TO_LOAD = (
    select(FlowRun.id, FlowRun.environment_id, FlowRun.flow_pk, FlowRun.version, FlowRun.status,
           FlowRun.trigger_payload, FlowRun.partition_key, FlowRun.chain_depth, FlowRun.rerun_of,
           FlowRun.resume_from, Flow.flow_id, Flow.name, FlowKeyLease.run_id.is_not(None).label("holds_key"))
    .join(Flow, Flow.id == FlowRun.flow_pk)
    .outerjoin(FlowKeyLease, FlowKeyLease.run_id == FlowRun.run_id)
    .where(FlowRun.run_id == bindparam("run_id")))
_VERSION_DOCUMENT = select(FlowVersion.document).where(FlowVersion.flow_pk == bindparam("flow_pk"),
                                                       FlowVersion.version == bindparam("version"))
_VARIABLES = select(FlowVariable.name, FlowVariable.value, FlowVariable.secret).where(
    FlowVariable.environment_id == bindparam("environment_id"))

_MARK_RUNNING = (update(FlowRun).where(FlowRun.id == bindparam("run_pk"), FlowRun.status == "queued")
                 .values(status="running", started_at=bindparam("loaded")))
_FINISH = update(FlowRun).where(FlowRun.id == bindparam("run_pk")).values(
    status=bindparam("new_status"), error=bindparam("new_error"), finished_at=bindparam("finished"),
    started_at=func.coalesce(FlowRun.started_at, bindparam("loaded", type_=FlowRun.started_at.type)),
    result=bindparam("new_result", type_=FlowRun.result.type))

# A run log row's columns besides its key (run_pk, block, iteration, attempt).
_EMPTY_ROW: dict[str, Any] = {"block_type": None, "status": None, "input": None, "output": None, "port": None,
                              "error": None, "started_at": None, "finished_at": None, "duration_ms": None}


@dataclass
class StepContext:
    """The ``BlockContext`` a block runs with."""

    run_id: str
    block: str
    attempt: int
    idempotency_key: str
    expressions: Mapping[str, Any]
    deadline: float
    outbound_allow: AllowList
    environment_id: int
    flow_id: str
    inbox: Inbox
    calls: FlowCalls | None
    _assets_for: Callable[[int], AssetOperations] | None = None

    @property
    def assets(self) -> AssetOperations:
        if self._assets_for is None:
            raise BlockError("asset operations are not available in this process", retryable=False)
        return self._assets_for(self.environment_id)


@dataclass
class _RunFacts:
    run_pk: int
    chain_depth: int
    environment_id: int
    flow_id: str
    flow_name: str
    secrets: tuple[str, ...]  # values to mask in the run's log
    # A re-run from the failed block: what the run it repeats recorded for the blocks that had
    # succeeded, by (block, iteration): (block type, port, output).
    reuse: Mapping[tuple[str, str], tuple[str, str | None, Any]]
    loaded_at: datetime
    partition_key: str | None
    marked_running: bool = False
    unwritten: list[dict[str, Any]] = field(default_factory=list)  # run log rows not yet written
    # The items of a concurrent loop run in threads of their own and share these facts.
    lock: threading.Lock = field(default_factory=threading.Lock)


class RunHooks:
    def __init__(self, db: Database, blocks: Mapping[str, BlockType], outbound_allow: AllowList,
                 assets_for: Callable[[int], AssetOperations] | None = None) -> None:
        self.db = db
        self.blocks = blocks
        self.outbound_allow = outbound_allow
        self.inbox = Inbox(db)
        self.calls: FlowCalls | None = None  # set by the engine, which can start runs
        # Set once the services exist (they are built after the hooks).
        self.assets_for = assets_for
        # Per run: filled by load (at its start, every replay and every continuation), dropped
        # when it finishes here.
        self._facts: dict[str, _RunFacts] = {}
        # Runs finished here, for runs waiting for their key's holder (await_run_end).
        self._ended = 0
        self._run_ended = threading.Condition()
        self.saved = SavedVersions()
        self._upsert: Any = None
        # Blocks with effects run here, so that a hung one can be given up on (_within_timeout).
        self._block_threads = ThreadPoolExecutor(max_workers=BLOCK_THREADS, thread_name_prefix="medialoom-block")

    def load(self, run_id: str) -> RunSpec:
        with self.db.read_connection() as connection:
            row = connection.execute(_RUN_TO_LOAD, {"run_id": run_id}).one_or_none()
            if row is None:
                raise LookupError(f"run {run_id} is not in the database")
            flow = self.saved.get(row.flow_id, row.version, lambda: connection.scalar(
                _VERSION_DOCUMENT, {"flow_pk": row.flow_pk, "version": row.version}))
            variables = connection.execute(_VARIABLES, {"environment_id": row.environment_id}).all()
            if run_id not in self._facts:  # a concurrent loop's items load the run their parent loaded
                self._facts[run_id] = _RunFacts(
                    row.id, row.chain_depth, row.environment_id, row.flow_id, row.name,
                    tuple(value for _, value, secret in variables if secret and value),
                    self._reused(connection, row.rerun_of, row.resume_from),
                    _precise_now(), row.partition_key, marked_running=row.status != "queued")
        return RunSpec(flow, row.trigger_payload, {name: value for name, value, _ in variables}, row.partition_key,
                       holds_key=row.holds_key)

    def replayable(self, call: BlockCall) -> bool:
        block_type = self.blocks.get(call.type)
        return block_type is not None and block_type.pure

    def execute(self, run_id: str, call: BlockCall, attempt: int) -> Result | Failure:
        block_type = self.blocks.get(call.type)
        with_effects = block_type is None or not block_type.pure  # pure ones' rows wait for the next write
        iteration = ".".join(str(index) for index in call.iteration)
        facts = self._run_facts(run_id)
        reused = facts.reuse.get((call.block, iteration))
        if reused is not None and reused[0] == call.type and with_effects:
            return self._reuse(facts, call, iteration, reused)  # pure blocks simply compute again
        started, clock = utcnow(), time.perf_counter()
        row: dict[str, Any] = {"run_pk": facts.run_pk, "block": call.block, "block_type": call.type,
                               "iteration": iteration, "attempt": attempt, "started_at": started}
        if with_effects:
            self._write_start(facts, row)
        resolved, result = self._run(run_id, facts, call, attempt, iteration, block_type)
        row.update(self._outcome(run_id, resolved, result), duration_ms=round((time.perf_counter() - clock) * 1000, 3))
        self._remember_row(facts, row)
        if with_effects:
            self._write(facts)
        return result

    def _run(self, run_id: str, facts: _RunFacts, call: BlockCall, attempt: int, iteration: str,
             block_type: BlockType | None) -> tuple[Any, Result | Failure]:
        """Resolve the parameters and run the block: (the resolved parameters, the result)."""
        resolved: Any = None
        try:
            if block_type is None:
                raise _Final(f"block type {call.type!r} is not installed", "invalid")
            try:
                resolved = expressions.resolve(call.params, call.context, path=f"{call.block}.params")
                params = block_type.Params.model_validate(resolved)
            except expressions.ExpressionError as error:
                raise _Final(str(error), "expression") from None
            except ValidationError as error:
                raise _Final(f"invalid parameters of {call.block!r}: {_validation(error)}", "invalid") from None
            context = StepContext(run_id, call.block, attempt, f"{run_id}:{call.block}:{iteration}", call.context,
                                  time.monotonic() + call.timeout_seconds, self.outbound_allow,
                                  facts.environment_id, facts.flow_id, self.inbox, self.calls, self.assets_for)
            try:
                if block_type.pure:  # computes in microseconds: no thread hop
                    return resolved, block_type.run(context, params)
                return resolved, self._within_timeout(block_type, context, params, call.timeout_seconds,
                                                      Cause(run_id, facts.chain_depth))
            except expressions.ExpressionError as error:  # a condition's own expression
                raise _Final(str(error), "expression") from None
        except _TimedOut as timed_out:
            return resolved, Failure(str(timed_out), "timeout")
        except _Final as final:
            return resolved, Failure(final.message, final.kind, retryable=False)
        except BlockError as error:
            return resolved, Failure(str(error), retryable=error.retryable)
        except Exception as error:  # a block's bug must fail its attempt, not the engine
            log.exception("block %s (%s) of run %s raised", call.block, call.type, run_id)
            return resolved, Failure(f"{type(error).__name__}: {error}")

    def _within_timeout(self, block_type: BlockType, context: StepContext, params: Any, timeout: float,
                        cause: Cause) -> Result:
        """Run the block in a thread and stop waiting for it at its timeout. Blocks honour
        ``ctx.deadline`` themselves; this is for one that does not (a hung call, a third-party
        block): the attempt fails as timed out and may be retried, while the thread, which
        Python cannot kill, finishes in the background. Its late side effect carries the same
        idempotency key as the retry's. What the block changes is recorded as the run's doing
        (events/causation.py)."""

        def run() -> Result:
            with causation.caused_by(cause):
                return block_type.run(context, params)

        future = self._block_threads.submit(run)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()  # still queued behind hung blocks: never starts
            log.warning("block %s of run %s did not finish within %g s; left running in the background",
                        context.block, context.run_id, timeout)
            raise _TimedOut(f"timed out after {timeout:g} s") from None

    def finished(self, run_id: str, result: RunResult) -> None:
        facts = self._run_facts(run_id)
        if result.status == "failed":
            self._tell_of_failure(run_id, result.error)
        failed = result.status == "failed"
        facts.marked_running = True  # the same write says how it ended
        self._write(facts, (_FINISH, {
            "run_pk": facts.run_pk, "new_status": result.status, "new_error": result.error if failed else None,
            "finished": _precise_now(), "loaded": facts.loaded_at,
            "new_result": self._masked(run_id, {"steps": result.steps, "variables": result.variables,
                                                "message": None if failed else result.error or None})}),
            *([(key_leases.release(run_id), None)] if facts.partition_key else []))
        self._facts.pop(run_id, None)
        with self._run_ended:
            self._ended += 1
            self._run_ended.notify_all()

    def runs_ended(self) -> int:
        return self._ended

    def await_run_end(self, seen: int, timeout: float) -> None:
        with self._run_ended:
            self._run_ended.wait_for(lambda: self._ended > seen, timeout)

    def key_holder(self, run_id: str, key: str) -> str | None:
        with self.db.read_connection() as connection:
            return key_leases.holder(connection, run_id, key)

    def release_key(self, run_id: str) -> None:
        with self.db.write_connection() as connection:
            connection.execute(key_leases.release(run_id))

    def _run_facts(self, run_id: str) -> _RunFacts:
        facts = self._facts.get(run_id)
        if facts is None:  # executing a block of a run this process has not loaded (a harness)
            self.load(run_id)
            facts = self._facts[run_id]
        return facts

    @staticmethod
    def _reused(connection: Connection, rerun_of: str | None,
                resume_from: str | None) -> dict[tuple[str, str], tuple[str, str | None, Any]]:
        """For a re-run from the failed block: the original's succeeded steps (the last attempt
        of each wins), by (block, iteration)."""
        reuse: dict[tuple[str, str], tuple[str, str | None, Any]] = {}
        if rerun_of and resume_from == "failed":
            for block, iteration, block_type, port, output in connection.execute(
                    select(FlowRunStep.block, FlowRunStep.iteration, FlowRunStep.block_type,
                           FlowRunStep.port, FlowRunStep.output)
                    .join(FlowRun, FlowRun.id == FlowRunStep.run_pk)
                    .where(FlowRun.run_id == rerun_of, FlowRunStep.status == "succeeded")
                    .order_by(FlowRunStep.id)):
                reuse[(block, iteration)] = (block_type, port, output)
        return reuse

    def _reuse(self, facts: _RunFacts, call: BlockCall, iteration: str,
               recorded: tuple[str, str | None, Any]) -> Result:
        """A block the repeated run had finished: its recorded outcome, logged as reused."""
        _, port, output = recorded
        result: Result = Sleep(0, output) if call.type == "delay" else Outcome(port or "ok", output)
        now = utcnow()
        self._remember_row(facts, {"run_pk": facts.run_pk, "block": call.block, "block_type": call.type,
                                "iteration": iteration, "attempt": 0, "status": "reused", "output": output,
                                "port": port, "started_at": now, "finished_at": now, "duration_ms": 0.0})
        return result

    def _tell_of_failure(self, run_id: str, error: str) -> None:
        """The flow's on_failure settings: an inbox message, and a signed notification."""
        facts = self._run_facts(run_id)
        with self.db.read() as session:
            run = session.scalar(select(FlowRun).where(FlowRun.run_id == run_id))
            flow = self.saved.get(facts.flow_id, run.version, lambda: session.scalar(
                select(FlowVersion.document).where(FlowVersion.flow_pk == run.flow_pk,
                                                   FlowVersion.version == run.version)))
            api_key = session.scalar(select(Environment.api_key).where(Environment.id == facts.environment_id))
        settings = flow.settings.on_failure
        message = self._masked(run_id, error)
        if settings.inbox:
            self.inbox.add(facts.environment_id, kind="run_failed", title=f"Flow {facts.flow_name!r} failed",
                           body=message, flow_id=facts.flow_id, run_id=run_id, dedupe_key=f"{run_id}:failed")
        if settings.notification_url:
            with self.db.write() as session:
                already = session.scalar(select(OutboxEvent.id).where(
                    OutboxEvent.notification_type == "flow_run_failed", OutboxEvent.asset_id == run_id))
                if already is None:  # finished runs at least once: tell once
                    outbox.record(session, environment_id=facts.environment_id, notification_type="flow_run_failed",
                                  payload={"flow_id": facts.flow_id, "flow_name": facts.flow_name, "run_id": run_id,
                                           "error": message},
                                  api_key=api_key, asset_id=run_id, notification_url=settings.notification_url,
                                  source="flow")

    # -- the run log ------------------------------------------------------------------------

    def _write_start(self, facts: _RunFacts, row: dict[str, Any]) -> None:
        """A block with effects is about to run: its row says so (with the rows waiting)."""
        self._remember_row(facts, {**row, "status": "running"})
        self._write(facts)

    @staticmethod
    def _remember_row(facts: _RunFacts, row: dict[str, Any]) -> None:
        with facts.lock:
            facts.unwritten.append(row)

    def _write(self, facts: _RunFacts, *statements: tuple[Executable, dict[str, Any] | None]) -> None:
        """One transaction: the rows waiting (new ones inserted, those a replay repeats replaced),
        the run marked running on its first write, then ``statements`` (with their parameters)."""
        with facts.lock:
            with self.db.write_connection() as connection:
                if not facts.marked_running:
                    connection.execute(_MARK_RUNNING, {"run_pk": facts.run_pk, "loaded": facts.loaded_at})
                if facts.unwritten:
                    rows = {(row["block"], row["iteration"], row["attempt"]): {**_EMPTY_ROW, **row}
                            for row in facts.unwritten}
                    connection.execute(self._upsert_rows(), list(rows.values()))
                for statement, parameters in statements:
                    connection.execute(statement, parameters)
            facts.marked_running, facts.unwritten = True, []  # committed

    def _upsert_rows(self):  # noqa: ANN202
        if self._upsert is None:
            table = FlowRunStep.__table__
            dialect_insert = sqlite_insert if self.db.is_sqlite else postgresql_insert
            statement = dialect_insert(table)
            self._upsert = statement.on_conflict_do_update(
                index_elements=["run_pk", "block", "iteration", "attempt"],
                set_={column: statement.excluded[column] for column in _EMPTY_ROW})
        return self._upsert

    def _outcome(self, run_id: str, resolved: Any, result: Result | Failure) -> dict[str, Any]:
        """A finished attempt's row values."""
        values: dict[str, Any] = {"input": self._masked(run_id, resolved) if isinstance(resolved, dict) else None,
                                  "finished_at": utcnow(), "port": None, "output": None, "error": None}
        if isinstance(result, Failure):
            values.update(status="failed", error=result.message)
        else:
            port, output = _port_and_output(result)
            values.update(status="succeeded", port=port, output=self._masked(run_id, output))
        return values

    def _masked(self, run_id: str, value: Any) -> Any:
        value = _plain(value)
        secrets = self._run_facts(run_id).secrets
        if not secrets:
            return value
        text = json.dumps(value)
        for secret in secrets:
            text = text.replace(json.dumps(secret)[1:-1], MASK)
        return json.loads(text)


class _TimedOut(Exception):
    pass


class _Final(Exception):
    """A failure that another attempt would repeat (a bad expression, invalid parameters)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message, self.kind = message, kind


def _port_and_output(result: Result) -> tuple[str | None, Any]:
    if isinstance(result, Outcome):
        return result.port, result.output
    if isinstance(result, Loop):
        return "item", {"items": len(result.items)}
    if isinstance(result, Sleep):
        return "ok", {"sleep_seconds": result.seconds, **(result.output or {})}
    if isinstance(result, Stop):
        return None, {"stopped": True, "failed": result.failed, "message": result.message}
    if isinstance(result, SetVariables):
        return "ok", result.values
    return None, None


def _validation(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(part) for part in item['loc']) or '(params)'}: {item['msg']}"
                     for item in error.errors())


def _precise_now() -> datetime:
    """A run's start and end keep their microseconds (its duration_ms is read from them)."""
    return datetime.now(UTC)


def _plain(value: Any) -> Any:
    """JSON values only (what a block returns is stored and shown as JSON)."""
    return json.loads(json.dumps(value, default=str))
