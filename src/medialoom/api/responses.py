"""JSON responses in Cloudinary's shape (always 200 on success)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import Response

from medialoom.errors import ApiError, TooManyRequests


class CloudinaryJSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(error: ApiError) -> CloudinaryJSON:
    response = CloudinaryJSON({"error": {"message": error.message}}, status_code=error.status)
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response
