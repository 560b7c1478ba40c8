"""The in-app notification inbox of an environment: messages from flows' notification blocks and
about runs that failed, kept for the people who use the product (a later issue shows them in the
UI; the API lists them and marks them read)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from medialoom.assets.serialize import iso, iso_or_none
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import InboxNotification
from medialoom.db.session import Database, utcnow
from medialoom.errors import NotFound


class Inbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, environment_id: int, *, kind: str, title: str, body: str = "",
            assets: list[dict[str, Any]] | None = None, flow_id: str | None = None, run_id: str | None = None,
            dedupe_key: str | None = None) -> int | None:
        """Store a message; None when one with the same ``dedupe_key`` exists (a replayed step)."""
        try:
            with self.db.write() as session:
                row = self.record(session, environment_id, kind=kind, title=title, body=body, assets=assets,
                                  flow_id=flow_id, run_id=run_id, dedupe_key=dedupe_key)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    @staticmethod
    def record(session, environment_id: int, *, kind: str, title: str, body: str = "",  # noqa: ANN001
               assets: list[dict[str, Any]] | None = None, flow_id: str | None = None, run_id: str | None = None,
               dedupe_key: str | None = None) -> InboxNotification:
        """Add a message in ``session``, a transaction that writes other things too."""
        row = InboxNotification(environment_id=environment_id, kind=kind, title=title[:500], body=body,
                                assets=assets or [], flow_id=flow_id, run_id=run_id, dedupe_key=dedupe_key,
                                created_at=utcnow())
        session.add(row)
        return row

    def list(self, env: EnvironmentInfo, *, unread: bool = False, limit: int = 50,
             before: int | None = None) -> dict[str, Any]:
        limit = max(1, min(int(limit), 500))
        with self.db.read() as session:
            query = select(InboxNotification).where(InboxNotification.environment_id == env.id)
            if unread:
                query = query.where(InboxNotification.read_at.is_(None))
            if before:
                query = query.where(InboxNotification.id < before)
            rows = session.scalars(query.order_by(InboxNotification.id.desc()).limit(limit)).all()
            unread_count = session.scalar(select(func.count()).select_from(InboxNotification).where(
                InboxNotification.environment_id == env.id, InboxNotification.read_at.is_(None)))
            return {"notifications": [_describe(row) for row in rows], "unread": unread_count,
                    "next_before": rows[-1].id if len(rows) == limit else None}

    def mark_read(self, env: EnvironmentInfo, notification_id: int) -> dict[str, Any]:
        with self.db.write() as session:
            result = session.execute(update(InboxNotification).where(
                InboxNotification.environment_id == env.id, InboxNotification.id == notification_id)
                .values(read_at=utcnow()))
            if not result.rowcount:
                raise NotFound(f"Notification {notification_id} not found")
        return {"message": "ok"}


def _describe(row: InboxNotification) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "title": row.title, "body": row.body, "assets": row.assets,
            "flow_id": row.flow_id, "run_id": row.run_id, "created_at": iso(row.created_at),
            "read_at": iso_or_none(row.read_at)}
