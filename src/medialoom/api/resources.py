"""Admin API over assets: listings, one resource, update, tags (HTTP Basic auth)."""

from __future__ import annotations

import re
from functools import partial

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_call, admin_json
from medialoom.assets.bulk import DELETE_PARAMS
from medialoom.assets.options import check_known
from medialoom.assets.updates import UPDATE_PARAMS, update
from medialoom.errors import NotFound

router = APIRouter()

RESOURCE_TYPES = ("image", "video", "raw")
ASSET_ID = re.compile(r"^[0-9a-f]{32}$")
DELIVERY_TYPES = ("upload", "private", "authenticated")


def _check(resource_type: str, type_: str | None = None) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise NotFound(f"Invalid resource type {resource_type!r}")
    if type_ is not None and type_ not in DELIVERY_TYPES:
        raise NotFound(f"Invalid type {type_!r}")


@router.get("/v1_1/{cloud}/resources")
async def resource_types(cloud: str, request: Request) -> Response:
    await admin_call(request, cloud)
    return admin_json({"resource_types": list(RESOURCE_TYPES)})


@router.post("/v1_1/{cloud}/resources/search")
@router.get("/v1_1/{cloud}/resources/search")
async def search(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.search.resources, env, values, services.base_url))


@router.get("/v1_1/{cloud}/tags/{resource_type}")
async def list_tags(cloud: str, resource_type: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type)
    return admin_json(await run_in_threadpool(services.catalog.tags, env, resource_type, values))


@router.get("/v1_1/{cloud}/resources/{resource_type}/tags/{tag}")
async def resources_by_tag(cloud: str, resource_type: str, tag: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type)
    return admin_json(await run_in_threadpool(services.catalog.by_tag, env, resource_type, tag, values,
                                              services.base_url))


@router.get("/v1_1/{cloud}/resources/{resource_type}")
async def resources_of_type(cloud: str, resource_type: str, request: Request) -> Response:
    """Listing by type, and the other calls that share this URL shape: by asset folder, by
    asset ids, and one resource by its asset id."""
    services, env, values = await admin_call(request, cloud)
    catalog = services.catalog
    if resource_type == "by_asset_folder":
        call = partial(catalog.by_asset_folder, env, values, services.base_url)
    elif resource_type == "by_asset_ids":
        call = partial(catalog.by_asset_ids, env, values, services.base_url)
    elif resource_type not in RESOURCE_TYPES and ASSET_ID.match(resource_type):
        call = partial(catalog.resource_by_asset_id, env, resource_type, values, services.base_url)
    else:
        _check(resource_type)
        call = partial(catalog.list, env, resource_type, None, values, services.base_url)
    return admin_json(await run_in_threadpool(call))


@router.get("/v1_1/{cloud}/resources/{resource_type}/{type_}")
async def resources_of_delivery_type(cloud: str, resource_type: str, type_: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    if type_ == "context":
        _check(resource_type)
        return admin_json(await run_in_threadpool(services.catalog.by_context, env, resource_type, values,
                                                  services.base_url))
    _check(resource_type, type_)
    return admin_json(await run_in_threadpool(services.catalog.list, env, resource_type, type_, values,
                                              services.base_url))


@router.get("/v1_1/{cloud}/resources/{resource_type}/{type_}/{public_id:path}")
async def resource(cloud: str, resource_type: str, type_: str, public_id: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    if type_ == "moderations" and public_id.count("/") == 1:
        _check(resource_type)
        kind, status = public_id.split("/")
        return admin_json(await run_in_threadpool(services.catalog.by_moderation, env, resource_type, kind, status,
                                                  values, services.base_url))
    _check(resource_type, type_)
    return admin_json(await run_in_threadpool(services.catalog.resource, env, resource_type, type_, public_id,
                                              values, services.base_url))


@router.delete("/v1_1/{cloud}/resources/{resource_type}/tags/{tag}")
async def delete_by_tag(cloud: str, resource_type: str, tag: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type)
    check_known(values, DELETE_PARAMS)
    return admin_json(await run_in_threadpool(services.bulk.delete, env, resource_type, None, values, tag))


@router.delete("/v1_1/{cloud}/resources/{resource_type}/{type_}")
async def delete_resources(cloud: str, resource_type: str, type_: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type, type_)
    check_known(values, DELETE_PARAMS)
    return admin_json(await run_in_threadpool(services.bulk.delete, env, resource_type, type_, values))


@router.post("/v1_1/{cloud}/resources/{resource_type}/{type_}/restore")
async def restore(cloud: str, resource_type: str, type_: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type, type_)
    check_known(values, frozenset({"public_ids", "versions"}))

    def as_list(value: object) -> list[str]:
        return value if isinstance(value, list) else ([str(value)] if value else [])

    return admin_json(await run_in_threadpool(services.bulk.restore, env, resource_type, type_,
                                              as_list(values.get("public_ids")), as_list(values.get("versions")),
                                              services.base_url))


@router.post("/v1_1/{cloud}/resources/{resource_type}/{type_}/{public_id:path}")
async def update_resource(cloud: str, resource_type: str, type_: str, public_id: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    _check(resource_type, type_)
    check_known(values, UPDATE_PARAMS)
    return admin_json(await run_in_threadpool(update, services.db, env, resource_type, type_, public_id, values,
                                              base_url=services.base_url))
