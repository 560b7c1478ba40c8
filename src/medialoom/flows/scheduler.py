"""Starts the runs of schedule and scheduled-search triggers, from the engine's housekeeping.

Each pass looks at the slots since the later of ten minutes ago and the flow's last change
(enabling it, saving a version), so a restart catches up what it missed for ten minutes and a
newly enabled flow does not run for slots before it was enabled. A slot is claimed in the
transaction that writes its runs (``flow_schedule_slots`` is unique per flow and slot), so each
slot starts its runs once, whichever process sees it first and however often.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from medialoom.assets.serialize import iso
from medialoom.db.models import Flow, FlowRun, FlowScheduleSlot, FlowVersion
from medialoom.db.session import Database, as_utc, utcnow
from medialoom.flows.blocks.base import AssetOperations
from medialoom.flows.definition import FlowDocument
from medialoom.flows.runtime.base import Submission
from medialoom.flows.schedules import due_slots
from medialoom.flows.ids import new_id
from medialoom.flows.triggers import ScheduledSearchParams, ScheduleParams

log = logging.getLogger("medialoom.flows")

LOOK_BACK = timedelta(minutes=10)
SCHEDULED = ("schedule", "scheduled_search")


class Scheduler:
    def __init__(self, db: Database, submit: Callable[[Submission], None],
                 assets_for: Callable[[int], AssetOperations] | None) -> None:
        self.db = db
        self.submit = submit
        self.assets_for = assets_for

    def tick(self, now: datetime | None = None) -> int:
        """Start the runs of the slots due by ``now``; returns how many runs were started."""
        now = now or utcnow()
        with self.db.read() as session:
            flows = session.execute(
                select(Flow, FlowVersion.document).join(FlowVersion, (FlowVersion.flow_pk == Flow.id)
                                                        & (FlowVersion.version == Flow.current_version))
                .where(Flow.enabled.is_(True), Flow.trigger_type.in_(SCHEDULED))).all()
        started = 0
        for flow, document in flows:
            trigger = FlowDocument.model_validate(document).trigger
            after = max(now - LOOK_BACK, as_utc(flow.updated_at))
            try:
                params = (ScheduleParams if flow.trigger_type == "schedule" else ScheduledSearchParams
                          ).model_validate(trigger.params)
                for slot in due_slots(params.cron, params.timezone, after, now):
                    if not self._claimed(flow, slot):
                        started += self._fire(flow, slot, self._payloads(flow, slot, params))
            except Exception:  # one broken flow must not stop the others' schedules
                log.exception("scheduling flow %s failed", flow.flow_id)
        return started

    def _payloads(self, flow: Flow, slot: datetime, params: ScheduleParams) -> list[tuple[dict[str, Any], str | None]]:
        """(trigger payload, partition key) of each run the slot starts."""
        base = {"scheduled_for": iso(slot)}
        if not isinstance(params, ScheduledSearchParams):
            return [(base, None)]
        found = self.assets_for(flow.environment_id).search(params.expression, max_results=params.max_results)
        resources = found.get("resources", [])
        base["expression"] = params.expression
        if params.mode == "list":
            return [({**base, "resources": resources, "total_count": found.get("total_count", len(resources))}, None)]
        return [({**base, **resource}, resource.get("asset_id")) for resource in resources]

    def _claimed(self, flow: Flow, slot: datetime) -> bool:
        with self.db.read() as session:
            return session.scalar(select(FlowScheduleSlot.id).where(
                FlowScheduleSlot.flow_pk == flow.id, FlowScheduleSlot.slot == slot)) is not None

    def _fire(self, flow: Flow, slot: datetime, payloads: list[tuple[dict[str, Any], str | None]]) -> int:
        runs = [FlowRun(run_id=new_id("run"), environment_id=flow.environment_id, flow_pk=flow.id,
                        version=flow.current_version, status="queued", trigger_type=flow.trigger_type,
                        trigger_payload=payload, partition_key=key, created_at=utcnow())
                for payload, key in payloads]
        try:
            with self.db.write() as session:
                session.add(FlowScheduleSlot(flow_pk=flow.id, slot=slot, created_at=utcnow()))
                session.flush()  # the claim: fails here when the slot has started already
                session.add_all(runs)
        except IntegrityError:
            return 0
        for run in runs:
            self.submit(Submission(run.run_id, run.partition_key, sequence=run.id))
        return len(runs)
