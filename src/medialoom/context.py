"""Per-request values that deep layers need without threading them through every call."""

from __future__ import annotations

from contextvars import ContextVar

# Set by the request-id middleware; copied into worker threads by Starlette's thread pool.
request_id: ContextVar[str] = ContextVar("request_id", default="")
