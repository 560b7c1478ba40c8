"""The signed private download URL (``private_download_url``): ``GET /v1_1/{cloud}/{rt}/download``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from medialoom.api.params import Params
from medialoom.assets.codecs import parse_bool
from medialoom.assets.store import get_asset
from medialoom.delivery.respond import blob_response
from medialoom.errors import BadRequest, NotFound, Unauthorized


def signed_download(request: Request, services, env, resource_type: str, params: Params) -> Response:  # noqa: ANN001
    public_id = params.get("public_id")
    if not public_id:
        raise BadRequest("Missing required parameter - public_id")
    expires_at = params.get("expires_at")
    if expires_at:
        try:
            if int(expires_at) < time.time():
                raise Unauthorized("Download URL has expired")
        except ValueError as error:
            raise BadRequest("Invalid expires_at") from error
    type_ = params.get("type") or "upload"
    with services.db.read() as session:
        asset = get_asset(session, env.id, resource_type, type_, public_id)
    requested_format = (params.get("format") or "").lower()
    if requested_format and resource_type != "raw" and requested_format != asset.format:
        raise NotFound(f"Resource not found - {public_id}.{requested_format}")
    attachment = bool(parse_bool(params.get("attachment"), "attachment", False))
    return blob_response(request, services.blobs, asset, private=True, attachment=attachment)
