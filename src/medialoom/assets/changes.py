"""Changing one asset's tags, context and metadata, with the event each change writes.

Shared by ``explicit`` (Upload API) and ``update`` (Admin API), which accept the same three
fields with the same meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from medialoom.assets.codecs import parse_key_values, parse_metadata, parse_tags
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset
from medialoom.events import outbox
from medialoom.metadata.service import validated_metadata

Emit = Callable[[str, dict[str, Any]], None]


def emitter(session: Session, env: EnvironmentInfo, asset: Asset, notification_url: str | None) -> Emit:
    """Records events about ``asset`` in ``session``'s transaction."""
    def emit(kind: str, payload: dict[str, Any]) -> None:
        outbox.record(session, environment_id=env.id, notification_type=kind, payload=payload,
                      api_key=env.api_key, asset_id=asset.asset_id, notification_url=notification_url)
    return emit


def context_change(before: dict[str, str], after: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {
        "added": [{"name": key, "value": value} for key, value in after.items() if key not in before],
        "removed": [{"name": key, "value": value} for key, value in before.items() if key not in after],
        "updated": [{"name": key, "value": value} for key, value in after.items()
                    if key in before and before[key] != value],
    }


def apply_labels(session: Session, asset: Asset, values: dict[str, Any], emit: Emit) -> None:
    """Replace tags and context and merge metadata when ``values`` names them. Metadata is
    checked against the environment's fields and rules (an empty value clears a field)."""
    base = {"asset_id": asset.asset_id, "resource_type": asset.resource_type, "type": asset.type}
    if "tags" in values:
        before, after = list(asset.tags), parse_tags(values["tags"])
        if before != after:
            asset.tags = after
        added, removed = [t for t in after if t not in before], [t for t in before if t not in after]
        # Tags are a set to receivers: the same tags in another order are no change to tell.
        if added or removed:
            emit("resource_tags_changed", {"resources": [{**base, "public_id": asset.public_id,
                 "added": added, "removed": removed, "updated": []}]})
    if "context" in values:
        before_ctx, after_ctx = dict(asset.context), parse_key_values(values["context"])
        if before_ctx != after_ctx:
            asset.context = after_ctx
            emit("resource_context_changed", {"resources": {asset.public_id: {
                **base, **context_change(before_ctx, after_ctx)}}})
    if "metadata" in values:
        before_md = dict(asset.metadata_)
        after_md = validated_metadata(session, asset.environment_id, before_md, parse_metadata(values["metadata"]),
                                      creating=False)
        if before_md != after_md:
            asset.metadata_ = after_md
            emit("resource_metadata_changed", {"resources": {asset.public_id: {
                **base, "previous_metadata": before_md, "new_metadata": after_md}}})
