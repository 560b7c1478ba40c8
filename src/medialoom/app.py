"""``create_app(settings)``: the one ASGI application (APIs, delivery, and later the UI)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.routing import Route

from medialoom.api import admin, flows, folders, metadata, resources, transformations, triggers, upload
from medialoom.api.admin import rate_limit_headers
from medialoom.api.middleware import BodyLimitMiddleware, RequestIdMiddleware
from medialoom.api.responses import CloudinaryJSON, error_response
from medialoom.config import Settings
from medialoom.delivery.route import DeliveryFirst, deliver
from medialoom.errors import ApiError, BadRequest
from medialoom.services import Services, build_services, on_start


class NotApiConvertor(Convertor):
    """Any first path segment but the API's (unknown API paths answer in the API's JSON shape)."""

    regex = "(?!v1_1(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("not_api", NotApiConvertor())


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    owned = services is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.services is None:
            app.state.services = build_services(settings)
            on_start(app.state.services)
        engine = app.state.services.flow_engine
        if settings.flows:
            # DBOS refuses to start on a thread with a running event loop.
            await asyncio.to_thread(engine.start)
        if settings.notifications:
            app.state.services.dispatcher.start()
        app.state.services.housekeeping.start()
        yield
        app.state.services.dispatcher.stop()
        await asyncio.to_thread(engine.stop)
        if owned:
            app.state.services.close()

    app = FastAPI(title="medialoom", version="0.1.0", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.services = services
    # Admin routes first: "POST /v1_1/{cloud}/resources/search" would otherwise look like an
    # Upload API call for a resource type named "resources".
    app.include_router(admin.router)
    app.include_router(resources.router)
    app.include_router(folders.router)
    app.include_router(metadata.router)
    app.include_router(transformations.router)
    app.include_router(triggers.router)
    app.include_router(flows.router)
    app.include_router(upload.router)
    # Delivery is most of the traffic: DeliveryFirst (below) hands its GETs over before the
    # API's middleware and routes; this last route catches the rest of its paths (other
    # methods, paths under docs/), for a clear 405 or 404.
    app.router.routes.append(Route("/{cloud:not_api}/{rest:path}", deliver, methods=["GET", "HEAD"]))

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> Response:
        response = error_response(error)
        response.headers.update(rate_limit_headers())
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> Response:
        # Unknown paths and methods answer in Cloudinary's shape too, so the SDKs raise.
        return CloudinaryJSON({"error": {"message": str(error.detail)}}, status_code=error.status_code,
                              headers=getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, error: RequestValidationError) -> Response:
        return error_response(BadRequest(f"Invalid request: {error.errors()[0].get('msg', 'bad input')}"))

    # Browsers upload straight to the Upload API with a signature made by the app's server.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["X-Request-Id"], max_age=3600)
    largest_upload = max(settings.max_image_bytes, settings.max_video_bytes, settings.max_raw_bytes)
    # Data URIs inflate by 4/3; the rest of a multipart body is small.
    app.add_middleware(BodyLimitMiddleware, max_bytes=largest_upload * 4 // 3 + 2 * 1024 * 1024)
    app.add_middleware(DeliveryFirst)
    app.add_middleware(RequestIdMiddleware)
    return app


def app_from_environment() -> FastAPI:
    """Factory for worker processes: settings from MEDIALOOM_* variables; the parent process
    has already migrated the database."""
    settings = Settings()
    services = build_services(settings, run_migrations=False)
    return create_app(settings, services)
