"""The upload pipeline: inspect the bytes, name the asset, store the blob, then the row.

Order matters for consistency: the blob is written first under a key nobody references
yet, then the asset row and its outbox event are committed in one transaction. A crash in
between leaves only an unreferenced blob (garbage), never a row that points at nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from medialoom.assets.incoming import IncomingFile
from medialoom.assets.naming import extension_of, filename_stem, resolve_naming
from medialoom.assets.options import UploadOptions
from medialoom.assets.serialize import upload_response
from medialoom.assets.search_index import index_inserted, moderation_columns
from medialoom.assets.store import (
    blob_key_for,
    discard_original,
    find_asset,
    find_asset_pk,
    new_delete_token,
    new_hex_id,
    next_version,
)
from medialoom.auth.environments import EnvironmentInfo
from medialoom.config import Settings
from medialoom.db.models import Asset, AssetVersion, DeleteToken
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, TooLarge
from medialoom.events import outbox
from medialoom.metadata.service import validated_metadata
from medialoom.media.probe import InvalidMedia, MediaInfo, MediaRejected, probe
from medialoom.storage import BlobStore


@dataclass(frozen=True)
class StoredBlob:
    """The bytes of a new version, already written under a key nothing references yet."""

    key: str
    version_id: str
    etag: str
    size: int


@dataclass(frozen=True)
class Inspected:
    resource_type: str
    format: str
    info: MediaInfo | None


class Uploader:
    def __init__(self, settings: Settings, db: Database, blobs: BlobStore) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs

    # -- inspection -------------------------------------------------------------------

    def size_limit(self, resource_type: str) -> int:
        limits = {
            "image": self.settings.max_image_bytes,
            "video": self.settings.max_video_bytes,
            "raw": self.settings.max_raw_bytes,
        }
        return limits.get(resource_type, max(limits.values()))

    def inspect(self, incoming: IncomingFile, requested: str, filename: str) -> Inspected:
        """Decide the resource type and format from the bytes, never from the name."""
        if incoming.size == 0:
            raise BadRequest("Empty file")
        if requested == "raw":
            self._check_size(incoming, "raw")
            return Inspected("raw", extension_of(filename), None)
        try:
            info = probe(incoming.rewind(), max_megapixels=self.settings.max_image_megapixels)
        except MediaRejected as error:
            raise BadRequest(str(error)) from error
        except InvalidMedia as error:
            kind = "video" if requested == "video" else "image"
            raise BadRequest(f"Invalid {kind} file: {error}") from error
        if requested == "auto":
            resource_type = info.resource_type
        elif requested != info.resource_type:
            raise BadRequest(f"Invalid {requested} file")
        else:
            resource_type = requested
        self._check_size(incoming, resource_type)
        if resource_type == "raw":
            return Inspected("raw", extension_of(filename), None)
        return Inspected(resource_type, info.format, info)

    def _check_size(self, incoming: IncomingFile, resource_type: str) -> None:
        limit = self.size_limit(resource_type)
        if incoming.size > limit:
            raise TooLarge(f"File size too large. Got {incoming.size}. Maximum is {limit}.")

    # -- the pipeline -----------------------------------------------------------------

    def upload(
        self,
        env: EnvironmentInfo,
        incoming: IncomingFile,
        options: UploadOptions,
        requested_type: str,
        *,
        base_url: str,
        public_id_override: str | None = None,
    ) -> dict[str, Any]:
        filename = options.filename_override or incoming.filename
        inspected = self.inspect(incoming, requested_type, filename)
        if options.allowed_formats and inspected.format not in options.allowed_formats:
            shown = inspected.format or "unknown"
            raise BadRequest(f"{inspected.resource_type.capitalize()} file format {shown} not allowed")
        if options.format and options.format != inspected.format:
            raise BadRequest("Converting the stored format on upload is not supported by this server")
        naming = resolve_naming(options.naming(filename, inspected.resource_type), env.folder_mode)
        if public_id_override:
            # A chunked upload named its asset on its first chunk; keep that name.
            naming = replace(naming, public_id=public_id_override,
                             display_name=options.display_name or public_id_override.rsplit("/", 1)[-1])
        identity = (env.id, inspected.resource_type, options.type, naming.public_id)

        if not options.overwrite:
            with self.db.read() as session:
                existing = find_asset(session, *identity)
                if existing is not None and not existing.placeholder:
                    return {**upload_response(existing, env, base_url), "existing": True}

        version_id = new_hex_id()
        key = blob_key_for(env.id, version_id)
        etag = incoming.md5()
        blob = StoredBlob(key=key, version_id=version_id, etag=etag, size=self.blobs.put(key, incoming.rewind()))
        try:
            try:
                return self._commit(env, identity, naming, inspected, options, filename, blob, base_url)
            except IntegrityError:
                # Another upload created the same public id between our check and our insert
                # (PostgreSQL); a second attempt sees it and overwrites or answers "existing".
                return self._commit(env, identity, naming, inspected, options, filename, blob, base_url)
        except BaseException:
            self.blobs.delete(blob.key)
            raise

    def _commit(self, env, identity, naming, inspected, options, filename, blob: StoredBlob,
                base_url: str) -> dict[str, Any]:  # noqa: ANN001
        now = utcnow()
        info = inspected.info
        moderation = [{"kind": options.moderation, "status": "pending"}] if options.moderation else []
        # The columns every upload sets, new asset or overwrite.
        columns: dict[str, Any] = {
            "version_id": blob.version_id, "format": inspected.format, "bytes": blob.size,
            "width": info.width if info else None, "height": info.height if info else None,
            "pages": info.pages if info else None, "duration": info.duration if info else None,
            "media_info": info.response_extras() if info else {}, "etag": blob.etag, "blob_key": blob.key,
            "asset_folder": naming.asset_folder, "display_name": naming.display_name,
            "original_filename": filename_stem(filename) or ("stream" if not filename else filename),
            "tags": options.tags, "context": options.context, "metadata_": options.metadata,
            "moderation": moderation,
            **moderation_columns(moderation),
            "access_mode": options.access_mode, "access_control": options.access_control, "placeholder": False,
            "notification_url": options.notification_url or None, "eager": options.eager,
            "uploaded_at": now, "updated_at": now,
        }
        discard_key: str | None = None
        with self.db.write() as session:
            # A new version is checked like a new asset: defaults apply, mandatory fields must be set.
            columns["metadata_"] = validated_metadata(session, env.id, {}, options.metadata, creating=True)
            existing_pk = find_asset_pk(session, *identity)
            if existing_pk is None:
                asset = self._insert(session, env, identity, columns, options.backup, now)
                overwritten = False
            else:
                asset = session.get(Asset, existing_pk)
                if not asset.placeholder and not options.overwrite:
                    self.blobs.delete(blob.key)
                    return {**upload_response(asset, env, base_url), "existing": True}
                overwritten = not asset.placeholder
                discard_key = self._replace(session, asset, columns, options.backup, now)
            body = upload_response(asset, env, base_url)
            if overwritten:
                body["overwritten"] = True
            if options.return_delete_token:
                token = new_delete_token()
                session.add(DeleteToken(token=token, environment_id=env.id, asset_pk=asset.id,
                                        expires_at=now + timedelta(seconds=self.settings.delete_token_ttl_seconds)))
                body["delete_token"] = token
            # The event is the response as Cloudinary's receivers know it (api_key included),
            # less the delete token: whoever holds that may delete the asset.
            event_payload = {k: v for k, v in body.items() if k != "delete_token"}
            outbox.record(session, environment_id=env.id, notification_type="upload", payload=event_payload,
                          api_key=env.api_key, asset_id=asset.asset_id, notification_url=options.notification_url,
                          facts={"upload_preset": options.upload_preset} if options.upload_preset else None)
        if discard_key:
            discard_original(self.blobs, discard_key)
        return body

    @staticmethod
    def _insert(session, env, identity, columns, backup: bool, now) -> Asset:  # noqa: ANN001
        """A new asset: one plain INSERT (the common case, kept cheap), and a detached row
        object with the same values for the response."""
        values = {
            "environment_id": env.id, "asset_id": new_hex_id(), "resource_type": identity[1], "type": identity[2],
            "public_id": identity[3], "version": next_version(), "backup": backup, "created_at": now, **columns,
        }
        table_values = {("metadata" if key == "metadata_" else key): value for key, value in values.items()}
        result = session.connection().execute(Asset.__table__.insert(), table_values)
        asset = Asset(id=result.inserted_primary_key[0], **values)
        index_inserted(session, asset)
        return asset

    @staticmethod
    def _replace(session, asset: Asset, columns: dict[str, Any], backup: bool, now) -> str | None:  # noqa: ANN001
        """Overwrite an asset in place; returns the old blob key when nothing keeps it."""
        discard_key = None
        if asset.blob_key:
            if asset.backup or backup:
                session.add(AssetVersion(
                    asset_pk=asset.id, version=asset.version, version_id=asset.version_id,
                    format=asset.format, bytes=asset.bytes, width=asset.width, height=asset.height,
                    etag=asset.etag, blob_key=asset.blob_key, created_at=now,
                ))
            else:
                discard_key = asset.blob_key
        asset.version = next_version(asset.version)
        asset.backup = asset.backup or backup
        for key, value in columns.items():
            setattr(asset, key, value)
        return discard_key
