"""Asset folders: list, create, rename and delete (Admin API ``/folders``).

A folder exists once it is created or an asset is placed in it (``assets.search_index``);
renaming moves every asset and subfolder with it, and a folder that still holds assets, directly
or below, cannot be deleted. Each change writes its event (create_folder, delete_folder,
move_or_rename_asset_folder).
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import delete, func, or_, select

from medialoom.assets.codecs import parse_max_results
from medialoom.assets.naming import normalize_folder
from medialoom.assets.search_index import ensure_folders
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, Folder
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound
from medialoom.events import outbox

DEFAULT_MAX_RESULTS = 2000
LIMIT_MAX_RESULTS = 2000


def _below(column: Any, path: str) -> Any:
    """``column`` is ``path`` or lies under it, as a byte-wise range (see models.py)."""
    return or_(column == path, (column > path + "/") & (column < path + "/\U0010ffff"))


def _folder_json(folder: Folder) -> dict[str, Any]:
    return {"name": folder.path.rsplit("/", 1)[-1], "path": folder.path, "external_id": folder.external_id}


def _cursor(path: str) -> str:
    return base64.urlsafe_b64encode(path.encode()).decode().rstrip("=")


def _after(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        raise BadRequest("Invalid next_cursor") from None


def _path(value: str) -> str:
    path = normalize_folder(value, "Folder")
    if not path:
        raise BadRequest("Folder path is required")
    return path


class Folders:
    def __init__(self, db: Database) -> None:
        self.db = db

    def children(self, env: EnvironmentInfo, parent: str, values: dict[str, Any]) -> dict[str, Any]:
        """The folders directly inside ``parent`` ('' for the root), by path, with a cursor."""
        max_results = parse_max_results(values, DEFAULT_MAX_RESULTS, LIMIT_MAX_RESULTS)
        limit = max_results
        parent = normalize_folder(parent, "Folder")
        with self.db.read() as session:
            if parent and session.scalar(select(Folder.id).where(Folder.environment_id == env.id,
                                                                 Folder.path == parent)) is None:
                raise NotFound(f"Can't find folder with path {parent}")
            scope = [Folder.environment_id == env.id]
            if parent:
                scope += [Folder.path > parent + "/", Folder.path < parent + "/\U0010ffff"]
            # Direct children only: nothing after the parent's slash contains another slash.
            depth = parent.count("/") + 1 if parent else 0
            slashes = func.length(Folder.path) - func.length(func.replace(Folder.path, "/", ""))
            scope.append(slashes == depth)
            total = session.scalar(select(func.count()).select_from(Folder).where(*scope))
            query = select(Folder).where(*scope)
            if values.get("next_cursor"):
                query = query.where(Folder.path > _after(str(values["next_cursor"])))
            rows = session.scalars(query.order_by(Folder.path).limit(limit + 1)).all()
        body: dict[str, Any] = {"folders": [_folder_json(row) for row in rows[:limit]], "total_count": total,
                                "next_cursor": _cursor(rows[limit - 1].path) if len(rows) > limit else None}
        return body

    def create(self, env: EnvironmentInfo, path: str) -> dict[str, Any]:
        path = _path(path)
        with self.db.write() as session:
            existed = session.scalar(select(Folder.id).where(Folder.environment_id == env.id, Folder.path == path))
            ensure_folders(session, env.id, path, utcnow())
            if existed is None:
                outbox.record(session, environment_id=env.id, notification_type="create_folder",
                              payload={"folder_path": path, "folder_name": path.rsplit("/", 1)[-1]},
                              api_key=env.api_key)
        return {"success": True, "path": path, "name": path.rsplit("/", 1)[-1]}

    def rename(self, env: EnvironmentInfo, path: str, to_folder: str | None) -> dict[str, Any]:
        if env.folder_mode != "dynamic":
            raise BadRequest("Folders can only be renamed in dynamic folder mode")
        source, target = _path(path), _path(to_folder or "")
        if target == source or target.startswith(source + "/"):
            raise BadRequest(f"Cannot move folder {source} into itself")
        now = utcnow()
        with self.db.write() as session:
            folders = session.scalars(select(Folder).where(Folder.environment_id == env.id,
                                                           _below(Folder.path, source))).all()
            if not folders:
                raise NotFound(f"Can't find folder with path {source}")
            if session.scalar(select(Folder.id).where(Folder.environment_id == env.id, _below(Folder.path, target))):
                raise BadRequest(f"Folder {target} already exists")
            for folder in folders:
                folder.path = target + folder.path[len(source):]
            session.flush()
            ensure_folders(session, env.id, target.rsplit("/", 1)[0] if "/" in target else "", now)
            for asset in session.scalars(select(Asset).where(Asset.environment_id == env.id,
                                                             _below(Asset.asset_folder, source))):
                asset.asset_folder = target + asset.asset_folder[len(source):]
                asset.updated_at = now
            outbox.record(session, environment_id=env.id, notification_type="move_or_rename_asset_folder",
                          payload={"from_path": source, "to_path": target, "status": "completed"},
                          api_key=env.api_key)
        return {"from": {"name": source.rsplit("/", 1)[-1], "path": source},
                "to": {"name": target.rsplit("/", 1)[-1], "path": target}}

    def delete(self, env: EnvironmentInfo, path: str) -> dict[str, Any]:
        path = _path(path)
        with self.db.write() as session:
            paths = session.scalars(select(Folder.path).where(Folder.environment_id == env.id,
                                                              _below(Folder.path, path)).order_by(Folder.path)).all()
            if not paths:
                raise NotFound(f"Can't find folder with path {path}")
            holding = session.scalar(select(func.count()).select_from(Asset).where(
                Asset.environment_id == env.id, _below(Asset.asset_folder, path)))
            if holding:
                raise BadRequest(f"Folder is not empty: {path} holds {holding} asset(s)")
            session.execute(delete(Folder).where(Folder.environment_id == env.id, _below(Folder.path, path)))
            for deleted in paths:
                outbox.record(session, environment_id=env.id, notification_type="delete_folder",
                              payload={"folder_path": deleted, "folder_name": deleted.rsplit("/", 1)[-1]},
                              api_key=env.api_key)
        return {"deleted": list(paths)}
