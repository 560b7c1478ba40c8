"""The transactional outbox: one row per change, written in the change's own transaction.

Rows carry the payload exactly as the notification will be sent (Cloudinary's shape), so the
dispatcher only has to sign and deliver them. Whatever the type, every payload carries the
envelope Cloudinary's receivers read: ``notification_type``, ``timestamp``, ``request_id``,
``source``, ``notification_context`` and ``signature_key`` (the API key whose secret signs
Cloudinary-style deliveries).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from medialoom import context
from medialoom.events import causation
from medialoom.db.models import OutboxEvent


# Set when a transaction that wrote events has committed: this process's dispatcher sends them
# at once instead of at its next poll (other processes find them when they poll).
committed = threading.Event()


@event.listens_for(Session, "after_commit")
def _wake_dispatcher(session: Session) -> None:
    if session.info.pop("outbox_written", False):
        committed.set()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("outbox_written", None)


def record(
    session: Session,
    *,
    environment_id: int,
    notification_type: str,
    payload: dict[str, Any],
    api_key: str,
    asset_id: str | None = None,
    notification_url: str | None = None,
    source: str = "api",
    facts: dict[str, Any] | None = None,
) -> None:
    now = datetime.now(UTC)  # to the microsecond: the delivery log and the benchmark time from it
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "notification_type": notification_type,
        "timestamp": stamp,
        "request_id": context.request_id.get() or uuid.uuid4().hex,
        "source": source,
        **payload,
        "notification_context": {"triggered_at": stamp, "triggered_by": {"source": source, "id": api_key}},
        "signature_key": api_key,
    }
    session.info["outbox_written"] = True
    # A plain INSERT on the session's connection: events are never read back by the change
    # that writes them, and the ORM's unit of work would only add cost to every change.
    session.connection().execute(OutboxEvent.__table__.insert(), {
        "environment_id": environment_id,
        "event_id": uuid.uuid4().hex,
        "notification_type": notification_type,
        "asset_id": asset_id,
        "notification_url": notification_url or None,
        "payload": body,
        "created_at": now,
        "dispatched_at": None,
        "facts": {**(facts or {}), **causation.event_facts()} or None,
    })
