"""Cross-cutting HTTP behaviour as plain ASGI middleware (cheap on the hot path)."""

from __future__ import annotations

import json
import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from medialoom import context
from medialoom.errors import TooLarge

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



class BodyLimitMiddleware:
    """Refuses API request bodies larger than any upload could legitimately be.

    Without it a client could stream gigabytes into the multipart spool before the size
    checks of the upload pipeline ever run. Bodies without Content-Length (the Node SDK sends
    chunked transfer encoding) are counted as they arrive.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge(f"Request body too large (maximum is {self.max_bytes} bytes)")
            return message

        await self.app(scope, counting_receive, send)


async def _too_large(send: Send, max_bytes: int) -> None:
    body = json.dumps({"error": {"message": f"File size too large. Maximum is {max_bytes} bytes."}}).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
