"""Admin API over asset folders, and the folder search (HTTP Basic auth)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_call, admin_json

router = APIRouter()


@router.post("/v1_1/{cloud}/folders/search")
@router.get("/v1_1/{cloud}/folders/search")
async def search_folders(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.search.folders, env, values))


@router.get("/v1_1/{cloud}/folders")
async def root_folders(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.folders.children, env, "", values))


@router.get("/v1_1/{cloud}/folders/{path:path}")
async def subfolders(cloud: str, path: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.folders.children, env, path, values))


@router.post("/v1_1/{cloud}/folders/{path:path}")
async def create_folder(cloud: str, path: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.folders.create, env, path))


@router.put("/v1_1/{cloud}/folders/{path:path}")
async def rename_folder(cloud: str, path: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.folders.rename, env, path, values.get("to_folder")))


@router.delete("/v1_1/{cloud}/folders/{path:path}")
async def delete_folder(cloud: str, path: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.folders.delete, env, path))
