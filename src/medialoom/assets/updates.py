"""The Admin API's ``update``: change one asset's descriptive fields and moderation status.

Each kind of change writes its own event, in the shape Cloudinary sends for it; a moderation
decision writes the ``moderation`` event that flows trigger on.
"""

from __future__ import annotations

from typing import Any

from medialoom.assets.changes import apply_labels, emitter
from medialoom.assets.naming import normalize_folder
from medialoom.assets.serialize import delivery_url, iso, resource_json, secure_variant
from medialoom.assets.store import get_asset
from medialoom.auth.access import AccessControlError, parse_access_control
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest

UPDATE_PARAMS = frozenset({"tags", "context", "metadata", "moderation_status", "display_name", "asset_folder",
                           "notification_url", "batch_id", "clear_invalid", "unique_display_name",
                           "access_control"})
MODERATION_DECISIONS = ("approved", "rejected")


def update(db: Database, env: EnvironmentInfo, resource_type: str, type_: str, public_id: str,
           values: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    notification_url = values.get("notification_url") or None
    decision = values.get("moderation_status")
    if decision is not None and decision not in MODERATION_DECISIONS:
        raise BadRequest(f"moderation_status must be one of {', '.join(MODERATION_DECISIONS)}")
    with db.write() as session:
        asset = get_asset(session, env.id, resource_type, type_, public_id)
        now = utcnow()
        base = {"asset_id": asset.asset_id, "resource_type": asset.resource_type, "type": asset.type}
        emit = emitter(session, env, asset, notification_url)
        apply_labels(session, asset, values, emit)

        if values.get("display_name") is not None and values["display_name"] != asset.display_name:
            previous = asset.display_name
            asset.display_name = str(values["display_name"])
            emit("resource_display_name_changed", {"resources": [{
                **base, "public_id": asset.public_id, "asset_folder": asset.asset_folder,
                "previous_display_name": previous, "new_display_name": asset.display_name}]})
        if values.get("asset_folder") is not None:
            if env.folder_mode != "dynamic":
                raise BadRequest("asset_folder can only be changed in dynamic folder mode")
            folder = normalize_folder(str(values["asset_folder"]), "Asset folder")
            if folder != asset.asset_folder:
                previous_folder, asset.asset_folder = asset.asset_folder, folder
                emit("move", {"resources": {asset.public_id: {
                    **base, "from_asset_folder": previous_folder, "to_asset_folder": folder,
                    "display_name": asset.display_name}}})
        if values.get("access_control") is not None:
            try:
                rules = parse_access_control(values["access_control"]) or None
            except AccessControlError as error:
                raise BadRequest(str(error)) from None
            if rules != asset.access_control:
                previous_rules, asset.access_control = asset.access_control, rules
                emit("access_control_changed", {"resources": [{
                    **base, "public_id": asset.public_id, "previous_access_control": previous_rules or [],
                    "new_access_control": rules or []}]})
        if decision is not None:
            if not asset.moderation:
                asset.moderation = [{"kind": "manual", "status": decision, "updated_at": iso(now)}]
            else:
                entries = [dict(entry) for entry in asset.moderation]
                entries[-1].update(status=decision, updated_at=iso(now))
                asset.moderation = entries
            url = delivery_url(base_url, env, asset)
            # A decision without a URL of its own goes to the one named by the upload (or
            # explicit) that queued the asset: that caller asked to hear how moderation ends.
            emitter(session, env, asset, notification_url or asset.notification_url)("moderation", {
                "public_id": asset.public_id, "asset_id": asset.asset_id, "version": asset.version,
                "moderation_status": decision, "moderation_kind": asset.moderation[-1]["kind"],
                "moderation_updated_at": iso(now), "moderation_response": None,
                "moderation": list(asset.moderation), "uploaded_at": iso(asset.uploaded_at), "etag": asset.etag,
                "resource_type": asset.resource_type, "type": asset.type,
                "url": url, "secure_url": secure_variant(url),
            })
        if notification_url:
            asset.notification_url = notification_url
        asset.updated_at = now
        return resource_json(asset, env, base_url, detail=True)
