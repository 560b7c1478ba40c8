"""``GET /{cloud}/{resource_type}/{type}/...``: deliver originals and derived images.

Public (``upload``) assets are open to anyone. ``private`` and ``authenticated`` assets, and
assets whose access mode is authenticated, are delivered only with a valid ``s--SIG--``
segment. A URL with transformations, or with an extension other than the stored format, is
rendered once (``delivery.derived``) and served from storage afterwards. Every refusal is a
bare status with the reason in ``x-cld-error``, as on Cloudinary.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from medialoom.assets.store import find_asset
from medialoom.auth.signing import url_signature_matches
from medialoom.db.models import Asset
from medialoom.delivery.derived import derived_key
from medialoom.delivery.formats import FORMAT_ALIASES, choose_format
from medialoom.delivery.respond import blob_response, cache_control, delivery_error, stored_response
from medialoom.delivery.urls import DeliveryPath, parse_delivery_path
from medialoom.media.formats import mime_type_for
from medialoom.transform.grammar import Transformation, TransformationError, parse
from medialoom.transform.render import RenderError, check_supported

def _lookup(services, env_id: int, resource_type: str, type_: str, source: str) -> tuple[Asset | None, str]:  # noqa: ANN001
    """Find the asset a URL names; returns it and the extension that was asked for."""
    with services.db.read() as session:
        if resource_type == "raw":
            return find_asset(session, env_id, "raw", type_, source), ""
        if "." in source.rsplit("/", 1)[-1]:
            public_id, extension = source.rsplit(".", 1)
            asset = find_asset(session, env_id, resource_type, type_, public_id)
            if asset is not None:
                return asset, FORMAT_ALIASES.get(extension.lower(), extension.lower())
        return find_asset(session, env_id, resource_type, type_, source), ""


def _raw_rest(request: Request) -> str:
    """The path after ``/{cloud}/{resource_type}/{type}/`` as sent, before percent-decoding:
    text layers carry their own escapes (``%252C``), which the grammar undoes itself."""
    raw = request.scope.get("raw_path")
    if not raw:
        return request.path_params["rest"]
    parts = raw.decode("latin-1").split("/", 4)
    return parts[4] if len(parts) == 5 else ""


def _layer_bytes(services, env_id: int, public_id: str) -> bytes | None:  # noqa: ANN001
    with services.db.read() as session:
        asset = find_asset(session, env_id, "image", "upload", public_id)
    if asset is None or asset.placeholder or not asset.blob_key:
        return None
    return services.blobs.get(asset.blob_key)


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
    raw_path = parse_delivery_path(_raw_rest(request))
    if raw_path is None:
        return delivery_error(404, "Resource not found")
    path = DeliveryPath(raw_path.signature, raw_path.transformations, raw_path.version, unquote(raw_path.source))
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
    if not path.transformations and (not extension or extension == asset.format or resource_type == "raw"):
        return blob_response(request, services.blobs, asset, private=needs_signature)
    if resource_type != "image":
        return delivery_error(400, f"Transformations of {resource_type} files are not supported by this server yet")
    try:
        transformation = parse("/".join(path.transformations))
        _check_named(transformation)
        check_supported(transformation)
        choice = choose_format(transformation, extension, asset.format, request.headers.get("accept", ""))
    except TransformationError as error:
        return delivery_error(400, str(error))
    save_data = request.headers.get("save-data", "").lower() == "on" and _uses_auto_quality(transformation)
    key = derived_key(env.id, asset.version_id, transformation, choice.format, "save-data" if save_data else "")
    render = partial(_render, services, env.id, asset, transformation, choice.format, save_data)
    try:
        await run_in_threadpool(services.derivations.get_or_render, key, render)
    except TransformationError as error:
        return delivery_error(400, str(error))
    except RenderError as error:
        return delivery_error(400, f"Cannot transform this image: {error}")
    attachment = next((c for c in transformation.components if "attachment" in c.flags), None)
    name = None
    if attachment is not None:
        base = attachment.attachment_name or asset.public_id.rsplit("/", 1)[-1]
        name = f"{base}.{choice.format}".replace('"', "")
    return stored_response(request, services.blobs, key, size=None, content_type=mime_type_for(choice.format),
                           etag=key.rsplit("/", 1)[-1].split(".")[0][:32],
                           cache=cache_control(private=needs_signature, immutable=path.version is not None),
                           attachment_name=name, vary="Accept" if choice.negotiated else None)


def _render(services, env_id: int, asset: Asset, transformation: Transformation, format_: str,  # noqa: ANN001
            save_data: bool, renderer):  # noqa: ANN001, ANN202
    source = services.blobs.get(asset.blob_key)
    return renderer.render(source, transformation, format_, save_data=save_data,
                           layer_source=partial(_layer_bytes, services, env_id))


def _check_named(transformation: Transformation) -> None:
    for component in transformation.components:
        if component.named:
            name = component.named[0]
            raise TransformationError(f"Named transformation {name} not found", f"t_{name}")


def _uses_auto_quality(transformation: Transformation) -> bool:
    return any(c.quality is not None and c.quality.auto for c in transformation.components)
