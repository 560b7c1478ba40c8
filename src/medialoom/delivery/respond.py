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
SMALL_FILE = 1024 * 1024  # answered from memory; larger files stream


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


def cache_control(*, private: bool, immutable: bool = False) -> str:
    if private:
        return f"private, max-age={PRIVATE_MAX_AGE}"
    # A versioned URL names one version's bytes forever.
    return f"public, max-age={PUBLIC_MAX_AGE}" + (", immutable" if immutable else "")


def blob_response(request: Request, blobs: BlobStore, asset: Asset, *, private: bool,
                  attachment: bool = False) -> Response:
    content_type, force_attachment = content_type_of(asset)
    name = None
    if attachment or force_attachment:
        name = download_name(asset, "" if asset.resource_type == "raw" else asset.format)
    return stored_response(request, blobs, asset.blob_key, size=asset.bytes, content_type=content_type,
                           etag=asset.etag, cache=cache_control(private=private), attachment_name=name)


def stored_response(request: Request, blobs: BlobStore, key: str, *, size: int | None, content_type: str, etag: str,
                    cache: str, attachment_name: str | None = None, vary: str | None = None) -> Response:
    """Stream a stored blob with validators; answers If-None-Match, HEAD and Range."""
    etag = f'"{etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": cache,
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }
    if vary:
        headers["Vary"] = vary
    if content_type == "image/svg+xml":
        headers["Content-Security-Policy"] = _SVG_POLICY
    if attachment_name is not None:
        headers["Content-Disposition"] = f'attachment; filename="{attachment_name}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    local = blobs.local_path(key)
    if local is not None and "range" not in request.headers:
        # Small files (derived images, mostly) are read here, in the worker thread: FileResponse
        # would go back to a thread for every open, stat and read.
        try:
            with open(local, "rb") as handle:
                data = handle.read(SMALL_FILE + 1)
        except FileNotFoundError:
            data = None
        if data is not None and len(data) <= SMALL_FILE:
            return Response(data, media_type=content_type, headers=headers)
    if local is not None:
        # FileResponse answers Range requests (video players need them) and sets Accept-Ranges.
        return FileResponse(local, media_type=content_type, headers=headers)
    size = size if size is not None else blobs.size(key)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(blobs.iter_bytes(key), media_type=content_type, headers=headers)


def delivery_error(status: int, message: str) -> Response:
    """Delivery failures are plain responses with the reason in ``x-cld-error``, as on Cloudinary.
    Reasons may quote the request: a header carries printable ASCII only, so the rest is escaped."""
    safe = "".join(char if " " <= char <= "~" else char.encode("unicode_escape").decode("ascii")
                   for char in message)
    return Response(status_code=status, headers={"x-cld-error": safe, "Access-Control-Allow-Origin": "*",
                                                 "Cache-Control": "no-cache"})
