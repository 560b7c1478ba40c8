"""Deleting many assets at once (by ids, prefix, tag or all) and restoring from backups.

A bulk delete stops after ``BATCH`` assets and answers ``partial: true`` with a cursor, as
Cloudinary does, so one call never holds the write lock for long.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from medialoom.assets.catalog import decode_cursor, encode_cursor, has_label
from medialoom.assets.codecs import parse_bool
from medialoom.assets.lifecycle import Lifecycle
from medialoom.assets.serialize import event_resource, resource_json
from medialoom.assets.store import blob_key_for, find_asset, new_hex_id, next_version
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, AssetVersion
from medialoom.db.session import utcnow
from medialoom.errors import BadRequest
from medialoom.events import outbox

BATCH = 1000
DELETE_PARAMS = frozenset({"public_ids", "prefix", "all", "keep_original", "next_cursor", "invalidate",
                           "batch_id", "notification_url", "transformations"})


# Deletes an asset's derived files (of the given transformations, or all); returns how many.
ForgetDerived = Callable[[EnvironmentInfo, Asset, "list[str] | None"], int]


class Bulk:
    def __init__(self, lifecycle: Lifecycle, forget_derived: ForgetDerived) -> None:
        self.lifecycle = lifecycle
        self.db = lifecycle.db
        self.blobs = lifecycle.blobs
        self.forget_derived = forget_derived

    def delete(self, env: EnvironmentInfo, resource_type: str, type_: str | None, values: dict[str, Any],
               tag: str | None = None) -> dict[str, Any]:
        transformations = _transformations(values.get("transformations"))
        keep_original = bool(parse_bool(values.get("keep_original"), "keep_original", False))
        public_ids = values.get("public_ids")
        public_ids = public_ids if isinstance(public_ids, list) else ([public_ids] if public_ids else [])
        prefix = values.get("prefix")
        everything = bool(parse_bool(values.get("all"), "all", False))
        if tag is None and not public_ids and not prefix and not everything:
            raise BadRequest("Missing required parameter - public_ids, prefix or all")
        if len(public_ids) > 100:
            raise BadRequest("Too many public_ids (maximum is 100)")
        query = select(Asset).where(Asset.environment_id == env.id, Asset.resource_type == resource_type,
                                    Asset.placeholder.is_(False))
        if type_:
            query = query.where(Asset.type == type_)
        if public_ids:
            query = query.where(Asset.public_id.in_(public_ids))
        elif prefix:
            escaped = str(prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Asset.public_id.like(f"{escaped}%", escape="\\"))
        elif tag is not None:
            query = query.where(has_label("tags", tag))
        if values.get("next_cursor"):
            query = query.where(Asset.id > decode_cursor(str(values["next_cursor"])))
        deleted: dict[str, str] = {public_id: "not_found" for public_id in public_ids}
        if keep_original or transformations:
            return self._delete_derived(env, query, deleted, transformations)
        discard: list[str] = []
        with self.db.write() as session:
            assets = session.scalars(query.order_by(Asset.id).limit(BATCH + 1)).all()
            batch, more = assets[:BATCH], len(assets) > BATCH
            resources = []
            for asset in batch:
                resources.append(event_resource(asset))
                deleted[asset.public_id] = "deleted"
                discard += self.lifecycle.remove_within(session, asset)
            if resources:
                outbox.record(session, environment_id=env.id, notification_type="delete",
                              payload={"resources": resources}, api_key=env.api_key,
                              asset_id=resources[0]["asset_id"] if len(resources) == 1 else None,
                              notification_url=values.get("notification_url") or None)
        self.lifecycle.discard(discard)
        body: dict[str, Any] = {
            "deleted": deleted,
            "deleted_counts": {pid: {"original": 1 if state == "deleted" else 0, "derived": 0}
                               for pid, state in deleted.items()},
            "partial": more,
        }
        if more:
            body["next_cursor"] = encode_cursor(batch[-1].id)
        return body

    def _delete_derived(self, env: EnvironmentInfo, query: Any, deleted: dict[str, str],
                        transformations: list[str] | None) -> dict[str, Any]:
        """``keep_original``: the originals stay; their derived files (of ``transformations``
        only, when given) go."""
        with self.db.read() as session:
            assets = session.scalars(query.order_by(Asset.id).limit(BATCH + 1)).all()
        batch, more = assets[:BATCH], len(assets) > BATCH
        counts: dict[str, dict[str, int]] = {pid: {"original": 0, "derived": 0} for pid in deleted}
        for asset in batch:
            counts[asset.public_id] = {"original": 0, "derived": self.forget_derived(env, asset, transformations)}
            deleted[asset.public_id] = "deleted"
        body: dict[str, Any] = {"deleted": deleted, "deleted_counts": counts, "partial": more}
        if more:
            body["next_cursor"] = encode_cursor(batch[-1].id)
        return body

    def restore(self, env: EnvironmentInfo, resource_type: str, type_: str, public_ids: list[str],
                versions: list[str], base_url: str) -> dict[str, Any]:
        if not public_ids:
            raise BadRequest("Missing required parameter - public_ids")
        if versions and len(versions) != len(public_ids):
            raise BadRequest("versions must name one version per public id")
        result: dict[str, Any] = {}
        for index, public_id in enumerate(public_ids):
            wanted = versions[index] if versions else None
            result[public_id] = self._restore_one(env, resource_type, type_, public_id, wanted, base_url)
        return result

    def _restore_one(self, env, resource_type, type_, public_id, version_id, base_url) -> dict[str, Any]:  # noqa: ANN001
        with self.db.read() as session:
            asset = find_asset(session, env.id, resource_type, type_, public_id)
            if asset is None:
                return {"error": "no_backup"}
            query = select(AssetVersion).where(AssetVersion.asset_pk == asset.id)
            if version_id:
                query = query.where(AssetVersion.version_id == version_id)
            backup = session.scalars(query.order_by(AssetVersion.version.desc()).limit(1)).first()
            if backup is None:
                return {"error": "no_backup"}
        # The backup keeps its own blob; the restored version gets a copy under a fresh key.
        new_version_id = new_hex_id()
        new_key = blob_key_for(env.id, new_version_id)
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as copy:
            for block in self.blobs.iter_bytes(backup.blob_key):
                copy.write(block)
            copy.seek(0)
            size = self.blobs.put(new_key, copy)
        with self.db.write() as session:
            asset = session.get(Asset, asset.id)
            discard = asset.blob_key if asset.blob_key and not asset.backup else None
            if asset.blob_key and asset.backup:
                session.add(AssetVersion(asset_pk=asset.id, version=asset.version, version_id=asset.version_id,
                                         format=asset.format, bytes=asset.bytes, width=asset.width,
                                         height=asset.height, etag=asset.etag, blob_key=asset.blob_key,
                                         created_at=utcnow()))
            asset.blob_key, asset.version_id, asset.version = new_key, new_version_id, next_version(asset.version)
            asset.bytes, asset.format, asset.etag = size, backup.format, backup.etag
            asset.width, asset.height = backup.width, backup.height
            asset.placeholder = False
            asset.updated_at = asset.uploaded_at = utcnow()
            outbox.record(session, environment_id=env.id, notification_type="restore",
                          payload={"resources": [event_resource(asset)]}, api_key=env.api_key,
                          asset_id=asset.asset_id)
            body = resource_json(asset, env, base_url, detail=True)
        if discard:
            self.blobs.delete(discard)
        return body


def _transformations(value: Any) -> list[str] | None:
    """``transformations`` as the SDKs send it: one string of ``|``-separated eager entries,
    or a list."""
    if not value:
        return None
    items = value if isinstance(value, list) else str(value).split("|")
    return [str(item) for item in items if str(item).strip()] or None
