"""Streaming a stored original back to a client with safe, cacheable headers."""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse

from medialoom.db.models import Asset
from medialoom.media.probe import mime_type_for
from medialoom.storage import BlobStore

# Types a browser would render as a page on our origin (stored XSS); raw files of these
# types are only ever delivered as downloads.
_ACTIVE_TYPES = {"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
                 "application/javascript+xml", "text/xsl"}
# SVG images are delivered inline but sandboxed: scripts inside never run on our origin.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
PUBLIC_MAX_AGE = 30 * 24 * 3600
PRIVATE_MAX_AGE = 3600


def content_type_of(asset: Asset) -> tuple[str, bool]:
    """The Content-Type to send and whether the file must be an attachment."""
    if asset.resource_type == "raw":
        guessed = mimetypes.guess_type(asset.public_id)[0] or "application/octet-stream"
        if guessed in _ACTIVE_TYPES:
            return "application/octet-stream", True
        if guessed.startswith(("image/", "video/", "audio/")):
            # The bytes were inspected and are no such media: the name is lying.
            return "application/octet-stream", True
        return guessed, False
    return mime_type_for(asset.format), False


def download_name(asset: Asset, extension: str) -> str:
    name = asset.public_id.rsplit("/", 1)[-1]
    if extension and not name.endswith(f".{extension}"):
        name = f"{name}.{extension}"
    return name.replace('"', "")


def blob_response(request: Request, blobs: BlobStore, asset: Asset, *, private: bool,
                  attachment: bool = False) -> Response:
    content_type, force_attachment = content_type_of(asset)
    etag = f'"{asset.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={PRIVATE_MAX_AGE}" if private else f"public, max-age={PUBLIC_MAX_AGE}",
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }
    if content_type == "image/svg+xml":
        headers["Content-Security-Policy"] = _SVG_POLICY
    if attachment or force_attachment:
        extension = "" if asset.resource_type == "raw" else asset.format
        headers["Content-Disposition"] = f'attachment; filename="{download_name(asset, extension)}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    local = blobs.local_path(asset.blob_key)
    if local is not None:
        # FileResponse answers Range requests (video players need them) and sets Accept-Ranges.
        return FileResponse(local, media_type=content_type, headers=headers)
    headers["Content-Length"] = str(asset.bytes)
    return StreamingResponse(blobs.iter_bytes(asset.blob_key), media_type=content_type, headers=headers)


def delivery_error(status: int, message: str) -> Response:
    """Delivery failures are plain responses with the reason in ``x-cld-error``, as on Cloudinary."""
    return Response(status_code=status, headers={"x-cld-error": message, "Access-Control-Allow-Origin": "*",
                                                 "Cache-Control": "no-cache"})
