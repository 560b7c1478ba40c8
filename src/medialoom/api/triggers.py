"""``/triggers`` (Admin API): global notification URLs per event type; and medialoom's own
delivery log of notifications, with manual redelivery (not a Cloudinary API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_call, admin_document_call, admin_json
from medialoom.errors import BadRequest

router = APIRouter()


@router.get("/v1_1/{cloud}/triggers")
async def list_triggers(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.list, env, values.get("event_type") or None))


@router.post("/v1_1/{cloud}/triggers")
async def create_trigger(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.create, env, values))


@router.put("/v1_1/{cloud}/triggers/{trigger_id}")
async def update_trigger(cloud: str, trigger_id: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.update, env, trigger_id, values))


@router.delete("/v1_1/{cloud}/triggers/{trigger_id}")
async def delete_trigger(cloud: str, trigger_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.delete, env, trigger_id))


@router.post("/v1_1/{cloud}/triggers/{trigger_id}/test")
async def test_trigger(cloud: str, trigger_id: str, request: Request) -> Response:
    # The SDK sends sample_data as a nested JSON object.
    services, env, document = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.test, env, trigger_id, document.get("sample_data")))


@router.get("/v1_1/{cloud}/notifications/deliveries")
async def delivery_log(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    try:
        limit = int(values.get("max_results") or 50)
        before = int(values["before"]) if values.get("before") else None
    except (TypeError, ValueError):
        raise BadRequest("max_results and before must be integers") from None
    return admin_json(await run_in_threadpool(
        lambda: services.endpoints.deliveries(env, status=values.get("status") or None,
                                              event_id=values.get("event_id") or None, limit=limit, before=before)))


@router.post("/v1_1/{cloud}/notifications/deliveries/{delivery_id}/redeliver")
async def redeliver(cloud: str, delivery_id: int, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.endpoints.redeliver, env, delivery_id))
