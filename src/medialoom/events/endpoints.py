"""Global notification URLs, managed as Cloudinary's ``/triggers`` (Admin API), and the
delivery log that shows what became of each event.

A trigger pairs one event type (or ``all``) with one URL. URLs pass the outbound guard when
they are registered (and again at every send, since DNS answers change). Each endpoint gets
its own Standard Webhooks secret, shown once when it is created.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, select, update

from medialoom.assets.serialize import iso_or_none
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import NotificationAttempt, NotificationDelivery, NotificationEndpoint, OutboxEvent
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound
from medialoom.events.signing import new_endpoint_secret
from medialoom.net.addresses import AllowList
from medialoom.net.outbound import FetchFailed, OutboundRefused, check_outbound_url

EVENT_TYPES = frozenset({
    "all", "upload", "eager", "moderation", "rename", "delete", "move", "resource_tags_changed",
    "resource_context_changed", "resource_metadata_changed", "resource_display_name_changed",
    "access_control_changed", "create_folder", "delete_folder", "move_or_rename_asset_folder",
})
MAX_ENDPOINTS = 30 * len(EVENT_TYPES)  # Cloudinary: 30 URLs per event type


def _trigger(row: NotificationEndpoint) -> dict[str, Any]:
    return {"id": row.trigger_id, "uri": row.uri, "uri_type": row.uri_type, "event_type": row.event_type,
            "created_at": iso_or_none(row.created_at), "updated_at": iso_or_none(row.updated_at),
            "disabled_at": iso_or_none(row.disabled_at), "disabled_reason": row.disabled_reason}


class Endpoints:
    def __init__(self, db: Database, allow: AllowList) -> None:
        self.db = db
        self.allow = allow

    def _checked_uri(self, uri: object) -> str:
        if not isinstance(uri, str) or not uri:
            raise BadRequest("Missing required parameter - uri")
        try:
            check_outbound_url(uri, self.allow)
        except (OutboundRefused, FetchFailed) as error:
            raise BadRequest(f"Invalid notification URL {uri}: {error}") from None
        return uri

    def list(self, env: EnvironmentInfo, event_type: str | None = None) -> dict[str, Any]:
        with self.db.read() as session:
            query = select(NotificationEndpoint).where(NotificationEndpoint.environment_id == env.id)
            if event_type:
                query = query.where(NotificationEndpoint.event_type == event_type)
            rows = session.scalars(query.order_by(NotificationEndpoint.id)).all()
        triggers = [_trigger(row) for row in rows]
        return {"triggers": triggers, "total": len(triggers)}

    def create(self, env: EnvironmentInfo, values: dict[str, Any]) -> dict[str, Any]:
        uri = self._checked_uri(values.get("uri"))
        event_type = values.get("event_type")
        if event_type not in EVENT_TYPES:
            raise BadRequest(f"Invalid event_type {event_type!r}: one of {', '.join(sorted(EVENT_TYPES))}")
        uri_type = values.get("uri_type") or "webhook"
        if uri_type != "webhook":
            raise BadRequest(f"Unsupported uri_type {uri_type!r}: only webhook")
        now = utcnow()
        with self.db.write() as session:
            count = session.scalar(select(func.count()).select_from(NotificationEndpoint)
                                   .where(NotificationEndpoint.environment_id == env.id))
            if count >= MAX_ENDPOINTS:
                raise BadRequest(f"Too many triggers (at most {MAX_ENDPOINTS})")
            duplicate = session.scalar(select(NotificationEndpoint.id).where(
                NotificationEndpoint.environment_id == env.id, NotificationEndpoint.uri == uri,
                NotificationEndpoint.event_type == event_type))
            if duplicate is not None:
                raise BadRequest(f"A trigger for {event_type} to {uri} already exists")
            row = NotificationEndpoint(environment_id=env.id, trigger_id=secrets.token_hex(16), uri=uri,
                                       uri_type=uri_type, event_type=event_type, secret=new_endpoint_secret(),
                                       created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            # The signing secret is shown once, here; receivers keep it to verify webhook-signature.
            return {**_trigger(row), "signing_secret": row.secret}

    def _find(self, session, env: EnvironmentInfo, trigger_id: str) -> NotificationEndpoint:  # noqa: ANN001
        row = session.scalar(select(NotificationEndpoint).where(
            NotificationEndpoint.environment_id == env.id, NotificationEndpoint.trigger_id == trigger_id))
        if row is None:
            raise NotFound(f"Trigger {trigger_id} not found")
        return row

    def update(self, env: EnvironmentInfo, trigger_id: str, values: dict[str, Any]) -> dict[str, Any]:
        uri = self._checked_uri(values.get("new_uri"))
        with self.db.write() as session:
            row = self._find(session, env, trigger_id)
            row.uri, row.updated_at = uri, utcnow()
            # A new address gets a new chance: a 410 from the old one said nothing about it.
            row.disabled_at = row.disabled_reason = None
            return {"message": "updated", **_trigger(row)}

    def test(self, env: EnvironmentInfo, trigger_id: str, sample_data: object) -> dict[str, Any]:
        """Would this trigger fire for ``sample_data`` (a notification payload)? Nothing is sent.

        Cloudinary evaluates a trigger's filter here; medialoom's triggers have no filter beyond
        their event type, so the answer is whether the sample's ``notification_type`` matches."""
        if sample_data is not None and not isinstance(sample_data, dict):
            raise BadRequest("sample_data must be a JSON object")
        with self.db.read() as session:
            row = self._find(session, env, trigger_id)
            event_type = row.event_type
        matches = sample_data is None or event_type == "all" or sample_data.get("notification_type") == event_type
        return {"trigger_id": trigger_id, "filter_present": False, "filter_result": matches}

    def delete(self, env: EnvironmentInfo, trigger_id: str) -> dict[str, Any]:
        with self.db.write() as session:
            row = self._find(session, env, trigger_id)
            session.execute(update(NotificationDelivery).where(
                NotificationDelivery.endpoint_id == row.id, NotificationDelivery.status == "pending")
                .values(status="cancelled", finished_at=utcnow()))
            session.delete(row)
        return {"message": "ok"}

    # -- the delivery log -------------------------------------------------------------------

    def deliveries(self, env: EnvironmentInfo, *, status: str | None = None, event_id: str | None = None,
                   limit: int = 50, before: int | None = None) -> dict[str, Any]:
        """Newest first; ``before`` (an id) pages back."""
        limit = max(1, min(int(limit), 500))
        with self.db.read() as session:
            query = (select(NotificationDelivery, OutboxEvent.notification_type)
                     .join(OutboxEvent, OutboxEvent.id == NotificationDelivery.outbox_id)
                     .where(NotificationDelivery.environment_id == env.id))
            if status:
                query = query.where(NotificationDelivery.status == status)
            if event_id:
                query = query.where(NotificationDelivery.event_id == event_id)
            if before:
                query = query.where(NotificationDelivery.id < before)
            rows = session.execute(query.order_by(NotificationDelivery.id.desc()).limit(limit)).all()
            ids = [row.id for row, _ in rows]
            attempts: dict[int, list[dict[str, Any]]] = {}
            if ids:
                for attempt in session.scalars(select(NotificationAttempt).where(
                        NotificationAttempt.delivery_id.in_(ids)).order_by(NotificationAttempt.id)):
                    attempts.setdefault(attempt.delivery_id, []).append({
                        "attempted_at": iso_or_none(attempt.attempted_at), "status_code": attempt.status_code,
                        "error": attempt.error, "duration_ms": attempt.duration_ms,
                        "response": attempt.response_snippet})
        return {"deliveries": [{
            "id": row.id, "event_id": row.event_id, "notification_type": notification_type, "url": row.url,
            "status": row.status, "attempts": row.attempts, "next_attempt_at": iso_or_none(row.next_attempt_at)
            if row.status == "pending" else None, "last_status_code": row.last_status_code,
            "last_error": row.last_error, "created_at": iso_or_none(row.created_at),
            "finished_at": iso_or_none(row.finished_at), "log": attempts.get(row.id, []),
        } for row, notification_type in rows], "next_before": ids[-1] if len(ids) == limit else None}

    def redeliver(self, env: EnvironmentInfo, delivery_id: int) -> dict[str, Any]:
        """Send a delivery again now, whatever became of it (the same event id goes again)."""
        with self.db.write() as session:
            row = session.scalar(select(NotificationDelivery).where(
                NotificationDelivery.environment_id == env.id, NotificationDelivery.id == delivery_id))
            if row is None:
                raise NotFound(f"Delivery {delivery_id} not found")
            row.status, row.next_attempt_at, row.lease_until, row.finished_at = "pending", utcnow(), None, None
        return {"message": "ok", "id": delivery_id}
