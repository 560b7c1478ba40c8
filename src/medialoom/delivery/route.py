"""``GET /{cloud}/{resource_type}/{type}/...``: deliver stored originals.

Public (``upload``) assets are open to anyone. ``private`` and ``authenticated`` assets, and
assets whose access mode is authenticated, are delivered only with a valid ``s--SIG--``
segment. Transformations arrive with the delivery engine (a later issue); until then a URL
that asks for one is answered with a clear 400.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from medialoom.assets.store import find_asset
from medialoom.auth.signing import url_signature_matches
from medialoom.db.models import Asset
from medialoom.delivery.respond import blob_response, delivery_error
from medialoom.delivery.urls import parse_delivery_path

_FORMAT_ALIASES = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff"}


def _lookup(services, env_id: int, resource_type: str, type_: str, source: str) -> tuple[Asset | None, str]:  # noqa: ANN001
    """Find the asset a URL names; returns it and the extension that was asked for."""
    with services.db.read() as session:
        if resource_type == "raw":
            return find_asset(session, env_id, "raw", type_, source), ""
        if "." in source.rsplit("/", 1)[-1]:
            public_id, extension = source.rsplit(".", 1)
            asset = find_asset(session, env_id, resource_type, type_, public_id)
            if asset is not None:
                return asset, _FORMAT_ALIASES.get(extension.lower(), extension.lower())
        return find_asset(session, env_id, resource_type, type_, source), ""


async def deliver(request: Request) -> Response:
    services = request.app.state.services
    cloud = request.path_params["cloud"]
    resource_type = request.path_params["resource_type"]
    type_ = request.path_params["type"]
    if resource_type not in ("image", "video", "raw") or type_ not in ("upload", "private", "authenticated"):
        return delivery_error(404, "Resource not found")
    env = await run_in_threadpool(services.environments.by_cloud_name, cloud)
    if env is None:
        return delivery_error(404, f"Invalid cloud_name {cloud}")
    path = parse_delivery_path(request.path_params["rest"])
    if path is None:
        return delivery_error(404, "Resource not found")
    asset, extension = await run_in_threadpool(_lookup, services, env.id, resource_type, type_, path.source)
    if asset is None or asset.placeholder or not asset.blob_key:
        return delivery_error(404, "Resource not found")
    if asset.moderation and asset.moderation[-1].get("status") == "rejected":
        return delivery_error(404, "Resource was rejected by moderation")
    needs_signature = type_ != "upload" or asset.access_mode == "authenticated"
    if needs_signature:
        if path.signature is None:
            return delivery_error(401, "Signature required to deliver this resource")
        if not url_signature_matches(path.signed_part, path.signature, env.api_secret):
            return delivery_error(401, "Invalid signature")
    if path.transformations:
        return delivery_error(400, "Transformations are not supported by this server yet")
    if extension and extension != asset.format:
        return delivery_error(400, f"Format conversion to {extension} is not supported by this server yet")
    return blob_response(request, services.blobs, asset, private=needs_signature)
