"""``explicit``: change an existing asset's tags, context, metadata, moderation or eager list
without uploading it again. Each kind of change writes its own event."""

from __future__ import annotations

from typing import Any

from medialoom.assets.codecs import parse_key_values, parse_metadata, parse_tags
from medialoom.assets.labels import context_change
from medialoom.assets.options import MODERATION_KINDS, parse_eager
from medialoom.assets.serialize import upload_response
from medialoom.assets.store import get_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest
from medialoom.events import outbox


def explicit(db: Database, env: EnvironmentInfo, resource_type: str, type_: str, public_id: str,
             values: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    if not public_id:
        raise BadRequest("Missing required parameter - public_id")
    notification_url = values.get("notification_url") or None
    with db.write() as session:
        asset = get_asset(session, env.id, resource_type, type_, public_id)
        base = {"asset_id": asset.asset_id, "resource_type": asset.resource_type, "type": asset.type}

        def emit(kind: str, payload: dict[str, Any]) -> None:
            outbox.record(session, environment_id=env.id, notification_type=kind, payload=payload,
                          api_key=env.api_key, asset_id=asset.asset_id, notification_url=notification_url)

        if "tags" in values:
            before, after = list(asset.tags), parse_tags(values["tags"])
            if before != after:
                asset.tags = after
                emit("resource_tags_changed", {"resources": [{**base, "public_id": asset.public_id,
                     "added": [t for t in after if t not in before],
                     "removed": [t for t in before if t not in after], "updated": []}]})
        if "context" in values:
            before_ctx, after_ctx = dict(asset.context), parse_key_values(values["context"])
            if before_ctx != after_ctx:
                asset.context = after_ctx
                emit("resource_context_changed", {"resources": {asset.public_id: {**base,
                     **context_change(before_ctx, after_ctx)}}})
        if "metadata" in values:
            before_md = dict(asset.metadata_)
            after_md = {k: v for k, v in {**before_md, **parse_metadata(values["metadata"])}.items()
                        if v not in ("", [], None)}
            if before_md != after_md:
                asset.metadata_ = after_md
                emit("resource_metadata_changed", {"resources": {asset.public_id: {**base,
                     "previous_metadata": before_md, "new_metadata": after_md}}})
        if values.get("moderation"):
            kind = values["moderation"]
            if kind not in MODERATION_KINDS:
                raise BadRequest(f"Moderation {kind!r} is not valid: only 'manual' is available")
            asset.moderation = [{"kind": kind, "status": "pending"}]
        if "eager" in values:
            asset.eager = list(asset.eager) + [t for t in parse_eager(values["eager"]) if t not in asset.eager]
        if notification_url:
            asset.notification_url = notification_url
        asset.updated_at = utcnow()
        session.flush()
        return upload_response(asset, env, base_url)
