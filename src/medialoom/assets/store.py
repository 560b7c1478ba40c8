"""Lookups and small helpers shared by every asset operation."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from medialoom.db.models import Asset
from medialoom.db.session import Database
from medialoom.errors import NotFound
from medialoom.storage import BlobStore

def new_hex_id() -> str:
    return uuid.uuid4().hex


def blob_key_for(environment_id: int, version_id: str) -> str:
    # Derived from ids only: nothing a caller names ever becomes part of a storage path.
    return f"env/{environment_id}/originals/{version_id[:2]}/{version_id}"


def derived_prefix(environment_id: int, version_id: str) -> str:
    """Where the files rendered from one version of an original live (see delivery.derived)."""
    return f"env/{environment_id}/derived/{version_id}/"


def discard_original(blobs: BlobStore, key: str) -> None:
    """Delete an original's bytes and every file rendered from them."""
    blobs.delete(key)
    parts = key.split("/")
    if len(parts) == 5 and parts[0] == "env" and parts[2] == "originals":
        blobs.delete_prefix(derived_prefix(int(parts[1]), parts[4]))


def next_version(previous: int | None = None) -> int:
    """Versions are Unix seconds, strictly increasing per asset even within one second."""
    now = int(time.time())
    return max(now, (previous or 0) + 1)


def new_delete_token() -> str:
    return secrets.token_hex(20)


def _by_identity(*columns):  # noqa: ANN002, ANN202
    return select(*columns).where(
        Asset.environment_id == bindparam("environment_id"),
        Asset.resource_type == bindparam("resource_type"),
        Asset.type == bindparam("type"),
        Asset.public_id == bindparam("public_id"),
    )


# Built once: constructing a statement on every call costs more than running it.
_ASSET_BY_IDENTITY = _by_identity(Asset)
_ASSET_PK_BY_IDENTITY = _by_identity(Asset.id)
# Delivery reads an asset on every request, and only these columns, through the driver
# (``Database.first_row``): a full ORM object with its JSON documents, or even Core's result
# machinery, cost more than the rest of a cached answer.
_ASSET_TO_DELIVER = _by_identity(Asset.id, Asset.asset_id, Asset.public_id, Asset.resource_type, Asset.type,
                                 Asset.format, Asset.version, Asset.version_id, Asset.blob_key, Asset.bytes,
                                 Asset.etag, Asset.placeholder, Asset.moderation_status, Asset.access_mode,
                                 Asset.access_control)


class DeliveredAsset(NamedTuple):
    """What delivery knows of an asset."""

    id: int
    asset_id: str
    public_id: str
    resource_type: str
    type: str
    format: str
    version: int
    version_id: str
    blob_key: str | None
    bytes: int
    etag: str
    placeholder: bool
    moderation_status: str | None  # the latest moderation's
    access_mode: str
    access_control: list | None


def _identity(environment_id: int, resource_type: str, type_: str, public_id: str) -> dict[str, object]:
    return {"environment_id": environment_id, "resource_type": resource_type, "type": type_, "public_id": public_id}


def find_asset(session: Session, environment_id: int, resource_type: str, type_: str, public_id: str) -> Asset | None:
    return session.scalar(_ASSET_BY_IDENTITY, _identity(environment_id, resource_type, type_, public_id))


def find_asset_to_deliver(db: Database, environment_id: int, resource_type: str, type_: str,
                          public_id: str) -> DeliveredAsset | None:
    row = db.first_row(_ASSET_TO_DELIVER, _identity(environment_id, resource_type, type_, public_id))
    if row is None:
        return None
    asset = DeliveredAsset(*row)
    if isinstance(asset.access_control, str):  # SQLite hands JSON over as text
        asset = asset._replace(access_control=json.loads(asset.access_control))
    return asset._replace(placeholder=bool(asset.placeholder))


def find_asset_pk(session: Session, environment_id: int, resource_type: str, type_: str, public_id: str) -> int | None:
    return session.scalar(_ASSET_PK_BY_IDENTITY, _identity(environment_id, resource_type, type_, public_id))


def get_asset(session: Session, environment_id: int, resource_type: str, type_: str, public_id: str) -> Asset:
    asset = find_asset(session, environment_id, resource_type, type_, public_id)
    if asset is None or asset.placeholder:
        raise NotFound(f"Resource not found - {public_id}")
    return asset


def find_assets(session: Session, environment_id: int, resource_type: str, type_: str, public_ids: list[str]) -> list[Asset]:
    if not public_ids:
        return []
    rows = session.scalars(
        select(Asset).where(
            Asset.environment_id == environment_id,
            Asset.resource_type == resource_type,
            Asset.type == type_,
            Asset.public_id.in_(public_ids),
            Asset.placeholder.is_(False),
        )
    ).all()
    order = {public_id: index for index, public_id in enumerate(public_ids)}
    return sorted(rows, key=lambda asset: order[asset.public_id])
