"""Cross-cutting HTTP behaviour as plain ASGI middleware (cheap on the hot path)."""

from __future__ import annotations

import json
import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medialoom import context

log = logging.getLogger("medialoom")


class RequestIdMiddleware:
    """Every response carries ``X-Request-Id`` (the Python SDK copies it into results)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        token = context.request_id.set(request_id)

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Errors nobody expected still answer in Cloudinary's shape, with the request id
            # that lets an operator find the traceback in the log.
            log.exception("unhandled error in request %s", request_id)
            if started:
                raise
            body = json.dumps({"error": {"message": f"General Error (request {request_id})"}}).encode()
            await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send_with_id({"type": "http.response.body", "body": body})
        finally:
            context.request_id.reset(token)

