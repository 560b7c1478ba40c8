"""Flows of one environment: definitions with immutable versions, enabling, and their runs.

Saving validates the document against the block catalogue and the trigger types and stores a
new version; a run pins the version current when it started. Starting a run writes it as
``queued`` and hands it to the engine, which runs it durably (flows/runtime); a run whose
hand-over was lost with its process is handed over again by the engine's housekeeping.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import defer

from medialoom.assets.serialize import iso_or_none
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Flow, FlowRun, FlowRunStep, FlowVariable, FlowVersion
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, LoopDetected, NotFound, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from medialoom.events.causation import CHAIN_HEADER
from medialoom.flows.blocks.base import BlockType
from medialoom.flows.definition import FlowDocument, FlowInvalid, SavedVersions, parse
from medialoom.flows.engine import FlowEngine
from medialoom.flows.ids import new_id
from medialoom.flows.runtime.base import Submission
from medialoom.flows import webhooks
from medialoom.flows.triggers import TRIGGERS, InputParams, WebhookParams, check_inputs

log = logging.getLogger("medialoom.flows")

MAX_FLOWS = 1000
MAX_DOCUMENT_BYTES = 1 << 20


class Flows:
    def __init__(self, db: Database, blocks: Mapping[str, BlockType], engine: FlowEngine) -> None:
        self.db = db
        self.blocks = blocks
        self.engine = engine
        self.saved = SavedVersions()

    # -- definitions ------------------------------------------------------------------------

    def validate(self, document: object) -> FlowDocument:
        if not isinstance(document, dict):
            raise BadRequest("A flow is a JSON object")
        try:
            return parse(document, self.blocks, TRIGGERS)
        except FlowInvalid as invalid:
            raise BadRequest(f"Invalid flow: {invalid}") from None

    def create(self, env: EnvironmentInfo, document: object, *, enabled: bool = False, note: str = "") -> dict:
        flow = self.validate(document)
        now = utcnow()
        with self.db.write() as session:
            count = session.scalar(select(func.count()).select_from(Flow).where(Flow.environment_id == env.id))
            if count >= MAX_FLOWS:
                raise BadRequest(f"Too many flows (at most {MAX_FLOWS})")
            row = Flow(environment_id=env.id, flow_id=new_id("flw"), name=flow.name, enabled=enabled,
                       current_version=1, trigger_type=flow.trigger.type, created_at=now, updated_at=now)
            _give_webhook_token(row)
            session.add(row)
            session.flush()
            session.add(FlowVersion(flow_pk=row.id, version=1, document=flow.model_dump(by_alias=True, mode="json"),
                                    note=note, created_at=now))
            described = self._describe(row, flow)
        if enabled:
            self._start_runtime()
        return described

    def update(self, env: EnvironmentInfo, flow_id: str, document: object, *, note: str = "") -> dict:
        """A new version; runs already started keep theirs."""
        flow = self.validate(document)
        with self.db.write() as session:
            row = self._find(session, env, flow_id)
            row.current_version += 1
            row.name, row.trigger_type, row.updated_at = flow.name, flow.trigger.type, utcnow()
            _give_webhook_token(row)
            session.add(FlowVersion(flow_pk=row.id, version=row.current_version,
                                    document=flow.model_dump(by_alias=True, mode="json"), note=note,
                                    created_at=row.updated_at))
            return self._describe(row, flow)

    def set_enabled(self, env: EnvironmentInfo, flow_id: str, enabled: bool) -> dict:
        with self.db.write() as session:
            row = self._find(session, env, flow_id)
            row.enabled, row.updated_at = enabled, utcnow()
            described = self._describe(row, self._document(session, row, row.current_version))
        if enabled:
            self._start_runtime()
        return described

    def _start_runtime(self) -> None:
        """The runtime up before an enabled flow's first event: runs created while it is down are
        queued instead of starting at once (FlowEngine.claims_key). The flow is saved whatever
        happens here; if the runtime cannot start now, housekeeping tries again."""
        try:
            self.engine.ensure_runtime()
        except Exception:  # noqa: BLE001
            log.exception("the flow runtime did not start; housekeeping will try again")

    def get(self, env: EnvironmentInfo, flow_id: str, version: int | None = None) -> dict:
        with self.db.read() as session:
            row = self._find(session, env, flow_id)
            return self._describe(row, self._document(session, row, version or row.current_version), version)

    def list(self, env: EnvironmentInfo) -> dict:
        with self.db.read() as session:
            rows = session.scalars(select(Flow).where(Flow.environment_id == env.id).order_by(Flow.id)).all()
            return {"flows": [self._summary(row) for row in rows]}

    def versions(self, env: EnvironmentInfo, flow_id: str) -> dict:
        with self.db.read() as session:
            row = self._find(session, env, flow_id)
            versions = session.scalars(select(FlowVersion).where(FlowVersion.flow_pk == row.id)
                                       .order_by(FlowVersion.version.desc())).all()
            return {"flow_id": flow_id, "versions": [
                {"version": v.version, "note": v.note, "created_at": iso_or_none(v.created_at)} for v in versions]}

    def delete(self, env: EnvironmentInfo, flow_id: str) -> dict:
        with self.db.write() as session:
            row = self._find(session, env, flow_id)
            session.delete(row)
        return {"message": "deleted"}

    def duplicate(self, env: EnvironmentInfo, flow_id: str, name: str | None = None) -> dict:
        document = self.get(env, flow_id)["document"]
        document["name"] = name or f"{document['name']} (copy)"
        return self.create(env, document)

    @staticmethod
    def _find(session, env: EnvironmentInfo, flow_id: str) -> Flow:  # noqa: ANN001
        row = session.scalar(select(Flow).where(Flow.environment_id == env.id, Flow.flow_id == flow_id))
        if row is None:
            raise NotFound(f"Flow {flow_id} not found")
        return row

    def _document(self, session, row: Flow, version: int) -> FlowDocument:  # noqa: ANN001
        def stored() -> Any:
            document = session.scalar(select(FlowVersion.document).where(FlowVersion.flow_pk == row.id,
                                                                         FlowVersion.version == version))
            if document is None:
                raise NotFound(f"Flow {row.flow_id} has no version {version}")
            return document

        return self.saved.get(row.flow_id, version, stored)

    @staticmethod
    def _summary(row: Flow) -> dict[str, Any]:
        summary = {"flow_id": row.flow_id, "name": row.name, "enabled": row.enabled,
                   "version": row.current_version, "trigger_type": row.trigger_type,
                   "created_at": iso_or_none(row.created_at), "updated_at": iso_or_none(row.updated_at)}
        if row.trigger_type == "catch_webhook" and row.webhook_token:
            summary["webhook_path"] = f"flows/hooks/{row.webhook_token}"  # under /v1_1/<cloud>/
        return summary

    def _describe(self, row: Flow, flow: FlowDocument, version: int | None = None) -> dict[str, Any]:
        return {**self._summary(row), "document_version": version or row.current_version,
                "document": flow.model_dump(by_alias=True, mode="json")}

    # -- runs -----------------------------------------------------------------------------------

    def run(self, env: EnvironmentInfo, flow_id: str, inputs: object = None) -> dict:
        """A manual run of the current version with the trigger's declared inputs."""
        if inputs is not None and not isinstance(inputs, dict):
            raise BadRequest("inputs must be a JSON object")
        with self.db.read() as session:
            row = self._find(session, env, flow_id)
            flow = self._document(session, row, row.current_version)
        if flow.trigger.type not in ("manual", "flow_call"):
            raise BadRequest(f"Flow {flow_id} starts on {flow.trigger.type}, not by hand")
        specs = InputParams.model_validate(flow.trigger.params).parameters
        try:
            checked = check_inputs(specs, inputs or {})
        except ValueError as error:
            raise BadRequest(f"Invalid inputs: {error}") from None
        return _queued(self.enqueue(env, row.id, row.current_version, flow.trigger.type, {"inputs": checked}),
                       flow_id)

    def rerun(self, env: EnvironmentInfo, run_id: str, start_from: object = "start") -> dict:
        """Run again with the same trigger payload, on the flow's current version (a fixed flow is
        why one re-runs). From ``failed``: the blocks that had succeeded are not run again, their
        recorded outputs are used; the failed block and what follows it run."""
        if start_from not in ("start", "failed"):
            raise BadRequest("from must be 'start' or 'failed'")
        with self.db.read() as session:
            original = session.scalar(select(FlowRun).where(FlowRun.environment_id == env.id,
                                                            FlowRun.run_id == run_id))
            if original is None:
                raise NotFound(f"Run {run_id} not found")
            flow = session.get(Flow, original.flow_pk)
        if start_from == "failed" and original.status != "failed":
            raise BadRequest(f"Run {run_id} did not fail ({original.status}): re-run it from the start")
        run = self.enqueue(env, flow.id, flow.current_version, original.trigger_type, original.trigger_payload,
                           partition_key=original.partition_key, rerun_of=original.run_id, resume_from=start_from)
        return _queued(run, flow.flow_id)

    def receive_webhook(self, env: EnvironmentInfo, token: str, headers: Mapping[str, str], body: bytes) -> dict:
        """A call to a catch-webhook URL: checked (size, signature, type, declared inputs), then
        a run of the flow's current version with the body as its trigger payload."""
        with self.db.read() as session:
            row = session.scalar(select(Flow).where(Flow.webhook_token == token, Flow.environment_id == env.id,
                                                    Flow.trigger_type == "catch_webhook"))
            if row is None or not row.enabled:  # a disabled flow's URL says no more than a wrong one
                raise NotFound("No webhook at this address")
            flow = self._document(session, row, row.current_version)
            params = WebhookParams.model_validate(flow.trigger.params)
            shared = session.scalar(select(FlowVariable.value).where(
                FlowVariable.environment_id == env.id, FlowVariable.name == params.secret_variable)) \
                if params.secret_variable else None
        try:
            payload = webhooks.accept(params, headers, body,
                                      webhooks.Secrets(env.api_secret, env.signature_algorithm, shared),
                                      now=time.time())
        except webhooks.WebhookRefused as refused:
            raise _WEBHOOK_ERRORS.get(refused.status, BadRequest)(refused.message) from None
        depth = _chain_depth(headers.get(CHAIN_HEADER.lower()))
        if depth > self.engine.max_chain_depth:
            raise LoopDetected(f"Not started: the call comes from a chain of {depth - 1} flow runs that start one "
                               f"another, more than the limit of {self.engine.max_chain_depth}")
        run = self.enqueue(env, row.id, row.current_version, "catch_webhook", payload, chain_depth=depth)
        return {"run_id": run.run_id, "status": "queued"}

    def enqueue(self, env: EnvironmentInfo, flow_pk: int, version: int, trigger_type: str, payload: dict, *,
                partition_key: str | None = None, rerun_of: str | None = None, resume_from: str | None = None,
                chain_depth: int = 0) -> FlowRun:
        """Write a queued run in a transaction of its own, then hand it to the engine."""
        run = FlowRun(run_id=new_id("run"), environment_id=env.id, flow_pk=flow_pk, version=version,
                      status="queued", trigger_type=trigger_type, trigger_payload=payload,
                      partition_key=partition_key, rerun_of=rerun_of, resume_from=resume_from,
                      chain_depth=chain_depth, created_at=utcnow())
        with self.db.write_connection() as connection:
            run.id = record_run(connection, run)
            holds_key = self.engine.claims_key(connection, run.id, run.run_id, partition_key)
        self.engine.submit(Submission(run.run_id, partition_key, holds_key=holds_key, sequence=run.id))
        return run

    def runs(self, env: EnvironmentInfo, *, flow_id: str | None = None, status: str | None = None,
             limit: int = 50, before: int | None = None) -> dict:
        limit = max(1, min(int(limit), 500))
        with self.db.read() as session:
            # A listing shows no payloads: reading and parsing them was most of its cost.
            query = (select(FlowRun, Flow.flow_id).join(Flow, Flow.id == FlowRun.flow_pk)
                     .options(defer(FlowRun.trigger_payload), defer(FlowRun.result))
                     .where(FlowRun.environment_id == env.id))
            if flow_id:
                query = query.where(Flow.flow_id == flow_id)
            if status:
                query = query.where(FlowRun.status == status)
            if before:
                query = query.where(FlowRun.id < before)
            rows = session.execute(query.order_by(FlowRun.id.desc()).limit(limit)).all()
            return {"runs": [_run(run, owner) for run, owner in rows],
                    "next_before": rows[-1][0].id if len(rows) == limit else None}

    def run_detail(self, env: EnvironmentInfo, run_id: str) -> dict:
        with self.db.read() as session:
            found = session.execute(select(FlowRun, Flow.flow_id).join(Flow, Flow.id == FlowRun.flow_pk).where(
                FlowRun.environment_id == env.id, FlowRun.run_id == run_id)).first()
            if found is None:
                raise NotFound(f"Run {run_id} not found")
            run, owner = found
            steps = session.scalars(select(FlowRunStep).where(FlowRunStep.run_pk == run.id)
                                    .order_by(FlowRunStep.id)).all()
            return {**_run(run, owner), "trigger": run.trigger_payload, "result": run.result,
                    "steps": [_step(step) for step in steps]}


