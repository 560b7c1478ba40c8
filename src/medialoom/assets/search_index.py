"""Keeps what search and listings read in step with the assets they describe.

Three things are derived from an asset's own columns: its label rows (tags, context, metadata;
see ``search.labels``), the folders it sits in, and the moderation columns (the latest entry of
``moderation``). Every change made through the ORM is caught at flush time, so no service can
forget it; the upload path, which inserts new assets with one Core statement for speed, calls
:func:`index_inserted` itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, event, inspect, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from medialoom.db.models import Asset, AssetLabel, Folder
from medialoom.assets.store import new_hex_id
from medialoom.search.labels import folder_ancestors, label_rows

_LABELLED = ("tags", "context", "metadata_")


def moderation_columns(moderation: list[dict[str, Any]]) -> dict[str, str | None]:
    last = moderation[-1] if moderation else {}
    return {"moderation_kind": last.get("kind"), "moderation_status": last.get("status")}


def write_labels(session: Session, asset: Asset, *, replace: bool = True) -> None:
    connection = session.connection()
    if replace:
        connection.execute(delete(AssetLabel).where(AssetLabel.asset_pk == asset.id))
    rows = label_rows(asset.tags or [], asset.context or {}, asset.metadata_ or {})
    if rows:
        connection.execute(insert(AssetLabel), [
            {"asset_pk": asset.id, "environment_id": asset.environment_id, "field": field, "value": value,
             "created_at": asset.created_at}
            for field, value in rows])


def ensure_folders(session: Session, environment_id: int, path: str, now: datetime) -> None:
    """Create ``path`` and its ancestors unless they exist (a no-op for the root)."""
    paths = folder_ancestors(path)
    if not paths:
        return
    connection = session.connection()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Folder).on_conflict_do_nothing(index_elements=["environment_id", "path"])
    connection.execute(statement, [{"environment_id": environment_id, "path": p, "external_id": new_hex_id(),
                                    "created_at": now} for p in paths])


def index_inserted(session: Session, asset: Asset) -> None:
    write_labels(session, asset, replace=False)
    ensure_folders(session, asset.environment_id, asset.asset_folder, asset.created_at)


def _changed(asset: Asset, name: str) -> bool:
    return inspect(asset).attrs[name].history.has_changes()


@event.listens_for(Session, "before_flush")
def _moderation_columns(session: Session, _context: Any, _instances: Any) -> None:
    for asset in (*session.new, *session.dirty):
        if isinstance(asset, Asset) and _changed(asset, "moderation"):
            for name, value in moderation_columns(asset.moderation or []).items():
                setattr(asset, name, value)


@event.listens_for(Session, "after_flush")
def _labels_and_folders(session: Session, _context: Any) -> None:
    for asset in (*session.new, *session.dirty):
        if not isinstance(asset, Asset) or asset in session.deleted:
            continue
        is_new = asset in session.new
        if is_new or any(_changed(asset, name) for name in _LABELLED):
            write_labels(session, asset, replace=not is_new)
        if is_new or _changed(asset, "asset_folder"):
            ensure_folders(session, asset.environment_id, asset.asset_folder or "", asset.updated_at)
