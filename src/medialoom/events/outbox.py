"""The transactional outbox: one row per change, written in the change's own transaction.

Rows carry the payload exactly as the notification will be sent (Cloudinary's shape), so the
dispatcher only has to sign and deliver them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from medialoom import context
from medialoom.db.models import OutboxEvent
from medialoom.db.session import utcnow


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
) -> None:
    now = utcnow()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {
        "notification_type": notification_type,
        "timestamp": stamp,
        "request_id": context.request_id.get() or uuid.uuid4().hex,
        **payload,
        "notification_context": {"triggered_at": stamp, "triggered_by": {"source": source, "id": api_key}},
    }
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
    })
