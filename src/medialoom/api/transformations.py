"""``/transformations``: named transformations and the strict-mode allow list; deleting
derived resources by id (Admin API).

Current SDKs name the transformation in a ``transformation`` parameter; older ones put it in
the path (``/transformations/<name>``). Both reach the same calls.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_call, admin_json
from medialoom.errors import BadRequest

router = APIRouter()


def _named(values: dict, path_name: str | None) -> str:
    name = path_name or values.get("transformation") or ""
    if not isinstance(name, str) or not name:
        raise BadRequest("Missing required parameter - transformation")
    return name


@router.get("/v1_1/{cloud}/transformations")
async def list_or_show(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    if values.get("transformation"):
        return admin_json(await run_in_threadpool(services.named.show, env, _named(values, None), services.base_url,
                                                  values))
    return admin_json(await run_in_threadpool(services.named.list, env, values))


@router.get("/v1_1/{cloud}/transformations/{name:path}")
async def show(cloud: str, name: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.named.show, env, name, services.base_url, values))


@router.post("/v1_1/{cloud}/transformations")
async def create(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.named.create, env, values))


@router.post("/v1_1/{cloud}/transformations/{name:path}")
async def create_in_path(cloud: str, name: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.named.create, env, {**values, "name": name}))


@router.put("/v1_1/{cloud}/transformations")
@router.put("/v1_1/{cloud}/transformations/{name:path}")
async def update(cloud: str, request: Request, name: str | None = None) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.named.update, env, _named(values, name), values))


@router.delete("/v1_1/{cloud}/transformations")
@router.delete("/v1_1/{cloud}/transformations/{name:path}")
async def delete(cloud: str, request: Request, name: str | None = None) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.named.delete, env, _named(values, name)))


@router.delete("/v1_1/{cloud}/derived_resources")
async def delete_derived_resources(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    ids = values.get("derived_resource_ids")
    ids = ids if isinstance(ids, list) else ([ids] if ids else [])
    if not ids or len(ids) > 100:
        raise BadRequest("derived_resource_ids takes 1 to 100 ids")
    deleted = await run_in_threadpool(services.producer.forget_by_ids, env, [str(i) for i in ids])
    return admin_json({"deleted": deleted})
