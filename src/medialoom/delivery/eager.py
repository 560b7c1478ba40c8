"""Eager transformations: derived files made at upload or ``explicit`` instead of at first view.

Synchronously, the response's ``eager`` entries carry each file's size and dimensions. With
``eager_async`` the response says ``processing``, and the work is a durable job: a row in
``eager_jobs`` committed before the response, rendered by a background thread, and deleted in
the transaction that writes the ``eager`` event (to ``eager_notification_url`` when given).
The process rendering a job holds its lease and renews it; when a process dies, its jobs'
leases run out and another process (or the same one, restarted) takes them up. Renderings are
idempotent (the derived store keeps one file per variant), so a job done twice costs time, not
duplicates, and its event is written once. A job that has been taken up ``MAX_ATTEMPTS`` times
(it may be what kills its process) ends with its entries ``failed``.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from medialoom import context
from medialoom.assets.serialize import delivery_url, secure_variant, split_format
from medialoom.assets.store import find_asset
from medialoom.auth.environments import EnvironmentInfo, snapshot
from medialoom.db.models import Asset, EagerJob, Environment
from medialoom.db.session import Database, utcnow
from medialoom.delivery.formats import choose_format
from medialoom.delivery.producer import Prepared, Producer
from medialoom.errors import BadRequest
from medialoom.events import outbox
from medialoom.transform.grammar import TransformationError
from medialoom.transform.render import RenderError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3

_jobs = EagerJob.__table__
_RENEW = update(_jobs).where(_jobs.c.id.in_(bindparam("ids", expanding=True))).values(
    lease_until=bindparam("until"))
_EXPIRED = select(_jobs.c.id).where(_jobs.c.lease_until < bindparam("now")).order_by(_jobs.c.id).limit(50)
_TAKE_UP = (update(_jobs).where(_jobs.c.id == bindparam("job"), _jobs.c.lease_until < bindparam("now"))
            .values(lease_until=bindparam("until"), attempts=_jobs.c.attempts + 1))


class Eager:
    def __init__(self, db: Database, producer: Producer, base_url: str, workers: int = 2, *,
                 lease_seconds: float = 60.0) -> None:
        self.db = db
        self.producer = producer
        self.base_url = base_url
        self.lease = timedelta(seconds=lease_seconds)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eager")
        self._held: set[int] = set()  # jobs this process is rendering: their leases are renewed
        self._held_lock = threading.Lock()

    @property
    def keeping_interval(self) -> float:
        """How often ``keep_leases`` must run for this process's leases not to run out."""
        return max(0.2, self.lease.total_seconds() / 3)

    def check(self, env: EnvironmentInfo, items: list[str]) -> None:
        """Before anything is stored: every eager transformation must be one we can make."""
        for item in items:
            self._prepare(env, item)

    def derive(self, env: EnvironmentInfo, body: dict[str, Any], items: list[str], *, run_async: bool,
               notification_url: str | None = None) -> dict[str, Any]:
        """Make ``items`` for the asset an upload or explicit response describes; returns the
        response with its ``eager`` entries filled in."""
        if not items or body.get("existing"):
            return body
        asset = self._asset(env, body)
        if asset is None:
            return body
        if run_async:
            batch_id = uuid.uuid4().hex
            job = self._record_job(env, asset, items, batch_id, notification_url)
            self._submit(job)
            body["eager"] = [{**self._entry(env, asset, item), "status": "processing", "batch_id": batch_id}
                             for item in items]
            return body
        body["eager"] = [self._make(env, asset, item) for item in items]
        return body

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def take_up_abandoned(self) -> int:
        """Start the jobs whose lease ran out (their process died); returns how many."""
        now = utcnow()
        with self.db.read_connection() as connection:
            expired = connection.execute(_EXPIRED, {"now": now}).scalars().all()
        taken = 0
        for job in expired:
            with self.db.write_connection() as connection:
                # Only one process wins a job: the lease must still be out when it is written.
                won = connection.execute(_TAKE_UP, {"job": job, "now": now, "until": now + self.lease}).rowcount
            if won:
                log.warning("taking up eager job %s, abandoned by a process that stopped", job)
                self._submit(job)
                taken += 1
        return taken

    # -- helpers ---------------------------------------------------------------------------

    def _prepare(self, env: EnvironmentInfo, item: str) -> tuple[Prepared, str]:
        text, fmt = split_format(item)
        try:
            return self.producer.prepare(env, text), fmt
        except TransformationError as error:
            raise BadRequest(f"Invalid eager transformation {item!r}: {error}") from None

    def _asset(self, env: EnvironmentInfo, body: dict[str, Any]) -> Asset | None:
        with self.db.read() as session:
            asset = find_asset(session, env.id, body["resource_type"], body["type"], body["public_id"])
        if asset is None or asset.placeholder or asset.resource_type != "image":
            return None
        return asset

    def _entry(self, env: EnvironmentInfo, asset: Asset, item: str) -> dict[str, Any]:
        text, fmt = split_format(item)
        url = delivery_url(self.base_url, env, asset, text, fmt or None)
        entry: dict[str, Any] = {"transformation": text, "url": url, "secure_url": secure_variant(url)}
        if fmt:
            entry["format"] = fmt
        return entry

    def _make(self, env: EnvironmentInfo, asset: Asset, item: str) -> dict[str, Any]:
        prepared, fmt = self._prepare(env, item)
        format_ = choose_format(prepared.effective, fmt, asset.format, "").format
        entry = self._entry(env, asset, item)
        try:
            key = self.producer.produce(env, asset, prepared, format_)
        except (TransformationError, RenderError) as error:
            return {**entry, "status": "failed", "reason": str(error)}
        facts = self.producer.facts(key)
        entry["format"] = format_
        if facts is not None:
            entry.update(width=facts.width, height=facts.height, bytes=facts.bytes)
        return entry

    def _record_job(self, env: EnvironmentInfo, asset: Asset, items: list[str], batch_id: str,
                    notification_url: str | None) -> int:
        now = utcnow()
        with self.db.write_connection() as connection:
            return connection.execute(insert(_jobs).returning(_jobs.c.id), {
                "environment_id": env.id, "asset_pk": asset.id, "version_id": asset.version_id, "items": items,
                "batch_id": batch_id, "notification_url": notification_url,
                "request_id": context.request_id.get() or None, "attempts": 1,
                "lease_until": now + self.lease, "created_at": now}).scalar_one()

    def _submit(self, job: int) -> None:
        with self._held_lock:
            self._held.add(job)
        self._pool.submit(contextvars.copy_context().run, self._run_job, job)

    def _run_job(self, job_id: int) -> None:
        try:
            with self.db.read() as session:
                job = session.get(EagerJob, job_id)
                asset = session.get(Asset, job.asset_pk) if job is not None else None
                env = session.get(Environment, job.environment_id) if job is not None else None
            if job is None:
                return  # done by another process meanwhile
            if asset is None or asset.placeholder or asset.version_id != job.version_id or env is None:
                # Overwritten or deleted since: the files would be of a version nobody can see.
                self._finish(job_id)
                return
            info = snapshot(env)
            if job.request_id:
                context.request_id.set(job.request_id)  # the event names the call that asked for it
            if job.attempts > MAX_ATTEMPTS:
                entries = [{**self._entry(info, asset, item), "status": "failed",
                            "reason": f"Gave up after {MAX_ATTEMPTS} attempts: the process making it stopped "
                                      "each time"} for item in job.items]
            else:
                entries = [self._make(info, asset, item) for item in job.items]
            self._finish(job_id, lambda session: outbox.record(
                session, environment_id=info.id, notification_type="eager",
                payload={"batch_id": job.batch_id, "asset_id": asset.asset_id, "public_id": asset.public_id,
                         "resource_type": asset.resource_type, "type": asset.type, "eager": entries},
                api_key=info.api_key, asset_id=asset.asset_id, notification_url=job.notification_url))
        except Exception:  # a background thread has no caller to tell; the log must. The lease is
            # no longer renewed: the job is tried again when it has run out.
            log.exception("eager job %s failed", job_id)
        finally:
            with self._held_lock:
                self._held.discard(job_id)

    def _finish(self, job_id: int, write_event: Callable[[Session], None] | None = None) -> None:
        """Delete the job and write its event in one transaction: the event is written once."""
        with self.db.write() as session:
            gone = session.execute(delete(EagerJob).where(EagerJob.id == job_id)).rowcount
            if gone and write_event is not None:
                write_event(session)

    def keep_leases(self) -> None:
        """Renew the leases of the jobs this process renders, and take up those whose process died."""
        with self._held_lock:
            held = sorted(self._held)
        if held:
            with self.db.write_connection() as connection:
                connection.execute(_RENEW, {"ids": held, "until": utcnow() + self.lease})
        self.take_up_abandoned()
