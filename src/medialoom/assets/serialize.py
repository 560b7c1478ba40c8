"""Asset rows in the shapes the Cloudinary clients read (upload response, resource detail)."""

from __future__ import annotations

from typing import Any

from medialoom.auth.environments import EnvironmentInfo
from medialoom.auth.signing import response_signature, url_signature
from medialoom.db.models import Asset, DerivedFile
from medialoom.db.session import as_utc


def iso(value) -> str:  # noqa: ANN001
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(value) -> str | None:  # noqa: ANN001
    return iso(value) if value else None


def delivery_source(asset: Asset, format_: str | None = None) -> str:
    """``public_id.format`` (raw files keep their extension inside the public id)."""
    format_ = format_ or asset.format
    if asset.resource_type == "raw" or not format_:
        return asset.public_id
    return f"{asset.public_id}.{format_}"


def delivery_url(base_url: str, env: EnvironmentInfo, asset: Asset, transformation: str = "",
                 format_: str | None = None) -> str:
    source = delivery_source(asset, format_)
    to_sign = f"{transformation}/{source}" if transformation else source
    parts = [base_url, env.cloud_name, asset.resource_type, asset.type]
    if asset.type in ("private", "authenticated"):
        parts.append(f"s--{url_signature(to_sign, env.api_secret, algorithm=env.signature_algorithm)}--")
    if transformation:
        parts.append(transformation)
    parts.append(f"v{asset.version}")
    parts.append(source)
    return "/".join(parts)


def split_format(text: str) -> tuple[str, str]:
    """``c_fill,w_100/jpg`` is a transformation and a target format (the eager syntax);
    ``w_100/e_sepia`` is two components and ``w_100/`` has none."""
    head, slash, tail = text.rpartition("/")
    if slash and tail and "_" not in tail and "," not in tail:
        return head, tail.lower()
    return text.rstrip("/"), ""


def eager_entry(base_url: str, env: EnvironmentInfo, asset: Asset, eager: str) -> dict[str, Any]:
    transformation, fmt = split_format(eager)
    url = delivery_url(base_url, env, asset, transformation, fmt or None)
    entry: dict[str, Any] = {"transformation": transformation, "url": url, "secure_url": secure_variant(url)}
    if fmt:
        entry["format"] = fmt
    return entry


def derived_json(file: DerivedFile, asset: Asset, env: EnvironmentInfo, base_url: str) -> dict[str, Any]:
    """One derived file, as the resource detail and a transformation's detail list it."""
    url = delivery_url(base_url, env, asset, file.transformation, file.format)
    return {"transformation": file.transformation, "format": file.format, "bytes": file.bytes, "id": str(file.id),
            "public_id": asset.public_id, "resource_type": asset.resource_type, "type": asset.type,
            "url": url, "secure_url": secure_variant(url)}


def secure_variant(url: str) -> str:
    # Without TLS in front of the server the "secure" URL can only be the plain one.
    return url


def upload_response(asset: Asset, env: EnvironmentInfo, base_url: str) -> dict[str, Any]:
    url = delivery_url(base_url, env, asset)
    body: dict[str, Any] = {
        "asset_id": asset.asset_id,
        "public_id": asset.public_id,
        "version": asset.version,
        "version_id": asset.version_id,
        "signature": response_signature(asset.public_id, asset.version, env.api_secret, env.signature_algorithm),
    }
    if asset.width is not None:
        body["width"] = asset.width
        body["height"] = asset.height
    if asset.format:
        body["format"] = asset.format
    body.update(
        {
            "resource_type": asset.resource_type,
            "created_at": iso(asset.uploaded_at),
            "tags": sorted(asset.tags),
        }
    )
    if asset.pages and asset.pages > 1:
        body["pages"] = asset.pages
    body.update(
        {
            "bytes": asset.bytes,
            "type": asset.type,
            "etag": asset.etag,
            "placeholder": asset.placeholder,
            "url": url,
            "secure_url": secure_variant(url),
            "asset_folder": asset.asset_folder,
            "display_name": asset.display_name,
        }
    )
    if env.folder_mode == "fixed":
        body["folder"] = asset.asset_folder
    if asset.duration is not None:
        body["duration"] = asset.duration
    body.update(asset.media_info or {})
    if asset.context:
        body["context"] = {"custom": dict(asset.context)}
    if asset.metadata_:
        body["metadata"] = dict(asset.metadata_)
    if asset.moderation:
        body["moderation"] = list(asset.moderation)
    if asset.access_mode != "public":
        body["access_mode"] = asset.access_mode
    if asset.access_control:
        body["access_control"] = asset.access_control
    if asset.original_filename is not None:
        body["original_filename"] = asset.original_filename
    if asset.eager:
        body["eager"] = [eager_entry(base_url, env, asset, item) for item in asset.eager]
    body["api_key"] = env.api_key
    return body


def event_resource(asset: Asset) -> dict[str, Any]:
    """The short description of an asset used inside rename/delete/tag notifications."""
    return {
        "asset_id": asset.asset_id,
        "public_id": asset.public_id,
        "resource_type": asset.resource_type,
        "type": asset.type,
        "version": asset.version,
        "asset_folder": asset.asset_folder,
        "display_name": asset.display_name,
    }


def resource_json(asset: Asset, env: EnvironmentInfo, base_url: str, *, tags: bool = False, context: bool = False,
                  metadata: bool = False, moderation: bool = False, detail: bool = False) -> dict[str, Any]:
    """An asset as the Admin API lists and shows it (reference §4.3): optional parts only
    when asked for, empty tags and context left out."""
    url = delivery_url(base_url, env, asset)
    body: dict[str, Any] = {
        "asset_id": asset.asset_id,
        "public_id": asset.public_id,
        "format": asset.format,
        "version": asset.version,
        "resource_type": asset.resource_type,
        "type": asset.type,
        "created_at": iso(asset.created_at),
        "uploaded_at": iso(asset.uploaded_at),
        "bytes": asset.bytes,
        "backup_bytes": 0,
        "asset_folder": asset.asset_folder,
        "display_name": asset.display_name,
        "url": url,
        "secure_url": secure_variant(url),
        "status": "active",
        "access_mode": asset.access_mode,
        "access_control": asset.access_control or None,
        "etag": asset.etag,
    }
    if asset.width is not None and asset.height is not None:
        body.update(width=asset.width, height=asset.height)
        if asset.height:
            body["aspect_ratio"] = round(asset.width / asset.height, 5)
        body["pixels"] = asset.width * asset.height
    if env.folder_mode == "fixed":
        body["folder"] = asset.asset_folder
    if asset.placeholder:
        body["placeholder"] = True
    if (tags or detail) and asset.tags:
        body["tags"] = sorted(asset.tags)
    if (context or detail) and asset.context:
        body["context"] = {"custom": dict(asset.context)}
    if (metadata or detail) and asset.metadata_:
        body["metadata"] = dict(asset.metadata_)
    if (moderation or detail) and asset.moderation:
        body["moderation_kind"] = asset.moderation[-1]["kind"]
        body["moderation_status"] = asset.moderation[-1]["status"]
        if detail:
            body["moderation"] = list(asset.moderation)
    if detail:
        if asset.pages:
            body["pages"] = asset.pages
        if asset.duration is not None:
            body["duration"] = asset.duration
        body.update(asset.media_info or {})
        if asset.original_filename is not None:
            body["original_filename"] = asset.original_filename
        body["backup"] = asset.backup
        body["derived"] = []
        body["last_updated"] = {"updated_at": iso(asset.updated_at)}
    return body
