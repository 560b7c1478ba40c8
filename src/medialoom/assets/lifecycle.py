"""Destroy, rename and delete-by-token: operations that move or remove an asset."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from medialoom.assets.naming import validate_public_id
from medialoom.assets.serialize import event_resource, upload_response
from medialoom.assets.store import discard_original, find_asset, get_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, AssetVersion, DeleteToken
from medialoom.db.session import Database, as_utc, utcnow
from medialoom.errors import BadRequest
from medialoom.events import outbox
from medialoom.storage import BlobStore


class Lifecycle:
    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs

    def remove_within(self, session, asset: Asset) -> list[str]:  # noqa: ANN001
        """Delete or placeholder an asset inside ``session``; return blob keys to discard
        after the transaction commits."""
        discard: list[str] = []
        if asset.backup:
            # Keep the bytes as a backed-up version so that the asset can be restored.
            session.add(AssetVersion(
                asset_pk=asset.id, version=asset.version, version_id=asset.version_id, format=asset.format,
                bytes=asset.bytes, width=asset.width, height=asset.height, etag=asset.etag,
                blob_key=asset.blob_key, created_at=utcnow(),
            ))
            asset.placeholder = True
            asset.bytes = 0
            asset.blob_key = ""
            asset.updated_at = utcnow()
        else:
            versions = session.scalars(select(AssetVersion).where(AssetVersion.asset_pk == asset.id)).all()
            discard.extend(version.blob_key for version in versions)
            if asset.blob_key:
                discard.append(asset.blob_key)
            session.execute(delete(DeleteToken).where(DeleteToken.asset_pk == asset.id))
            session.delete(asset)
        return discard

    def discard(self, keys: list[str]) -> None:
        """After the transaction that dropped them: originals' bytes and their derived files."""
        for key in keys:
            discard_original(self.blobs, key)

    def destroy(self, env: EnvironmentInfo, resource_type: str, type_: str, public_id: str,
                notification_url: str | None = None) -> dict[str, Any]:
        with self.db.write() as session:
            asset = find_asset(session, env.id, resource_type, type_, public_id)
            if asset is None or asset.placeholder:
                return {"result": "not found"}
            resource = event_resource(asset)
            discard = self.remove_within(session, asset)
            outbox.record(session, environment_id=env.id, notification_type="delete",
                          payload={"resources": [resource]}, api_key=env.api_key,
                          asset_id=resource["asset_id"], notification_url=notification_url)
        self.discard(discard)
        return {"result": "ok"}

    def delete_by_token(self, env: EnvironmentInfo, token: str) -> dict[str, Any]:
        if not token:
            raise BadRequest("Missing required parameter - token")
        with self.db.write() as session:
            row = session.get(DeleteToken, token)
            if row is None or row.environment_id != env.id:
                raise BadRequest("Invalid token")
            if as_utc(row.expires_at) < utcnow():
                session.delete(row)
                raise BadRequest("Stale token")
            asset = session.get(Asset, row.asset_pk)
            session.delete(row)
            if asset is None or asset.placeholder:
                return {"result": "not found"}
            resource = event_resource(asset)
            discard = self.remove_within(session, asset)
            outbox.record(session, environment_id=env.id, notification_type="delete",
                          payload={"resources": [resource]}, api_key=env.api_key, asset_id=resource["asset_id"])
        self.discard(discard)
        return {"result": "ok"}

    def rename(self, env: EnvironmentInfo, resource_type: str, type_: str, from_public_id: str,
               to_public_id: str, *, to_type: str | None, overwrite: bool, base_url: str,
               notification_url: str | None = None) -> dict[str, Any]:
        validate_public_id(to_public_id)
        target_type = to_type or type_
        if target_type not in ("upload", "private", "authenticated"):
            raise BadRequest(f"Invalid to_type {target_type!r}")
        discard: list[str] = []
        with self.db.write() as session:
            asset = get_asset(session, env.id, resource_type, type_, from_public_id)
            if (to_public_id, target_type) == (asset.public_id, asset.type):
                return upload_response(asset, env, base_url)
            target = find_asset(session, env.id, resource_type, target_type, to_public_id)
            if target is not None:
                if not target.placeholder and not overwrite:
                    raise BadRequest(f"to_public_id ({to_public_id}) already exists")
                if not target.placeholder:
                    outbox.record(session, environment_id=env.id, notification_type="delete",
                                  payload={"resources": [event_resource(target)]}, api_key=env.api_key,
                                  asset_id=target.asset_id, notification_url=notification_url)
                discard = self._remove_for_rename(session, target)
                session.flush()
            asset.public_id = to_public_id
            asset.type = target_type
            if env.folder_mode == "fixed":
                asset.asset_folder = to_public_id.rsplit("/", 1)[0] if "/" in to_public_id else ""
            asset.updated_at = utcnow()
            session.flush()
            payload = {
                "from_public_id": from_public_id,
                "to_public_id": to_public_id,
                "resource_type": resource_type,
                "type": asset.type,
                "from_type": type_,
                "asset_id": asset.asset_id,
                "asset_folder": asset.asset_folder,
                "display_name": asset.display_name,
            }
            outbox.record(session, environment_id=env.id, notification_type="rename", payload=payload,
                          api_key=env.api_key, asset_id=asset.asset_id, notification_url=notification_url)
            body = upload_response(asset, env, base_url)
        self.discard(discard)
        return body

    def _remove_for_rename(self, session, target: Asset) -> list[str]:  # noqa: ANN001
        """An overwritten rename target disappears completely, backups included."""
        versions = session.scalars(select(AssetVersion).where(AssetVersion.asset_pk == target.id)).all()
        keys = [version.blob_key for version in versions]
        if target.blob_key:
            keys.append(target.blob_key)
        session.execute(delete(DeleteToken).where(DeleteToken.asset_pk == target.id))
        session.delete(target)
        return keys
