"""The Upload API: ``POST /v1_1/{cloud}/{resource_type}/{action}`` as the official SDKs call it.

This router only translates: it reads Cloudinary's wire encoding, checks the caller, picks
the source of the bytes and hands a typed command to a service in ``assets/``.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.params import Params, check_notification_urls, client_address, read_params
from medialoom.api.responses import CloudinaryJSON
from medialoom.assets.chunked import parse_content_range
from medialoom.assets.codecs import parse_bool
from medialoom.assets.explicit import explicit
from medialoom.assets.incoming import IncomingFile, from_data_uri, looks_remote, measure
from medialoom.assets.naming import resolve_naming
from medialoom.assets.options import (
    UNSIGNED_ALLOWED,
    UPLOAD_PARAMS,
    UploadOptions,
    check_known,
    merge_preset,
    parse_upload_options,
)
from medialoom.assets.presets import Preset
from medialoom.assets.store import find_asset
from medialoom.auth.environments import EnvironmentInfo
from medialoom.auth.requests import Caller, authenticate
from medialoom.delivery.download import signed_download
from medialoom.errors import BadRequest, NotFound, Unauthorized
from medialoom.net.outbound import FetchFailed, OutboundRefused, fetch
from medialoom.services import Services

router = APIRouter()

RESOURCE_TYPES = ("image", "video", "raw", "auto")
_MANAGE = {
    "destroy": {"public_id", "type", "invalidate", "notification_url", "batch_id"},
    "rename": {"from_public_id", "to_public_id", "to_type", "type", "overwrite", "invalidate", "context",
               "metadata", "notification_url", "batch_id"},
    "tags": {"tag", "public_ids", "command", "type", "notification_url", "batch_id"},
    "context": {"context", "public_ids", "command", "type", "notification_url", "batch_id"},
    "metadata": {"metadata", "public_ids", "type", "clear_invalid", "notification_url", "batch_id"},
}


def _services(request: Request) -> Services:
    return request.app.state.services


def _check_resource_type(resource_type: str, allowed: tuple[str, ...] = ("image", "video", "raw")) -> None:
    if resource_type not in allowed:
        raise NotFound(f"Invalid resource type {resource_type!r}")


async def _authenticated(request: Request, services: Services, cloud: str) -> tuple[EnvironmentInfo, Params, Caller]:
    address = client_address(request)
    services.client_limits.check_not_locked_out(address)  # before the body is read
    env = services.environment(cloud)
    max_field = int(max(services.settings.max_image_bytes, services.settings.max_raw_bytes) * 4 / 3) + 1024
    params = await read_params(request, max_field_bytes=max_field)
    try:
        try:
            caller = authenticate(env, params.values, request.headers.get("authorization"), now=time.time(),
                                  max_age=services.settings.signature_max_age_seconds)
        except Unauthorized:
            services.client_limits.failed_authentication(address)
            raise
        check_notification_urls(params.values, services.outbound_allow)
    except BaseException:
        await params.close()  # release the spooled upload now, not when it is collected
        raise
    return env, params, caller


@router.post("/v1_1/{cloud}/upload")
async def upload_auto(cloud: str, request: Request) -> Response:
    return await upload_api(cloud, "auto", "upload", request)


@router.post("/v1_1/{cloud}/delete_by_token")
async def delete_by_token_root(cloud: str, request: Request) -> Response:
    return await upload_api(cloud, "image", "delete_by_token", request)


@router.post("/v1_1/{cloud}/{resource_type}/{action}")
async def upload_api(cloud: str, resource_type: str, action: str, request: Request) -> Response:
    services = _services(request)
    env, params, caller = await _authenticated(request, services, cloud)
    try:
        if action == "upload" or action == "upload_chunked":
            if not caller.trusted:
                # Every request counts, each chunk of a chunked upload too: middle chunks of
                # sessions nobody finishes take disk just the same.
                services.client_limits.take_unsigned_upload(env.id, client_address(request))
            _check_resource_type(resource_type, RESOURCE_TYPES)
            return CloudinaryJSON(await _upload(services, env, caller, resource_type, params, request))
        if action == "delete_by_token":
            token = params.get("token") or ""
            return CloudinaryJSON(await run_in_threadpool(services.lifecycle.delete_by_token, env, token))
        if not caller.trusted:
            raise Unauthorized("Must supply api_key")
        _check_resource_type(resource_type)
        if action == "explicit":
            check_known(params.values, UPLOAD_PARAMS)
            values = {k: v for k, v in params.values.items() if k in UPLOAD_PARAMS}
            options = parse_upload_options(values, unsigned=False)  # validates every parameter given
            await run_in_threadpool(services.eager.check, env, options.eager)
            body = await run_in_threadpool(explicit, services.db, env, resource_type, params.get("type") or "upload",
                                           params.get("public_id") or "", values, base_url=services.base_url)
            if options.invalidate:
                await run_in_threadpool(_invalidate, services, env, body)
            body = await run_in_threadpool(services.eager.derive, env, body, options.eager,
                                           run_async=options.eager_async,
                                           notification_url=options.eager_notification_url or options.notification_url)
            return CloudinaryJSON(body)
        if action in _MANAGE:
            check_known(params.values, frozenset(_MANAGE[action]))
            return CloudinaryJSON(await run_in_threadpool(_manage, services, env, resource_type, action, params))
        raise NotFound(f"Unknown action {action!r}")
    finally:
        await params.close()


def _invalidate(services: Services, env: EnvironmentInfo, body: dict[str, Any]) -> None:
    """``invalidate``: the asset's derived files go, so that the next views render anew."""
    with services.db.read() as session:
        asset = find_asset(session, env.id, body["resource_type"], body["type"], body["public_id"])
    if asset is not None:
        services.producer.forget(env, asset)


