"""The flows API (medialoom's own, under the environment's Admin credentials): definitions and
their versions, enabling, manual runs and the run history. Bodies are JSON documents.

    GET    /v1_1/{cloud}/flows                       list
    POST   /v1_1/{cloud}/flows                       {"document": {...}, "enabled": false, "note": ""}
    GET    /v1_1/{cloud}/flows/{flow_id}?version=N   one flow (the current version by default)
    PUT    /v1_1/{cloud}/flows/{flow_id}             {"document": {...}, "note": ""}: a new version
    DELETE /v1_1/{cloud}/flows/{flow_id}
    POST   /v1_1/{cloud}/flows/{flow_id}/enable | /disable | /duplicate {"name": ...}
    GET    /v1_1/{cloud}/flows/{flow_id}/versions
    POST   /v1_1/{cloud}/flows/{flow_id}/runs        {"inputs": {...}}: a manual run
    GET    /v1_1/{cloud}/flows/{flow_id}/runs        that flow's runs, newest first
    GET    /v1_1/{cloud}/flow_runs?status=&flow_id=&max_results=&before=
    GET    /v1_1/{cloud}/flow_runs/{run_id}          a run with every block attempt
    POST   /v1_1/{cloud}/flow_runs/{run_id}/rerun    {"from": "start" | "failed"}: on the current version
    GET    /v1_1/{cloud}/inbox?unread=true           the in-app inbox (flow messages, failed runs)
    POST   /v1_1/{cloud}/inbox/{id}/read
    POST   /v1_1/{cloud}/flows/hooks/{token}         a catch-webhook trigger's URL (no Basic auth)
    GET    /v1_1/{cloud}/flow_variables              environment variables and secrets (values of
    PUT    /v1_1/{cloud}/flow_variables/{name}       secrets never shown) {"value": "...", "secret": true}
    DELETE /v1_1/{cloud}/flow_variables/{name}
    GET    /v1_1/{cloud}/flow_catalog                block and trigger types, with parameter schemas
    GET    /v1_1/{cloud}/flow_schema                 the flow document's JSON Schema
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_call, admin_document_call, admin_json
from medialoom.api.responses import CloudinaryJSON
from medialoom.errors import BadRequest, PayloadTooLarge
from medialoom.flows.catalog import describe_catalog
from medialoom.flows.definition import json_schema
from medialoom.flows.triggers import TRIGGERS

router = APIRouter()

MAX_WEBHOOK_BYTES = 1024 * 1024  # the most any webhook trigger takes; each sets its own limit below it


def _integer(values: dict, name: str, default: int | None) -> int | None:
    raw = values.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer") from None


@router.post("/v1_1/{cloud}/flows/hooks/{token}")
async def catch_webhook(cloud: str, token: str, request: Request) -> Response:
    services = request.app.state.services
    env = services.environment(cloud)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge(f"The body is larger than a webhook takes ({MAX_WEBHOOK_BYTES} bytes)")
    return CloudinaryJSON(await run_in_threadpool(services.flows.receive_webhook, env, token,
                                                  dict(request.headers), bytes(body)))


@router.get("/v1_1/{cloud}/flow_variables")
async def list_variables(cloud: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flow_variables.list, env))


@router.put("/v1_1/{cloud}/flow_variables/{name}")
async def set_variable(cloud: str, name: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flow_variables.set, env, name, body.get("value"),
                                              body.get("secret") is True))


@router.delete("/v1_1/{cloud}/flow_variables/{name}")
async def delete_variable(cloud: str, name: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flow_variables.delete, env, name))


@router.get("/v1_1/{cloud}/flow_catalog")
async def catalog(cloud: str, request: Request) -> Response:
    await admin_call(request, cloud)
    return admin_json({"blocks": describe_catalog(), "triggers": [trigger.describe() for trigger in TRIGGERS.values()]})


@router.get("/v1_1/{cloud}/flow_schema")
async def schema(cloud: str, request: Request) -> Response:
    await admin_call(request, cloud)
    return admin_json(json_schema())


@router.get("/v1_1/{cloud}/flows")
async def list_flows(cloud: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.list, env))


@router.post("/v1_1/{cloud}/flows")
async def create_flow(cloud: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(
        lambda: services.flows.create(env, body.get("document"), enabled=body.get("enabled") is True,
                                      note=str(body.get("note") or ""))))


@router.get("/v1_1/{cloud}/flows/{flow_id}")
async def get_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    version = _integer(values, "version", None)
    return admin_json(await run_in_threadpool(services.flows.get, env, flow_id, version))


@router.put("/v1_1/{cloud}/flows/{flow_id}")
async def update_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(
        lambda: services.flows.update(env, flow_id, body.get("document"), note=str(body.get("note") or ""))))


@router.delete("/v1_1/{cloud}/flows/{flow_id}")
async def delete_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.delete, env, flow_id))


@router.post("/v1_1/{cloud}/flows/{flow_id}/enable")
async def enable_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.set_enabled, env, flow_id, True))


@router.post("/v1_1/{cloud}/flows/{flow_id}/disable")
async def disable_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.set_enabled, env, flow_id, False))


@router.post("/v1_1/{cloud}/flows/{flow_id}/duplicate")
async def duplicate_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.duplicate, env, flow_id, body.get("name") or None))


@router.get("/v1_1/{cloud}/flows/{flow_id}/versions")
async def flow_versions(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.versions, env, flow_id))


@router.post("/v1_1/{cloud}/flows/{flow_id}/runs")
async def run_flow(cloud: str, flow_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.run, env, flow_id, body.get("inputs")))


@router.get("/v1_1/{cloud}/flows/{flow_id}/runs")
async def flow_runs(cloud: str, flow_id: str, request: Request) -> Response:
    return await _runs(cloud, request, flow_id)


@router.get("/v1_1/{cloud}/flow_runs")
async def all_runs(cloud: str, request: Request) -> Response:
    return await _runs(cloud, request, None)


async def _runs(cloud: str, request: Request, flow_id: str | None) -> Response:
    services, env, values = await admin_call(request, cloud)
    limit = _integer(values, "max_results", 50)
    before = _integer(values, "before", None)
    return admin_json(await run_in_threadpool(
        lambda: services.flows.runs(env, flow_id=flow_id or values.get("flow_id") or None,
                                    status=values.get("status") or None, limit=limit, before=before)))


@router.get("/v1_1/{cloud}/flow_runs/{run_id}")
async def run_detail(cloud: str, run_id: str, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.run_detail, env, run_id))


@router.post("/v1_1/{cloud}/flow_runs/{run_id}/rerun")
async def rerun(cloud: str, run_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flows.rerun, env, run_id, body.get("from") or "start"))


@router.get("/v1_1/{cloud}/inbox")
async def inbox(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    unread = str(values.get("unread") or "").lower() in ("1", "true")
    limit = _integer(values, "max_results", 50)
    before = _integer(values, "before", None)
    return admin_json(await run_in_threadpool(
        lambda: services.flow_engine.hooks.inbox.list(env, unread=unread, limit=limit, before=before)))


@router.post("/v1_1/{cloud}/inbox/{notification_id}/read")
async def mark_read(cloud: str, notification_id: int, request: Request) -> Response:
    services, env, _values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.flow_engine.hooks.inbox.mark_read, env, notification_id))
