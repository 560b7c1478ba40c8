"""Cloudinary's wire encodings turned into one flat parameter map.

The official clients send parameters as multipart (uploads), JSON (Python Admin calls, even
for DELETE), urlencoded bodies (Node Admin calls) or query strings (GET). Lists arrive as
repeated ``key[]`` or indexed ``key[0]`` fields. Every handler sees the same ``Params``:
strings, lists of strings, and at most one uploaded file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from medialoom.errors import ApiError, BadRequest
from medialoom.net.addresses import AllowList
from medialoom.net.outbound import OutboundRefused, check_outbound_url_offline

ParamValue = str | list[str]
_INDEXED = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<index>\d*)\]$")
# Bounds the parser so a hostile body cannot make us hold unbounded fields in memory.
MAX_FIELDS = 1000


NOTIFICATION_URL_PARAMS = ("notification_url", "eager_notification_url")


def client_address(request: Request) -> str:
    """The caller's address, as uvicorn gives it (a proxy's X-Forwarded-For is taken only from
    the addresses in uvicorn's --forwarded-allow-ips, loopback by default)."""
    return request.client.host if request.client else ""


def check_notification_urls(values: dict[str, Any], allow: AllowList) -> None:
    """A call's own notification URLs are refused with the call (which then changes nothing)
    when their shape or address is one the server must never POST to."""
    for name in NOTIFICATION_URL_PARAMS:
        url = values.get(name)
        if not url:
            continue
        if not isinstance(url, str):
            raise BadRequest(f"Invalid {name}: one URL expected")
        try:
            check_outbound_url_offline(url, allow)
        except OutboundRefused as error:
            raise BadRequest(f"Invalid {name} {url}: {error}") from None


@dataclass
class Params:
    values: dict[str, ParamValue] = field(default_factory=dict)
    upload: UploadFile | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, list):
            return ",".join(value)
        return value

    def get_list(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    async def close(self) -> None:
        if self.upload is not None:
            await self.upload.close()


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _add(values: dict[str, ParamValue], raw_name: str, value: Any) -> None:
    match = _INDEXED.match(raw_name)
    if match:
        name = match.group("name")
        existing = values.get(name)
        items = existing if isinstance(existing, list) else ([] if existing is None else [existing])
        items.append(_stringify(value))
        values[name] = items
    elif value is None:
        return
    elif isinstance(value, list):
        values[raw_name] = [_stringify(item) for item in value]
    else:
        values[raw_name] = _stringify(value)


async def read_params(request: Request, *, max_field_bytes: int) -> Params:
    """Merge query string and body; body values win over query values of the same name."""
    params = Params()
    for name, value in request.query_params.multi_items():
        _add(params.values, name, value)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form(max_files=2, max_fields=MAX_FIELDS, max_part_size=max_field_bytes)
        except ApiError:
            raise
        except Exception as error:  # python-multipart raises several types on malformed bodies
            raise BadRequest(f"Malformed request body: {error}") from error
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                if name != "file" or params.upload is not None:
                    raise BadRequest(f"Unexpected file field {name!r}")
                params.upload = value
            else:
                _add(params.values, name, value)
    elif content_type == "application/json":
        body = await request.body()
        if body.strip():
            try:
                decoded = json.loads(body)
            except ValueError as error:
                raise BadRequest("Malformed JSON body") from error
            if not isinstance(decoded, dict):
                raise BadRequest("JSON body must be an object")
            if len(decoded) > MAX_FIELDS:
                raise BadRequest("Too many parameters")
            for name, value in decoded.items():
                _add(params.values, name, value)
    return params