def _manage(services: Services, env: EnvironmentInfo, resource_type: str, action: str, params: Params) -> dict[str, Any]:
    type_ = params.get("type") or "upload"
    notification_url = params.get("notification_url")
    if action == "destroy":
        public_id = params.get("public_id")
        if not public_id:
            raise BadRequest("Missing required parameter - public_id")
        return services.lifecycle.destroy(env, resource_type, type_, public_id, notification_url)
    if action == "rename":
        from_id, to_id = params.get("from_public_id"), params.get("to_public_id")
        if not from_id or not to_id:
            raise BadRequest("Missing required parameter - from_public_id and to_public_id")
        return services.lifecycle.rename(
            env, resource_type, type_, from_id, to_id, to_type=params.get("to_type"),
            overwrite=bool(parse_bool(params.get("overwrite"), "overwrite", False)),
            base_url=services.base_url, notification_url=notification_url)
    public_ids = params.get_list("public_ids")
    if action == "tags":
        return services.labels.tags(env, resource_type, type_, params.get("command") or "",
                                    params.get("tag"), public_ids, notification_url)
    if action == "context":
        return services.labels.context(env, resource_type, type_, params.get("command") or "",
                                       params.get("context"), public_ids, notification_url)
    return services.labels.metadata(env, resource_type, type_, params.get("metadata"), public_ids, notification_url)


