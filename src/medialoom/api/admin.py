"""The Admin API endpoints of the upload side: presets, config and ping (HTTP Basic auth).

Every Admin response carries the ``X-FeatureRateLimit-*`` headers the SDKs read.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from contextvars import ContextVar
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from medialoom.api.params import check_notification_urls, client_address, read_params
from medialoom.api.responses import CloudinaryJSON
from medialoom.assets.codecs import parse_bool
from medialoom.assets.usage import usage
from medialoom.auth.environments import EnvironmentInfo
from medialoom.auth.rate_limits import WINDOW_SECONDS, Budget
from medialoom.auth.requests import check_basic_auth
from medialoom.errors import BadRequest, RateLimited, Unauthorized
from medialoom.services import Services

router = APIRouter()

_MAX_ADMIN_BODY = 1024 * 1024
# The budget counted for this request, for the headers of its answer (success or error).
_budget: ContextVar[Budget | None] = ContextVar("admin_budget", default=None)


def rate_limit_headers() -> dict[str, str]:
    budget = _budget.get()
    if budget is None:
        return {}
    return {
        "X-FeatureRateLimit-Limit": str(budget.limit),
        "X-FeatureRateLimit-Remaining": str(budget.remaining),
        "X-FeatureRateLimit-Reset": email.utils.formatdate(budget.reset_at, usegmt=True),
    }


def admin_json(body: Any) -> Response:
    return CloudinaryJSON(body, headers=rate_limit_headers())


async def _authorize(request: Request, cloud: str) -> tuple[Services, EnvironmentInfo]:
    services: Services = request.app.state.services
    address = client_address(request)
    services.client_limits.check_not_locked_out(address)
    env = services.environment(cloud)
    try:
        check_basic_auth(env, request.headers.get("authorization"))
    except Unauthorized:
        services.client_limits.failed_authentication(address)
        raise
    try:
        _budget.set(await run_in_threadpool(services.rate_limits.take, env.id))
    except RateLimited:
        limit = services.rate_limits.limit
        _budget.set(Budget(limit, 0, int(time.time()) // WINDOW_SECONDS * WINDOW_SECONDS + WINDOW_SECONDS))
        raise
    return services, env


async def admin_call(request: Request, cloud: str) -> tuple[Services, EnvironmentInfo, dict[str, Any]]:
    services, env = await _authorize(request, cloud)
    params = await read_params(request, max_field_bytes=_MAX_ADMIN_BODY)
    await params.close()
    check_notification_urls(params.values, services.outbound_allow)
    return services, env, params.values


async def admin_document_call(request: Request, cloud: str) -> tuple[Services, EnvironmentInfo, dict[str, Any]]:
    """For endpoints that take nested JSON documents (metadata fields and rules): the body
    as sent, not flattened into form-style parameters."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return await admin_call(request, cloud)
    services, env = await _authorize(request, cloud)
    body = await request.body()
    if len(body) > _MAX_ADMIN_BODY:
        raise BadRequest("Request body is too large")
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError:
        raise BadRequest("Malformed JSON body") from None
    if not isinstance(document, dict):
        raise BadRequest("JSON body must be an object")
    return services, env, document


@router.get("/v1_1/{cloud}/ping")
async def ping(cloud: str, request: Request) -> Response:
    await admin_call(request, cloud)
    return admin_json({"status": "ok"})


@router.get("/v1_1/{cloud}/usage")
async def usage_today(cloud: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(usage, services.db, services.settings, env))


@router.get("/v1_1/{cloud}/usage/{date}")
async def usage_on(cloud: str, date: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    if not re.fullmatch(r"\d{2}-\d{2}-\d{4}", date):
        raise BadRequest("Invalid date: use dd-mm-yyyy")
    return admin_json(await run_in_threadpool(usage, services.db, services.settings, env, date))


@router.get("/v1_1/{cloud}/config")
async def config(cloud: str, request: Request) -> Response:
    _, env, values = await admin_call(request, cloud)
    body: dict[str, Any] = {"cloud_name": env.cloud_name, "created_at": env.created_at}
    if parse_bool(values.get("settings"), "settings", False):
        body["settings"] = {"folder_mode": env.folder_mode}
    return admin_json(body)


@router.get("/v1_1/{cloud}/upload_presets")
async def list_presets(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    raw = str(values.get("max_results") or 10)
    if not raw.isdigit():
        raise BadRequest(f"Invalid max_results {raw!r}")
    max_results = int(raw)
    body = await run_in_threadpool(services.presets.list, env, max_results, values.get("next_cursor"))
    return admin_json(body)


@router.post("/v1_1/{cloud}/upload_presets")
async def create_preset(cloud: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.presets.create, env, values))


@router.get("/v1_1/{cloud}/upload_presets/{name}")
async def get_preset(cloud: str, name: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    preset = await run_in_threadpool(services.presets.get, env, name)
    return admin_json(preset.as_json())


@router.put("/v1_1/{cloud}/upload_presets/{name}")
async def update_preset(cloud: str, name: str, request: Request) -> Response:
    services, env, values = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.presets.update, env, name, values))


@router.delete("/v1_1/{cloud}/upload_presets/{name}")
async def delete_preset(cloud: str, name: str, request: Request) -> Response:
    services, env, _ = await admin_call(request, cloud)
    return admin_json(await run_in_threadpool(services.presets.delete, env, name))