_NEW_RUN = insert(FlowRun).returning(FlowRun.id)
_RUN_COLUMNS = [column.key for column in FlowRun.__table__.columns if column.key != "id"]


def record_run(connection: Connection, run: FlowRun) -> int:
    """Insert a new run (a transient ``FlowRun``, never added to a session); its row id, which
    is also its place in its key's order. Core rather than a session's unit of work: a batch of
    events may start hundreds of runs, and the unit of work was most of what starting one cost."""
    return connection.scalar(_NEW_RUN, {key: value for key in _RUN_COLUMNS if (value := getattr(run, key)) is not None})


def _give_webhook_token(row: Flow) -> None:
    """A catch-webhook flow keeps its URL across versions (and gets one when it becomes one)."""
    if row.trigger_type == "catch_webhook" and not row.webhook_token:
        row.webhook_token = secrets.token_urlsafe(24)


_WEBHOOK_ERRORS = {401: Unauthorized, 413: PayloadTooLarge, 415: UnsupportedMediaType}


def _queued(run: FlowRun, flow_id: str) -> dict[str, Any]:
    """A run just queued, as ``run_detail`` shows it (without reading it back)."""
    return {**_run(run, flow_id), "trigger": run.trigger_payload, "result": None, "steps": []}


def _run(run: FlowRun, flow_id: str) -> dict[str, Any]:
    return {"run_id": run.run_id, "id": run.id, "flow_id": flow_id, "version": run.version, "status": run.status,
            "trigger_type": run.trigger_type, "error": run.error, "rerun_of": run.rerun_of,
            "chain_depth": run.chain_depth, "created_at": iso_or_none(run.created_at),
            "started_at": iso_or_none(run.started_at), "finished_at": iso_or_none(run.finished_at),
            "duration_ms": round((run.finished_at - run.started_at).total_seconds() * 1000, 3)
            if run.started_at and run.finished_at else None}


def _step(step: FlowRunStep) -> dict[str, Any]:
    return {"block": step.block, "type": step.block_type, "iteration": step.iteration, "attempt": step.attempt,
            "status": step.status, "input": step.input, "output": step.output, "port": step.port,
            "error": step.error, "started_at": iso_or_none(step.started_at), "duration_ms": step.duration_ms}


def _chain_depth(header: str | None) -> int:
    """A webhook call's place in a chain of runs (the http.request block says it); 0 otherwise."""
    try:
        return max(0, min(int(header or 0), 1_000_000))
    except ValueError:
        return 0
