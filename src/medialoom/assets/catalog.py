"""Reading assets back: listings with opaque cursors, lookups by tag or ids, one resource.

Listings are ordered by the row id (newest first unless ``direction`` asks otherwise); the
cursor is that id, encoded, so paging stays stable while uploads continue.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.sql import Select

from medialoom.assets.codecs import parse_bool, parse_max_results
from medialoom.assets.naming import normalize_folder
from medialoom.assets.serialize import derived_json, resource_json
from medialoom.assets.store import find_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.db.models import Asset, AssetLabel, AssetVersion, DerivedFile
from medialoom.db.session import Database
from medialoom.errors import BadRequest, NotFound
from medialoom.search.labels import clip

DEFAULT_MAX_RESULTS = 10
LIMIT_MAX_RESULTS = 500


@dataclass(frozen=True)
class ListingOptions:
    max_results: int = DEFAULT_MAX_RESULTS
    next_cursor: str | None = None
    ascending: bool = False
    with_tags: bool = False
    with_context: bool = False
    with_metadata: bool = False
    with_moderation: bool = False

    @classmethod
    def parse(cls, values: dict[str, Any]) -> ListingOptions:
        max_results = parse_max_results(values, DEFAULT_MAX_RESULTS, LIMIT_MAX_RESULTS)
        direction = str(values.get("direction") or "desc").lower()
        if direction not in ("asc", "desc", "1", "-1"):
            raise BadRequest("direction must be asc or desc")
        return cls(
            max_results=max_results,
            next_cursor=values.get("next_cursor") or None,
            ascending=direction in ("asc", "1"),
            with_tags=bool(parse_bool(values.get("tags"), "tags", False)),
            with_context=bool(parse_bool(values.get("context"), "context", False)),
            with_metadata=bool(parse_bool(values.get("metadata"), "metadata", False)),
            with_moderation=bool(parse_bool(values.get("moderations"), "moderations", False)),
        )


def encode_cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(text)
        return int(value)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest("Invalid next_cursor") from error


def has_label(field: str, value: str):  # noqa: ANN202 - a SQL expression
    """Assets with a label row ``field = value`` (an index lookup; see search.labels)."""
    return Asset.id.in_(select(AssetLabel.asset_pk).where(
        AssetLabel.environment_id == Asset.environment_id, AssetLabel.field == field,
        AssetLabel.value == clip(value)))


class Catalog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _page(self, env: EnvironmentInfo, query: Select, options: ListingOptions, base_url: str) -> dict[str, Any]:
        order = Asset.id.asc() if options.ascending else Asset.id.desc()
        if options.next_cursor:
            last = decode_cursor(options.next_cursor)
            query = query.where(Asset.id > last if options.ascending else Asset.id < last)
        with self.db.read() as session:
            rows = session.scalars(query.order_by(order).limit(options.max_results + 1)).all()
        body: dict[str, Any] = {"resources": [
            resource_json(asset, env, base_url, tags=options.with_tags, context=options.with_context,
                          metadata=options.with_metadata, moderation=options.with_moderation)
            for asset in rows[:options.max_results]]}
        if len(rows) > options.max_results:
            body["next_cursor"] = encode_cursor(rows[options.max_results - 1].id)
        return body

    def _base(self, env: EnvironmentInfo, resource_type: str) -> Select:
        return select(Asset).where(Asset.environment_id == env.id, Asset.resource_type == resource_type,
                                   Asset.placeholder.is_(False))

    def list(self, env: EnvironmentInfo, resource_type: str, type_: str | None, values: dict[str, Any],
             base_url: str) -> dict[str, Any]:
        options = ListingOptions.parse(values)
        query = self._base(env, resource_type)
        if type_:
            query = query.where(Asset.type == type_)
        public_ids = values.get("public_ids")
        if public_ids:
            ids = public_ids if isinstance(public_ids, list) else [public_ids]
            if len(ids) > 100:
                raise BadRequest("Too many public_ids (maximum is 100)")
            query = query.where(Asset.public_id.in_(ids))
        prefix = values.get("prefix")
        if prefix:
            # LIKE wildcards in the prefix are escaped so they match literally.
            escaped = str(prefix).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Asset.public_id.like(f"{escaped}%", escape="\\"))
        return self._page(env, query, options, base_url)

    def by_tag(self, env: EnvironmentInfo, resource_type: str, tag: str, values: dict[str, Any],
               base_url: str) -> dict[str, Any]:
        options = ListingOptions.parse(values)
        return self._page(env, self._base(env, resource_type).where(has_label("tags", tag)), options, base_url)

    def by_context(self, env: EnvironmentInfo, resource_type: str, values: dict[str, Any],
                   base_url: str) -> dict[str, Any]:
        options = ListingOptions.parse(values)
        key = values.get("key")
        if not key or not isinstance(key, str):
            raise BadRequest("Missing required parameter - key")
        value = values.get("value")
        if value:
            condition = has_label(f"context.{key}", str(value))
        else:
            condition = Asset.id.in_(select(AssetLabel.asset_pk).where(
                AssetLabel.environment_id == env.id, AssetLabel.field == f"context.{key}"))
        return self._page(env, self._base(env, resource_type).where(condition), options, base_url)

    def by_moderation(self, env: EnvironmentInfo, resource_type: str, kind: str, status: str,
                      values: dict[str, Any], base_url: str) -> dict[str, Any]:
        if status not in ("pending", "approved", "rejected"):
            raise BadRequest("Moderation status must be pending, approved or rejected")
        options = ListingOptions.parse(values)
        query = self._base(env, resource_type).where(Asset.moderation_kind == kind, Asset.moderation_status == status)
        return self._page(env, query, options, base_url)

    def by_asset_folder(self, env: EnvironmentInfo, values: dict[str, Any], base_url: str) -> dict[str, Any]:
        options = ListingOptions.parse(values)
        folder = normalize_folder(str(values.get("asset_folder") or ""), "Asset folder")
        query = select(Asset).where(Asset.environment_id == env.id, Asset.placeholder.is_(False),
                                    Asset.asset_folder == folder)
        return self._page(env, query, options, base_url)

    def by_asset_ids(self, env: EnvironmentInfo, values: dict[str, Any], base_url: str) -> dict[str, Any]:
        options = ListingOptions.parse(values)
        raw = values.get("asset_ids")
        ids = raw if isinstance(raw, list) else ([raw] if raw else [])
        if not ids:
            raise BadRequest("Missing required parameter - asset_ids")
        if len(ids) > 100:
            raise BadRequest("Too many asset_ids (maximum is 100)")
        query = select(Asset).where(Asset.environment_id == env.id, Asset.placeholder.is_(False),
                                    Asset.asset_id.in_(ids))
        return self._page(env, query, options, base_url)

    def resource_by_asset_id(self, env: EnvironmentInfo, asset_id: str, values: dict[str, Any],
                             base_url: str) -> dict[str, Any]:
        with self.db.read() as session:
            found = session.execute(select(Asset.resource_type, Asset.type, Asset.public_id).where(
                Asset.environment_id == env.id, Asset.asset_id == asset_id)).first()
        if found is None:
            raise NotFound(f"Resource not found - {asset_id}")
        return self.resource(env, *found, values, base_url)

    def resource(self, env: EnvironmentInfo, resource_type: str, type_: str, public_id: str,
                 values: dict[str, Any], base_url: str) -> dict[str, Any]:
        with self.db.read() as session:
            asset = find_asset(session, env.id, resource_type, type_, public_id)
            if asset is None:
                raise NotFound(f"Resource not found - {public_id}")
            # A destroyed asset with backups reads back as a placeholder until it is restored.
            body = resource_json(asset, env, base_url, tags=True, context=True, metadata=True, moderation=True,
                                 detail=True)
            if parse_bool(values.get("versions"), "versions", False):
                versions = session.scalars(select(AssetVersion).where(AssetVersion.asset_pk == asset.id)
                                           .order_by(AssetVersion.version.desc())).all()
                body["versions"] = [{"version_id": v.version_id, "version": v.version, "format": v.format,
                                     "size": v.bytes, "time": v.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "restorable": True} for v in versions]
            derived = session.scalars(select(DerivedFile).where(
                DerivedFile.asset_pk == asset.id, DerivedFile.version_id == asset.version_id)
                .order_by(DerivedFile.id)).all()
            body["derived"] = [derived_json(file, asset, env, base_url) for file in derived]
        return body

    def tags(self, env: EnvironmentInfo, resource_type: str, values: dict[str, Any]) -> dict[str, Any]:
        max_results = parse_max_results(values, DEFAULT_MAX_RESULTS, LIMIT_MAX_RESULTS)
        prefix = str(values.get("prefix") or "")
        after = values.get("next_cursor") or ""
        limit = max_results
        # Distinct tag rows in index order; the join keeps those of this resource type.
        query = (select(AssetLabel.value).distinct()
                 .join(Asset, Asset.id == AssetLabel.asset_pk)
                 .where(AssetLabel.environment_id == env.id, AssetLabel.field == "tags",
                        Asset.resource_type == resource_type, AssetLabel.value > after)
                 .order_by(AssetLabel.value).limit(limit + 1))
        if prefix:
            query = query.where(AssetLabel.value >= prefix, AssetLabel.value < prefix + "\U0010ffff")
        with self.db.read() as session:
            names = list(session.scalars(query))
        body: dict[str, Any] = {"tags": names[:limit]}
        if len(names) > limit:
            body["next_cursor"] = names[limit - 1]
        return body

