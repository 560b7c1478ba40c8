"""Tags, context and structured metadata of many assets at once (the tags/context/metadata
actions). Each call changes its assets in one transaction and writes one event describing
every asset it touched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from medialoom.assets.changes import context_change
from medialoom.assets.codecs import parse_key_values, parse_metadata, parse_tags
from medialoom.assets.store import find_assets
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest
from medialoom.events import outbox
from medialoom.metadata.service import validated_metadata

TAG_COMMANDS = ("add", "remove", "replace", "remove_all", "set_exclusive")
CONTEXT_COMMANDS = ("add", "remove_all")
MAX_PUBLIC_IDS = 1000
MAX_TAGS_PER_ASSET = 1000


def _check_public_ids(public_ids: list[str]) -> None:
    if not public_ids:
        raise BadRequest("Missing required parameter - public_ids")
    if len(public_ids) > MAX_PUBLIC_IDS:
        raise BadRequest(f"Too many public_ids (maximum is {MAX_PUBLIC_IDS})")


class Labels:
    def __init__(self, db: Database) -> None:
        self.db = db

    def tags(self, env: EnvironmentInfo, resource_type: str, type_: str, command: str,
             tag_param: str | None, public_ids: list[str], notification_url: str | None = None) -> dict[str, Any]:
        if command not in TAG_COMMANDS:
            raise BadRequest(f"Invalid command {command!r}: use one of {', '.join(TAG_COMMANDS)}")
        tags = parse_tags(tag_param)
        if command != "remove_all" and not tags:
            raise BadRequest("Missing required parameter - tag")
        if command == "set_exclusive" and len(tags) != 1:
            raise BadRequest("set_exclusive takes exactly one tag")
        _check_public_ids(public_ids)
        changes: list[dict[str, Any]] = []
        with self.db.write() as session:
            assets = find_assets(session, env.id, resource_type, type_, public_ids)
            if command == "set_exclusive":
                others = session.scalars(select(Asset).where(
                    Asset.environment_id == env.id, Asset.resource_type == resource_type,
                    Asset.public_id.not_in(public_ids))).all()
                for other in others:
                    if tags[0] in other.tags:
                        changes.append(self._retag(other, [t for t in other.tags if t != tags[0]]))
            for asset in assets:
                current = list(asset.tags)
                if command in ("add", "set_exclusive"):
                    wanted = current + [tag for tag in tags if tag not in current]
                elif command == "remove":
                    wanted = [tag for tag in current if tag not in tags]
                elif command == "replace":
                    wanted = tags
                else:
                    wanted = []
                if len(wanted) > MAX_TAGS_PER_ASSET:
                    raise BadRequest(f"Too many tags on {asset.public_id} (maximum is {MAX_TAGS_PER_ASSET})")
                change = self._retag(asset, wanted)
                if change["added"] or change["removed"]:
                    changes.append(change)
            if changes:
                outbox.record(session, environment_id=env.id, notification_type="resource_tags_changed",
                              payload={"resources": changes}, api_key=env.api_key,
                              asset_id=changes[0]["asset_id"] if len(changes) == 1 else None,
                              notification_url=notification_url)
            return {"public_ids": [asset.public_id for asset in assets]}

    @staticmethod
    def _retag(asset: Asset, wanted: list[str]) -> dict[str, Any]:
        before = list(asset.tags)
        asset.tags = wanted
        asset.updated_at = utcnow()
        return {
            "asset_id": asset.asset_id,
            "public_id": asset.public_id,
            "resource_type": asset.resource_type,
            "type": asset.type,
            "added": [tag for tag in wanted if tag not in before],
            "removed": [tag for tag in before if tag not in wanted],
            "updated": [],
        }

    def context(self, env: EnvironmentInfo, resource_type: str, type_: str, command: str,
                context_param: str | None, public_ids: list[str], notification_url: str | None = None) -> dict[str, Any]:
        if command not in CONTEXT_COMMANDS:
            raise BadRequest(f"Invalid command {command!r}: use one of {', '.join(CONTEXT_COMMANDS)}")
        values = parse_key_values(context_param)
        if command == "add" and not values:
            raise BadRequest("Missing required parameter - context")
        _check_public_ids(public_ids)
        changes: dict[str, Any] = {}
        with self.db.write() as session:
            assets = find_assets(session, env.id, resource_type, type_, public_ids)
            for asset in assets:
                before = dict(asset.context)
                after = {**before, **values} if command == "add" else {}
                change = context_change(before, after)
                if change["added"] or change["removed"] or change["updated"]:
                    asset.context = after
                    asset.updated_at = utcnow()
                    changes[asset.public_id] = {"asset_id": asset.asset_id, "resource_type": asset.resource_type,
                                                "type": asset.type, **change}
            if changes:
                outbox.record(session, environment_id=env.id, notification_type="resource_context_changed",
                              payload={"resources": changes}, api_key=env.api_key,
                              notification_url=notification_url)
            return {"public_ids": [asset.public_id for asset in assets]}

    def metadata(self, env: EnvironmentInfo, resource_type: str, type_: str, metadata_param: str | None,
                 public_ids: list[str], notification_url: str | None = None) -> dict[str, Any]:
        values = parse_metadata(metadata_param)
        if not values:
            raise BadRequest("Missing required parameter - metadata")
        _check_public_ids(public_ids)
        changes: dict[str, Any] = {}
        with self.db.write() as session:
            assets = find_assets(session, env.id, resource_type, type_, public_ids)
            for asset in assets:
                before = dict(asset.metadata_)
                after = validated_metadata(session, env.id, before, values, creating=False)
                if after != before:
                    asset.metadata_ = after
                    asset.updated_at = utcnow()
                    changes[asset.public_id] = {"asset_id": asset.asset_id, "resource_type": asset.resource_type,
                                                "type": asset.type, "previous_metadata": before, "new_metadata": after}
            if changes:
                outbox.record(session, environment_id=env.id, notification_type="resource_metadata_changed",
                              payload={"resources": changes}, api_key=env.api_key,
                              notification_url=notification_url)
            return {"public_ids": [asset.public_id for asset in assets]}

