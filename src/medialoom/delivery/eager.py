"""Eager transformations: derived files made at upload or ``explicit`` instead of at first view.

Synchronously, the response's ``eager`` entries carry each file's size and dimensions. With
``eager_async`` the response says ``processing`` and a background thread renders them, then
writes the ``eager`` event (to ``eager_notification_url`` when given).

A process that stops while rendering asynchronously loses that work: the files are made at
first view instead, and no ``eager`` event is written. (Durable jobs come with the worker.)
"""

from __future__ import annotations

import contextvars
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from medialoom.assets.serialize import delivery_url, secure_variant, split_format
from medialoom.assets.store import find_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset
from medialoom.db.session import Database
from medialoom.delivery.formats import choose_format
from medialoom.delivery.producer import Prepared, Producer
from medialoom.errors import BadRequest
from medialoom.events import outbox
from medialoom.transform.grammar import TransformationError
from medialoom.transform.render import RenderError

log = logging.getLogger(__name__)


class Eager:
    def __init__(self, db: Database, producer: Producer, base_url: str, workers: int = 2) -> None:
        self.db = db
        self.producer = producer
        self.base_url = base_url
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eager")

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
            # In the request's context, so that the eager event carries the request id of the call.
            self._pool.submit(contextvars.copy_context().run, self._derive_later, env, asset, items, batch_id,
                              notification_url)
            body["eager"] = [{**self._entry(env, asset, item), "status": "processing", "batch_id": batch_id}
                             for item in items]
            return body
        body["eager"] = [self._make(env, asset, item) for item in items]
        return body

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

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

    def _derive_later(self, env: EnvironmentInfo, asset: Asset, items: list[str], batch_id: str,
                      notification_url: str | None) -> None:
        try:
            entries = [self._make(env, asset, item) for item in items]
            with self.db.write() as session:
                outbox.record(session, environment_id=env.id, notification_type="eager",
                              payload={"batch_id": batch_id, "asset_id": asset.asset_id,
                                       "public_id": asset.public_id, "resource_type": asset.resource_type,
                                       "type": asset.type, "eager": entries},
                              api_key=env.api_key, asset_id=asset.asset_id, notification_url=notification_url)
        except Exception:  # a background thread has no caller to tell; the log must
            log.exception("eager transformations for %s failed", asset.public_id)
