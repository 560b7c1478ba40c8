"""Admin API for structured metadata: fields, their datasources, and conditional rules."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.admin import admin_document_call, admin_json

router = APIRouter()
FIELDS = "/v1_1/{cloud}/metadata_fields"
RULES = "/v1_1/{cloud}/metadata_rules"


@router.get(FIELDS)
async def list_fields(cloud: str, request: Request) -> Response:
    services, env, _ = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.list_fields, env))


@router.post(FIELDS)
async def create_field(cloud: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.create_field, env, body))


@router.put(FIELDS + "/order")
async def order_fields(cloud: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.order_fields, env, body))


@router.get(FIELDS + "/{field_id}")
async def get_field(cloud: str, field_id: str, request: Request) -> Response:
    services, env, _ = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.get_field, env, field_id))


@router.put(FIELDS + "/{field_id}")
async def update_field(cloud: str, field_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.update_field, env, field_id, body))


@router.delete(FIELDS + "/{field_id}")
async def delete_field(cloud: str, field_id: str, request: Request) -> Response:
    services, env, _ = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.delete_field, env, field_id))


@router.put(FIELDS + "/{field_id}/datasource")
async def update_datasource(cloud: str, field_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.update_datasource, env, field_id, body))


@router.delete(FIELDS + "/{field_id}/datasource")
async def deactivate_datasource(cloud: str, field_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.set_datasource_state, env, field_id, body,
                                              "inactive"))


@router.post(FIELDS + "/{field_id}/datasource_restore")
async def restore_datasource(cloud: str, field_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.set_datasource_state, env, field_id, body, "active"))


@router.post(FIELDS + "/{field_id}/datasource/order")
async def order_datasource(cloud: str, field_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.order_datasource, env, field_id, body))


@router.get(RULES)
async def list_rules(cloud: str, request: Request) -> Response:
    services, env, _ = await admin_document_call(request, cloud)
    return admin_json({"metadata_rules": await run_in_threadpool(services.metadata.list_rules, env)})


@router.post(RULES)
async def create_rule(cloud: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.create_rule, env, body))


@router.put(RULES + "/{rule_id}")
async def update_rule(cloud: str, rule_id: str, request: Request) -> Response:
    services, env, body = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.update_rule, env, rule_id, body))


@router.delete(RULES + "/{rule_id}")
async def delete_rule(cloud: str, rule_id: str, request: Request) -> Response:
    services, env, _ = await admin_document_call(request, cloud)
    return admin_json(await run_in_threadpool(services.metadata.delete_rule, env, rule_id))
