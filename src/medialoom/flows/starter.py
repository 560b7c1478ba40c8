"""Asset events start flows. The notification dispatcher hands each batch of outbox events to
``FlowStarter.take`` inside its fan-out transaction, so the runs an event starts are written
together with the event being marked dispatched: an event starts its runs exactly once, even
when the process dies right after. The runs are handed to the runtime once that commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from medialoom.db.models import Asset, Flow, FlowRun, FlowVersion, InboxNotification, OutboxEvent
from medialoom.db.session import utcnow
from medialoom.events import causation
from medialoom.flows.definition import FlowDocument
from medialoom.flows.engine import FlowEngine
from medialoom.flows.inbox import Inbox
from medialoom.flows.runtime.base import Submission
from medialoom.flows.service import record_run
from medialoom.flows.ids import new_id
from medialoom.flows.triggers import TRIGGERS, per_asset, partition_key, triggers_for

log = logging.getLogger("medialoom.flows")


class FlowStarter:
    def __init__(self, engine: FlowEngine) -> None:
        self.engine = engine

    def take(self, session, events: list[OutboxEvent]) -> Callable[[], None] | None:  # noqa: ANN001
        """Queue the runs ``events`` start, in ``session``; returns what hands them to the
        runtime after the commit (None when nothing started)."""
        wanted = {trigger.name for event in events for trigger in triggers_for(event.notification_type)}
        if not wanted:
            return None
        flows = session.execute(
            select(Flow, FlowVersion.document).join(FlowVersion, (FlowVersion.flow_pk == Flow.id)
                                                    & (FlowVersion.version == Flow.current_version))
            .where(Flow.enabled.is_(True), Flow.trigger_type.in_(wanted),
                   Flow.environment_id.in_({event.environment_id for event in events}))).all()
        if not flows:
            return None
        submissions = []
        connection = session.connection()
        told: set[str] = set()  # inbox messages about stopped chains written in this batch
        now = utcnow()
        facts = _asset_facts(session, events)
        for event in events:
            cause, depth, event_facts = causation.read_facts(event.facts)
            for flow, document in flows:
                if flow.environment_id != event.environment_id:
                    continue
                trigger = TRIGGERS[flow.trigger_type]
                if event.notification_type not in trigger.events:
                    continue
                params = trigger.Params.model_validate(FlowDocument.model_validate(document).trigger.params)
                for part in per_asset(event.payload):
                    payload = {**facts.get(part.get("asset_id"), {}), **event_facts, **part}
                    if not trigger.matches(params, payload):
                        continue
                    if depth > self.engine.max_chain_depth:
                        self._refuse_chain(session, flow, event, cause, depth, told)
                        continue
                    run = FlowRun(run_id=new_id("run"), environment_id=flow.environment_id, flow_pk=flow.id,
                                  version=flow.current_version, status="queued", trigger_type=flow.trigger_type,
                                  trigger_payload={**payload, "event_id": event.event_id},
                                  partition_key=partition_key(payload), chain_depth=depth, created_at=now)
                    run_pk = record_run(connection, run)  # also its place in its asset's order
                    submissions.append(Submission(run.run_id, run.partition_key, sequence=run_pk, holds_key=(
                        self.engine.claims_key(connection, run_pk, run.run_id, run.partition_key))))
        if not submissions:
            return None
        return lambda: self._submit(submissions)

    def _refuse_chain(self, session, flow: Flow, event: OutboxEvent, cause: str | None, depth: int,  # noqa: ANN001
                      told: set[str]) -> None:
        """The run this event would start continues a chain past the limit: none starts, and the
        inbox says so once per flow and causing run."""
        log.warning("flow %s not started by event %s: a chain of %d runs (last %s)", flow.flow_id, event.event_id,
                    depth, cause)
        dedupe = f"chain:{flow.flow_id}:{cause}"
        if dedupe in told:
            return
        told.add(dedupe)
        if session.scalar(select(InboxNotification.id).where(InboxNotification.dedupe_key == dedupe)) is None:
            Inbox.record(
                session, flow.environment_id, kind="chain_stopped", flow_id=flow.flow_id, run_id=cause,
                title=f"Flow {flow.name!r} was not started: runs kept starting one another",
                body=f"Run {cause} made a change that would have started {flow.name!r} again, the "
                     f"run number {depth} in a chain of runs that start one another, more than the limit of "
                     f"{self.engine.max_chain_depth} (MEDIALOOM_FLOW_MAX_CHAIN_DEPTH). A flow that changes "
                     "what starts it (tags on tag changes, say) needs a condition that ends the loop.",
                dedupe_key=dedupe)

    def _submit(self, submissions: list[Submission]) -> None:
        for submission in submissions:
            try:
                self.engine.submit(submission)
            except Exception:  # the run stays queued; the engine's housekeeping hands it over later
                log.exception("could not hand run %s to the runtime", submission.run_id)


def _asset_facts(session, events: list[OutboxEvent]) -> dict[str, dict]:  # noqa: ANN001
    """The current tags, asset folder, resource type, display name and structured metadata of the
    assets the events are about, for
    filters and for ``trigger.tags`` when the event's own payload leaves them out (a tag change
    carries only what was added and removed, a moderation change no tags). Read when the event is
    dispatched, so a change made since shows."""
    asset_ids = {part.get("asset_id") for event in events for part in per_asset(event.payload)} - {None}
    if not asset_ids:
        return {}
    rows = session.execute(select(Asset.asset_id, Asset.tags, Asset.asset_folder, Asset.resource_type,
                                  Asset.display_name, Asset.metadata_).where(Asset.asset_id.in_(asset_ids))).all()
    return {asset_id: {"tags": list(tags or []), "asset_folder": folder or "", "resource_type": resource_type,
                       "display_name": display_name or "", "metadata": dict(metadata or {})}
            for asset_id, tags, folder, resource_type, display_name, metadata in rows}
