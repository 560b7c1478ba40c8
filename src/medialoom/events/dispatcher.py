"""Delivers the outbox: every event, at least once, to every URL that should hear of it.

Two steps, each its own transaction, so that a process killed at any point loses nothing:

1. **Fan out.** Outbox rows not yet dispatched become one ``NotificationDelivery`` per target
   URL (the call's own ``notification_url``, or else the environment's endpoints for that
   event type), and the rows are marked dispatched, together.
2. **Send.** Due deliveries are claimed with a lease, POSTed (signed over the exact bytes
   sent) and their outcome recorded. A process that dies after sending and before recording
   leaves the lease to expire, and the delivery is sent again with the same event id, which
   is what receivers deduplicate on.

Order: of the deliveries to one URL about one asset, only the oldest unfinished one is ever
due, so a receiver sees an asset's events in the order they happened (a failing one holds back
the ones after it until it lands or fails for good).

Failures are retried on ``RetrySchedule``; 429 waits for Retry-After; 410 disables the
endpoint and cancels what was waiting for it; an address the outbound guard refuses fails at
once. Every try is kept in ``notification_attempts`` for the delivery log.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from medialoom.db.models import (
    Environment,
    NotificationAttempt,
    NotificationDelivery,
    NotificationEndpoint,
    OutboxEvent,
)
from medialoom.db.session import Database
from medialoom.events import outbox
from medialoom.events.retry import RetrySchedule, parse_retry_after
from medialoom.events.sender import Outcome, Sender
from medialoom.events.signing import cloudinary_headers, standard_headers

log = logging.getLogger("medialoom.events")

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Claimed:
    id: int
    event_id: str
    url: str
    attempts: int
    next_attempt_at: datetime
    endpoint_id: int | None
    secret: str | None
    payload: dict
    api_secret: str
    algorithm: str


class Subscriber(Protocol):
    """Another consumer of the outbox (the flow engine): ``take`` runs in the fan-out's
    transaction and may return what to do once it has committed."""

    def take(self, session: Session, events: list[OutboxEvent]) -> Callable[[], None] | None: ...


class _Statements:
    """The dispatcher's queries, built once: building an ORM statement (joins, an aliased
    EXISTS) cost more CPU than running it, at every pass of the loop."""

    def __init__(self, batch: int, lock_rows: bool) -> None:
        now = bindparam("now")
        undispatched = OutboxEvent.dispatched_at.is_(None)
        self.any_undispatched = select(OutboxEvent.id).where(undispatched).limit(1)
        self.undispatched = select(OutboxEvent).where(undispatched).order_by(OutboxEvent.id).limit(batch)

        due = and_(NotificationDelivery.status == "pending", NotificationDelivery.next_attempt_at <= now,
                   or_(NotificationDelivery.lease_until.is_(None), NotificationDelivery.lease_until < now))
        self.any_due = select(NotificationDelivery.id).where(due).limit(1)
        earlier = aliased(NotificationDelivery)
        waiting_behind = exists().where(and_(
            earlier.url == NotificationDelivery.url, earlier.order_key == NotificationDelivery.order_key,
            earlier.status == "pending", earlier.id < NotificationDelivery.id))
        self.due = (
            select(NotificationDelivery.id, NotificationDelivery.event_id, NotificationDelivery.url,
                   NotificationDelivery.attempts, NotificationDelivery.next_attempt_at,
                   NotificationDelivery.endpoint_id, NotificationEndpoint.secret,
                   OutboxEvent.payload, Environment.api_secret, Environment.signature_algorithm)
            .join(OutboxEvent, OutboxEvent.id == NotificationDelivery.outbox_id)
            .join(Environment, Environment.id == NotificationDelivery.environment_id)
            .outerjoin(NotificationEndpoint, NotificationEndpoint.id == NotificationDelivery.endpoint_id)
            .where(due, ~waiting_behind)
            .order_by(NotificationDelivery.id).limit(batch)
        )
        if lock_rows:  # PostgreSQL: concurrent dispatchers take different rows
            self.undispatched = self.undispatched.with_for_update(skip_locked=True)
            self.due = self.due.with_for_update(of=NotificationDelivery, skip_locked=True)


class Dispatcher:
    def __init__(self, db: Database, sender: Sender, schedule: RetrySchedule, *, lease_seconds: float = 60.0,
                 batch: int = 200, senders: int = 16, poll_seconds: float = 0.25, clock: Clock = _now,
                 jitter: Callable[[], float] = random.random, subscribers: Sequence[Subscriber] = ()) -> None:
        self.db = db
        self.subscribers = list(subscribers)
        self.sender = sender
        self.schedule = schedule
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.jitter = jitter
        self.wake = outbox.committed
        self._statements = _Statements(batch, lock_rows=not db.is_sqlite)
        self._pool = ThreadPoolExecutor(max_workers=senders, thread_name_prefix="notify")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # a database hiccup must not end delivery for good
                log.exception("notification dispatcher step failed")
                busy = False
            if not busy:
                self.wake.wait(self.poll_seconds)
                self.wake.clear()

    def run_once(self) -> bool:
        """One fan-out and one round of sends; True when there was anything to do."""
        fanned = self.fan_out()
        sent = self.send_due()
        return bool(fanned or sent)

    # -- step 1: fan out ------------------------------------------------------------------------

    def fan_out(self) -> int:
        # A read first: most passes find nothing, and on SQLite a write transaction would take
        # the database's one write lock from the API for nothing.
        with self.db.read() as session:
            if session.scalar(self._statements.any_undispatched) is None:
                return 0
        now = self.clock()
        with self.db.write() as session:
            events = session.scalars(self._statements.undispatched).all()
            if not events:
                return 0
            endpoints = _endpoints_by_environment(session, {event.environment_id for event in events})
            rows = []
            for event in events:
                for url, endpoint_id in _targets(event, endpoints.get(event.environment_id, [])):
                    rows.append({"environment_id": event.environment_id, "outbox_id": event.id,
                                 "event_id": event.event_id, "endpoint_id": endpoint_id, "url": url,
                                 "order_key": event.asset_id or event.event_id, "status": "pending",
                                 "attempts": 0, "next_attempt_at": now, "lease_until": None,
                                 "created_at": now})
            if rows:
                session.execute(insert(NotificationDelivery), rows)
            after_commit = [then for subscriber in self.subscribers
                            if (then := subscriber.take(session, list(events))) is not None]
            session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in events]))
                            .values(dispatched_at=now))
        for then in after_commit:
            then()
        return len(events)

    # -- step 2: send -----------------------------------------------------------------------------

    def send_due(self) -> int:
        claimed = self._claim()
        if not claimed:
            return 0
        outcomes = list(self._pool.map(self._send, claimed))
        self._record(claimed, outcomes)
        return len(claimed)

    def _claim(self) -> list[_Claimed]:
        now = self.clock()
        with self.db.read() as session:  # as in fan_out: no write lock when nothing is due
            if session.scalar(self._statements.any_due, {"now": now}) is None:
                return []
        with self.db.write() as session:
            claimed = [_Claimed(*row) for row in session.execute(self._statements.due, {"now": now})]
            if claimed:
                session.execute(update(NotificationDelivery)
                                .where(NotificationDelivery.id.in_([c.id for c in claimed]))
                                .values(lease_until=now + self.lease))
        return claimed

    def _send(self, delivery: _Claimed) -> Outcome:
        body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = int(time.time())
        headers = cloudinary_headers(body, timestamp, delivery.api_secret, delivery.algorithm)
        if delivery.secret:
            headers.update(standard_headers(delivery.secret, delivery.event_id, timestamp, body))
        else:
            # A call's own notification_url has no endpoint secret: the id and time still go,
            # so receivers deduplicate the same way.
            headers.update({"webhook-id": delivery.event_id, "webhook-timestamp": str(timestamp)})
        return self.sender.post(delivery.url, body, headers)

    def _record(self, claimed: list[_Claimed], outcomes: list[Outcome]) -> None:
        now = self.clock()
        gone_endpoints: dict[int, str] = {}
        changes = []
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            attempts = delivery.attempts + 1
            # Every row names every column, so the whole round is one executemany.
            change = {"id": delivery.id, "attempts": attempts, "lease_until": None, "status": "pending",
                      "finished_at": None, "next_attempt_at": None, "last_status_code": outcome.status_code,
                      "last_error": outcome.error, "last_duration_ms": round(outcome.duration_ms, 2)}
            if outcome.delivered:
                change.update(status="delivered", finished_at=now)
            elif outcome.status_code == 410 and delivery.endpoint_id is not None:
                gone_endpoints[delivery.endpoint_id] = delivery.url
                change.update(status="cancelled", finished_at=now)
            elif outcome.refused_for_good or outcome.status_code == 410:
                change.update(status="failed", finished_at=now)
            else:
                delay = self._retry_delay(attempts, outcome)
                if delay is None:
                    change.update(status="failed", finished_at=now)
                else:
                    change.update(next_attempt_at=now + timedelta(seconds=delay))
            if change["next_attempt_at"] is None:
                change["next_attempt_at"] = delivery.next_attempt_at  # kept: the column is not nullable
            changes.append(change)
        with self.db.write() as session:
            session.execute(insert(NotificationAttempt), [
                {"delivery_id": delivery.id, "attempted_at": now, "status_code": outcome.status_code,
                 "error": outcome.error, "duration_ms": round(outcome.duration_ms, 2),
                 "response_snippet": outcome.snippet}
                for delivery, outcome in zip(claimed, outcomes, strict=True)])
            session.execute(update(NotificationDelivery), changes)  # by primary key, one statement
            for endpoint_id, url in gone_endpoints.items():
                _disable_endpoint(session, endpoint_id, now, f"{url} answered 410 Gone")

    def _retry_delay(self, attempts: int, outcome: Outcome) -> float | None:
        """Seconds until the next try, None when the schedule is spent."""
        delay = self.schedule.delay_before(attempts, self.jitter)
        if delay is None:
            return None
        if outcome.status_code == 429 and outcome.retry_after:
            asked = parse_retry_after(outcome.retry_after, time.time())
            if asked is not None:
                return asked  # the receiver said when; it counts as one of the tries
        return delay


def _endpoints_by_environment(session, environment_ids: set[int]) -> dict[int, list[NotificationEndpoint]]:  # noqa: ANN001
    rows = session.scalars(select(NotificationEndpoint).where(
        NotificationEndpoint.environment_id.in_(environment_ids), NotificationEndpoint.disabled_at.is_(None))).all()
    found: dict[int, list[NotificationEndpoint]] = {}
    for row in rows:
        found.setdefault(row.environment_id, []).append(row)
    return found


def _targets(event: OutboxEvent, endpoints: list[NotificationEndpoint]) -> list[tuple[str, int | None]]:
    """Where one event goes: a call's own URL replaces the environment's endpoints for it
    (Cloudinary's rule for notification_url); otherwise every endpoint of its type or ``all``."""
    if event.notification_url:
        return [(event.notification_url, None)]
    return [(endpoint.uri, endpoint.id) for endpoint in endpoints
            if endpoint.event_type in ("all", event.notification_type)]


def _disable_endpoint(session, endpoint_id: int, now: datetime, reason: str) -> None:  # noqa: ANN001
    session.execute(update(NotificationEndpoint).where(NotificationEndpoint.id == endpoint_id)
                    .values(disabled_at=now, disabled_reason=reason))
    session.execute(update(NotificationDelivery)
                    .where(NotificationDelivery.endpoint_id == endpoint_id, NotificationDelivery.status == "pending")
                    .values(status="cancelled", finished_at=now, lease_until=None))
