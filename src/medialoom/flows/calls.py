"""One flow calling another: the called flow (its trigger ``flow_call``, with declared inputs)
runs as a run of its own, and the caller's block waits for it and gets its outcome back.

The called run's id is derived from the calling step's idempotency key, so a calling block
replayed after a crash finds the run it had started instead of starting another.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from medialoom.db.models import Flow, FlowRun, FlowVersion
from medialoom.db.session import Database, utcnow
from medialoom.events import causation
from medialoom.flows.blocks.base import BlockError
from medialoom.flows.definition import FlowDocument
from medialoom.flows.runtime.base import Submission
from medialoom.flows.triggers import InputParams, check_inputs

FINISHED = ("succeeded", "failed")


class FlowCalls:
    def __init__(self, db: Database, submit: Callable[[Submission], None], max_chain_depth: int) -> None:
        self.db = db
        self.submit = submit
        self.max_chain_depth = max_chain_depth

    def call(self, environment_id: int, caller_run_id: str, idempotency_key: str, flow_id: str,
             inputs: dict[str, Any], *, deadline: float, poll_seconds: float = 0.05) -> dict[str, Any]:
        run_id = "run_" + hashlib.sha256(f"call|{idempotency_key}".encode()).hexdigest()[:24]
        depth = causation.next_depth()
        if depth > self.max_chain_depth:
            raise BlockError(f"not calling {flow_id}: this run is the end of a chain of {depth} runs that started "
                             f"one another, more than the limit of {self.max_chain_depth}", retryable=False)
        with self.db.read() as session:
            found = session.execute(
                select(Flow, FlowVersion.document).join(FlowVersion, (FlowVersion.flow_pk == Flow.id)
                                                        & (FlowVersion.version == Flow.current_version))
                .where(Flow.environment_id == environment_id, Flow.flow_id == flow_id)).first()
        if found is None:
            raise BlockError(f"Flow {flow_id} not found", retryable=False)
        flow, document = found
        trigger = FlowDocument.model_validate(document).trigger
        if trigger.type != "flow_call":
            raise BlockError(f"Flow {flow_id} starts on {trigger.type}, not when called", retryable=False)
        try:
            checked = check_inputs(InputParams.model_validate(trigger.params).parameters, inputs)
        except ValueError as error:
            raise BlockError(f"Invalid inputs for {flow_id}: {error}", retryable=False) from None
        try:
            with self.db.write() as session:
                session.add(FlowRun(run_id=run_id, environment_id=environment_id, flow_pk=flow.id,
                                    version=flow.current_version, status="queued", trigger_type="flow_call",
                                    trigger_payload={"inputs": checked, "caller_run_id": caller_run_id},
                                    parent_run_id=caller_run_id, chain_depth=depth, created_at=utcnow()))
        except IntegrityError:
            pass  # started by this step before a crash: wait for that one
        self.submit(Submission(run_id, None))
        while True:
            with self.db.read() as session:
                status, error, result = session.execute(select(FlowRun.status, FlowRun.error, FlowRun.result)
                                                        .where(FlowRun.run_id == run_id)).one()
            if status in FINISHED:
                break
            if time.monotonic() > deadline:
                raise BlockError(f"the called flow's run {run_id} did not finish in time (it goes on)")
            time.sleep(poll_seconds)
        if status == "failed":
            raise BlockError(f"the called flow's run {run_id} failed: {error}", retryable=False)
        result = result or {}
        return {"run_id": run_id, "status": status, "variables": result.get("variables", {}),
                "message": result.get("message"), "steps": result.get("steps", {})}
