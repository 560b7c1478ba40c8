"""Upload presets: named sets of upload parameters; unsigned presets enable browser uploads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from medialoom.assets.codecs import parse_bool
from medialoom.assets.options import UPLOAD_PARAMS, check_known, parse_upload_options
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import UploadPreset
from medialoom.db.session import Database, utcnow
from medialoom.errors import BadRequest, NotFound

# Preset attributes that are not upload parameters.
PRESET_ATTRIBUTES = frozenset({"name", "unsigned", "disallow_public_id", "live", "use_asset_folder_as_public_id_prefix"})
BOOLEAN_SETTINGS = frozenset(
    """overwrite unique_filename use_filename backup return_delete_token invalidate use_filename_as_display_name
    discard_original_filename eager_async async disallow_public_id live use_asset_folder_as_public_id_prefix
    unique_display_name faces colors exif image_metadata media_metadata phash quality_analysis""".split()
)


@dataclass(frozen=True)
class Preset:
    name: str
    unsigned: bool
    settings: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "unsigned": self.unsigned, "settings": dict(self.settings)}

    def upload_values(self) -> dict[str, Any]:
        """The settings as upload parameters (booleans in the wire form)."""
        values: dict[str, Any] = {}
        for key, value in self.settings.items():
            if key in PRESET_ATTRIBUTES and key != "use_asset_folder_as_public_id_prefix":
                continue
            values[key] = ("1" if value else "0") if isinstance(value, bool) else value
        return values


def _clean_settings(values: dict[str, Any]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key, value in values.items():
        if key in ("name", "unsigned", "timestamp", "api_key", "signature") or value in (None, ""):
            continue
        settings[key] = bool(parse_bool(value, key)) if key in BOOLEAN_SETTINGS else value
    check_known(settings, UPLOAD_PARAMS | PRESET_ATTRIBUTES)
    if "upload_preset" in settings:
        raise BadRequest("A preset cannot name another preset")
    # Reject settings an upload would refuse, now rather than at every upload.
    parse_upload_options({k: ("1" if v is True else "0" if v is False else v) for k, v in settings.items()
                          if k not in PRESET_ATTRIBUTES}, unsigned=False)
    return settings


def _row_to_preset(row: UploadPreset) -> Preset:
    return Preset(name=row.name, unsigned=row.unsigned, settings=dict(row.settings))


class Presets:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, env: EnvironmentInfo, name: str) -> Preset:
        with self.db.read() as session:
            row = session.scalar(select(UploadPreset).where(
                UploadPreset.environment_id == env.id, UploadPreset.name == name))
            if row is None:
                raise NotFound(f"Upload preset {name} not found")
            return _row_to_preset(row)

    def list(self, env: EnvironmentInfo, max_results: int = 10, next_cursor: str | None = None) -> dict[str, Any]:
        max_results = max(1, min(max_results, 500))
        with self.db.read() as session:
            query = select(UploadPreset).where(UploadPreset.environment_id == env.id).order_by(UploadPreset.name)
            if next_cursor:
                query = query.where(UploadPreset.name > next_cursor)
            rows = session.scalars(query.limit(max_results + 1)).all()
        body: dict[str, Any] = {"presets": [_row_to_preset(row).as_json() for row in rows[:max_results]]}
        if len(rows) > max_results:
            body["next_cursor"] = rows[max_results - 1].name
        return body

    def create(self, env: EnvironmentInfo, values: dict[str, Any]) -> dict[str, Any]:
        name = str(values.get("name") or "")
        unsigned = bool(parse_bool(values.get("unsigned"), "unsigned", False))
        if not name:
            raise BadRequest("Missing required parameter - name")
        if len(name) > 255 or any(char in name for char in "/?#&%\\<>") or name != name.strip():
            raise BadRequest(f"Invalid preset name {name!r}")
        settings = _clean_settings(values)
        now = utcnow()
        with self.db.write() as session:
            exists = session.scalar(select(UploadPreset.id).where(
                UploadPreset.environment_id == env.id, UploadPreset.name == name))
            if exists is not None:
                raise BadRequest(f"Upload preset {name} already exists")
            session.add(UploadPreset(environment_id=env.id, name=name, unsigned=unsigned, settings=settings,
                                     created_at=now, updated_at=now))
        return {"message": "created", "name": name}

    def update(self, env: EnvironmentInfo, name: str, values: dict[str, Any]) -> dict[str, Any]:
        with self.db.write() as session:
            row = session.scalar(select(UploadPreset).where(
                UploadPreset.environment_id == env.id, UploadPreset.name == name))
            if row is None:
                raise NotFound(f"Upload preset {name} not found")
            if "unsigned" in values:
                row.unsigned = bool(parse_bool(values.get("unsigned"), "unsigned", False))
            row.settings = _clean_settings({**row.settings, **values})
            row.updated_at = utcnow()
        return {"message": "updated"}

    def delete(self, env: EnvironmentInfo, name: str) -> dict[str, Any]:
        with self.db.write() as session:
            row = session.scalar(select(UploadPreset).where(
                UploadPreset.environment_id == env.id, UploadPreset.name == name))
            if row is None:
                raise NotFound(f"Upload preset {name} not found")
            session.delete(row)
        return {"message": "deleted"}
