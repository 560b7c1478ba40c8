"""``explicit``: change an existing asset's tags, context, metadata, moderation or eager list
without uploading it again. Each kind of change writes its own event."""

from __future__ import annotations

from typing import Any

from medialoom.assets.changes import apply_labels, emitter
from medialoom.assets.options import MODERATION_KINDS, parse_eager
from medialoom.assets.serialize import upload_response
from medialoom.assets.store import get_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest


def explicit(db: Database, env: EnvironmentInfo, resource_type: str, type_: str, public_id: str,
             values: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    if not public_id:
        raise BadRequest("Missing required parameter - public_id")
    notification_url = values.get("notification_url") or None
    with db.write() as session:
        asset = get_asset(session, env.id, resource_type, type_, public_id)
        apply_labels(session, asset, values, emitter(session, env, asset, notification_url))
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