async def _upload(services: Services, env: EnvironmentInfo, caller: Caller, resource_type: str,
                  params: Params, request: Request) -> dict[str, Any]:
    values = dict(params.values)
    preset: Preset | None = None
    preset_name = params.get("upload_preset")
    if not caller.trusted:
        if not preset_name:
            raise BadRequest("Upload preset must be specified when using unsigned upload")
        extra = sorted(name for name in values if name not in UNSIGNED_ALLOWED and name not in ("file",))
        if extra:
            raise BadRequest(
                f"{extra[0]} parameter is not allowed when using unsigned upload. Only "
                f"{','.join(sorted(UNSIGNED_ALLOWED))} parameters are allowed.")
    if preset_name:
        preset = await run_in_threadpool(_preset_or_error, services, env, preset_name)
        if not caller.trusted and not preset.unsigned:
            raise BadRequest("Upload preset must be whitelisted for unsigned uploads")
    check_known(values, UPLOAD_PARAMS)
    merged = merge_preset(values, preset.upload_values()) if preset else values
    disallow = bool(preset and preset.settings.get("disallow_public_id"))
    options = parse_upload_options(merged, unsigned=not caller.trusted, disallow_public_id=disallow)

    content_range = request.headers.get("content-range")
    incoming = await _incoming(services, params, resource_type)
    await run_in_threadpool(services.eager.check, env, options.eager)
    if content_range:
        body = await run_in_threadpool(_chunk, services, env, options, resource_type, incoming,
                                       content_range, request.headers.get("x-unique-upload-id") or "")
        if body.get("done") is False:
            return body
    else:
        body = await run_in_threadpool(services.uploader.upload, env, incoming, options, resource_type,
                                       base_url=services.base_url)
    return await run_in_threadpool(services.eager.derive, env, body, options.eager, run_async=options.eager_async,
                                   notification_url=options.eager_notification_url or options.notification_url)


def _preset_or_error(services: Services, env: EnvironmentInfo, name: str) -> Preset:
    try:
        return services.presets.get(env, name)
    except NotFound as error:
        raise BadRequest(f"Upload preset not found: {name}") from error


async def _incoming(services: Services, params: Params, resource_type: str) -> IncomingFile:
    settings = services.settings
    if params.upload is not None:
        file = params.upload.file
        return IncomingFile(file=file, size=measure(file), filename=params.upload.filename or "")
    source = params.get("file")
    if not source:
        raise BadRequest("Missing required parameter - file")
    limit = services.uploader.size_limit(resource_type)
    if source.startswith("data:"):
        return from_data_uri(source, limit)
    if looks_remote(source):
        try:
            fetched = await run_in_threadpool(
                fetch, source, allow=services.outbound_allow, max_bytes=limit,
                timeout=settings.fetch_timeout_seconds, max_redirects=settings.fetch_max_redirects)
        except OutboundRefused as error:
            raise BadRequest(str(error)) from error
        except FetchFailed as error:
            raise BadRequest(f"Error in loading {source} - {error}") from error
        return IncomingFile(file=fetched.file, size=fetched.size, filename=fetched.filename)
    raise BadRequest("Invalid file parameter: expected a file, an http(s) URL or a data URI")


def _chunk(services: Services, env: EnvironmentInfo, options: UploadOptions, resource_type: str,
           incoming: IncomingFile, content_range_header: str, upload_id: str) -> dict[str, Any]:
    if not upload_id:
        raise BadRequest("X-Unique-Upload-Id header is required with Content-Range")
    content_range = parse_content_range(content_range_header)
    public_id = options.public_id or None
    if public_id is None:
        # Name the asset on the first chunk so that every chunk can answer with its public id.
        kind = "raw" if resource_type == "raw" else "image"
        naming = resolve_naming(options.naming(incoming.filename, kind), env.folder_mode)
        public_id = naming.public_id
    outcome = services.chunks.receive(env, upload_id, content_range, incoming, public_id)
    if not outcome.done:
        return {"done": False, "bytes": outcome.received_bytes, "public_id": outcome.public_id,
                "resource_type": resource_type if resource_type != "auto" else "raw", "type": options.type,
                "upload_id": upload_id}
    assembled = outcome.assembled
    assert assembled is not None and outcome.session_id is not None
    assembled.filename = incoming.filename
    try:
        return services.uploader.upload(env, assembled, options, resource_type, base_url=services.base_url,
                                        public_id_override=outcome.public_id)
    finally:
        assembled.file.close()
        services.chunks.finish(outcome.session_id)


@router.get("/v1_1/{cloud}/{resource_type}/download")
async def download(cloud: str, resource_type: str, request: Request) -> Response:
    services = _services(request)
    env, params, caller = await _authenticated(request, services, cloud)
    try:
        if not caller.trusted:
            raise Unauthorized("Must supply api_key")
        _check_resource_type(resource_type)
        return await run_in_threadpool(signed_download, request, services, env, resource_type, params)
    finally:
        await params.close()
