"""What the runtime calls back into (``RunHooks``): load a run, execute one attempt of one
block, record how the run ended. Every attempt leaves a ``flow_run_steps`` row with the block's
resolved parameters (secrets masked), its output or error, and its duration.

Executing an attempt: the block's parameters are resolved (``{{ }}`` templates, flows.expressions)
and validated by its Params model; both failures are the flow's, named by parameter, and are
not retried. Then the block runs with a ``StepContext``; a BlockError or any other exception
fails the attempt, which the runtime retries by the block's policy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update

from medialoom.db.models import Environment, Flow, FlowRun, FlowRunStep, FlowVariable, FlowVersion, OutboxEvent
from medialoom.db.session import Database, utcnow
from medialoom.events import outbox
from medialoom.flows import expressions
from medialoom.flows.blocks.base import AssetOperations, BlockError, BlockType
from medialoom.flows.definition import FlowDocument
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


@dataclass(frozen=True)
class _RunFacts:
    environment_id: int
    flow_id: str
    flow_name: str
    secrets: tuple[str, ...]  # values to mask in the run's log
    # A re-run from the failed block: what the run it repeats recorded for the blocks that had
    # succeeded, by (block, iteration): (block type, port, output).
    reuse: Mapping[tuple[str, str], tuple[str, str | None, Any]]


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
        # Per run, read once per process: a run resumed after a crash is not loaded again (the
        # runtime replays the recorded load), so this is filled on first use.
        self._facts: dict[str, _RunFacts] = {}

    def load(self, run_id: str) -> RunSpec:
        with self.db.write() as session:
            run = session.scalar(select(FlowRun).where(FlowRun.run_id == run_id))
            if run is None:
                raise LookupError(f"run {run_id} is not in the database")
            document = session.scalar(select(FlowVersion.document).where(FlowVersion.flow_pk == run.flow_pk,
                                                                         FlowVersion.version == run.version))
            variables = session.execute(select(FlowVariable.name, FlowVariable.value, FlowVariable.secret)
                                        .where(FlowVariable.environment_id == run.environment_id)).all()
            if run.status == "queued":
                run.status, run.started_at = "running", utcnow()
            payload = run.trigger_payload
        return RunSpec(FlowDocument.model_validate(document), payload,
                       {name: value for name, value, _ in variables})

    def execute(self, run_id: str, call: BlockCall, attempt: int) -> Result | Failure:
        block_type = self.blocks.get(call.type)
        started, clock = utcnow(), time.perf_counter()
        iteration = ".".join(str(index) for index in call.iteration)
        facts = self._run_facts(run_id)
        reused = facts.reuse.get((call.block, iteration))
        if reused is not None and reused[0] == call.type:
            return self._reuse(run_id, call, iteration, reused)
        step_id = self._begin_step(run_id, call, iteration, attempt, started)
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
                result: Result | Failure = block_type.run(context, params)
            except expressions.ExpressionError as error:  # a condition's own expression
                raise _Final(str(error), "expression") from None
        except _Final as final:
            result = Failure(final.message, final.kind, retryable=False)
        except BlockError as error:
            result = Failure(str(error), retryable=error.retryable)
        except Exception as error:  # a block's bug must fail its attempt, not the engine
            log.exception("block %s (%s) of run %s raised", call.block, call.type, run_id)
            result = Failure(f"{type(error).__name__}: {error}")
        self._end_step(run_id, step_id, resolved, result, (time.perf_counter() - clock) * 1000)
        return result

    def finished(self, run_id: str, result: RunResult) -> None:
        if result.status == "failed":
            self._tell_of_failure(run_id, result.error)
        with self.db.write() as session:
            failed = result.status == "failed"
            session.execute(update(FlowRun).where(FlowRun.run_id == run_id).values(
                status=result.status, error=result.error if failed else None, finished_at=utcnow(),
                result=self._masked(run_id, {"steps": result.steps, "variables": result.variables,
                                             "message": None if failed else result.error or None})))
        self._facts.pop(run_id, None)

    def _run_facts(self, run_id: str) -> _RunFacts:
        facts = self._facts.get(run_id)
        if facts is None:
            with self.db.read() as session:
                run, flow_id, name = session.execute(select(FlowRun, Flow.flow_id, Flow.name).join(
                    Flow, Flow.id == FlowRun.flow_pk).where(FlowRun.run_id == run_id)).one()
                secrets = session.scalars(select(FlowVariable.value).where(
                    FlowVariable.environment_id == run.environment_id, FlowVariable.secret.is_(True))).all()
                reuse = {}
                if run.rerun_of and run.resume_from == "failed":
                    # The original's succeeded steps, the last attempt of each winning.
                    for block, iteration, block_type, port, output in session.execute(
                            select(FlowRunStep.block, FlowRunStep.iteration, FlowRunStep.block_type,
                                   FlowRunStep.port, FlowRunStep.output)
                            .join(FlowRun, FlowRun.id == FlowRunStep.run_pk)
                            .where(FlowRun.run_id == run.rerun_of, FlowRunStep.status == "succeeded")
                            .order_by(FlowRunStep.id)):
                        reuse[(block, iteration)] = (block_type, port, output)
            facts = self._facts[run_id] = _RunFacts(run.environment_id, flow_id, name,
                                                    tuple(value for value in secrets if value), reuse)
        return facts

    def _reuse(self, run_id: str, call: BlockCall, iteration: str,
               recorded: tuple[str, str | None, Any]) -> Result:
        """A block the repeated run had finished: its recorded outcome, logged as reused."""
        _, port, output = recorded
        if call.type == "set_variables":
            result: Result = SetVariables(dict(output or {}))
        elif call.type == "for_each":  # its items are evaluated again (it only computes)
            items = expressions.resolve(call.params, call.context, path=f"{call.block}.params").get("items", [])
            result = Loop(list(items))
        elif call.type == "delay":
            result = Sleep(0, output)
        else:
            result = Outcome(port or "ok", output)
        with self.db.write() as session:
            run_pk = session.scalar(select(FlowRun.id).where(FlowRun.run_id == run_id))
            exists = session.scalar(select(FlowRunStep.id).where(
                FlowRunStep.run_pk == run_pk, FlowRunStep.block == call.block, FlowRunStep.iteration == iteration))
            if exists is None:
                now = utcnow()
                session.add(FlowRunStep(run_pk=run_pk, block=call.block, block_type=call.type, iteration=iteration,
                                        attempt=0, status="reused", output=output, port=port, started_at=now,
                                        finished_at=now, duration_ms=0.0))
        return result

    def _tell_of_failure(self, run_id: str, error: str) -> None:
        """The flow's on_failure settings: an inbox message, and a signed notification."""
        facts = self._run_facts(run_id)
        with self.db.read() as session:
            run = session.scalar(select(FlowRun).where(FlowRun.run_id == run_id))
            document = session.scalar(select(FlowVersion.document).where(FlowVersion.flow_pk == run.flow_pk,
                                                                         FlowVersion.version == run.version))
            api_key = session.scalar(select(Environment.api_key).where(Environment.id == facts.environment_id))
        settings = FlowDocument.model_validate(document).settings.on_failure
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

    def _begin_step(self, run_id: str, call: BlockCall, iteration: str, attempt: int, started) -> int:  # noqa: ANN001
        with self.db.write() as session:
            run_pk = session.scalar(select(FlowRun.id).where(FlowRun.run_id == run_id))
            existing = session.scalar(select(FlowRunStep).where(
                FlowRunStep.run_pk == run_pk, FlowRunStep.block == call.block, FlowRunStep.iteration == iteration,
                FlowRunStep.attempt == attempt))
            if existing is not None:  # the attempt is being replayed after a crash: start it afresh
                existing.status, existing.started_at, existing.finished_at = "running", started, None
                existing.output = existing.error = existing.port = None
                return existing.id
            step = FlowRunStep(run_pk=run_pk, block=call.block, block_type=call.type, iteration=iteration,
                               attempt=attempt, status="running", started_at=started)
            session.add(step)
            session.flush()
            return step.id

    def _end_step(self, run_id: str, step_id: int, resolved: Any, result: Result | Failure,
                  duration_ms: float) -> None:
        values: dict[str, Any] = {"input": self._masked(run_id, resolved) if isinstance(resolved, dict) else None,
                                  "finished_at": utcnow(), "duration_ms": round(duration_ms, 3)}
        if isinstance(result, Failure):
            values.update(status="failed", error=result.message)
        else:
            port, output = _port_and_output(result)
            values.update(status="succeeded", port=port, output=self._masked(run_id, output))
        with self.db.write() as session:
            session.execute(update(FlowRunStep).where(FlowRunStep.id == step_id).values(**values))

    def _masked(self, run_id: str, value: Any) -> Any:
        value = _plain(value)
        secrets = self._run_facts(run_id).secrets
        if not secrets:
            return value
        text = json.dumps(value)
        for secret in secrets:
            text = text.replace(json.dumps(secret)[1:-1], MASK)
        return json.loads(text)


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


def _plain(value: Any) -> Any:
    """JSON values only (what a block returns is stored and shown as JSON)."""
    return json.loads(json.dumps(value, default=str))
