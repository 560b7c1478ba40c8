"""``GET /{cloud}/{resource_type}/{type}/...``: deliver originals and derived images.

Who may see what: ``upload`` assets are open to anyone unless their access mode is
authenticated or an ``access_control`` window is closed; then, like ``authenticated`` assets,
they need a valid ``s--SIG--`` segment or a ``__cld_token__``. ``private`` assets need the
signature. A signature that is present must be right.

A URL with transformations, or with an extension other than the stored format, is rendered
once (``delivery.producer``) and served from storage afterwards; in strict mode only signed
URLs, files that exist (eager) and transformations registered as allowed for strict render.
Every refusal is a bare status with the reason in ``x-cld-error``, as on Cloudinary.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from medialoom.assets.store import DeliveredAsset, find_asset_to_deliver
from medialoom.auth.access import TOKEN_NAME, check_token, open_to_anyone
from medialoom.auth.environments import CLOUD_NAME_RE
from medialoom.auth.signing import url_signature_matches
from medialoom.delivery.formats import FORMAT_ALIASES, choose_format
from medialoom.delivery.respond import blob_response, cache_control, delivery_error, stored_response
from medialoom.delivery.urls import DeliveryPath, parse_delivery_path
from medialoom.media.formats import mime_type_for
from medialoom.storage.local import LocalBlobStore
from medialoom.media.video_frames import InvalidOffset, VideoFrameError, VideoFramesUnavailable
from medialoom.transform.grammar import Transformation, TransformationError, parse
from medialoom.transform.render import OUTPUT_FORMATS, RenderError

def _lookup(services, env_id: int, resource_type: str, type_: str, source: str) -> tuple[DeliveredAsset | None, str]:  # noqa: ANN001
    """Find the asset a URL names; returns it and the extension that was asked for."""
    db = services.db
    if resource_type == "raw":
        return find_asset_to_deliver(db, env_id, "raw", type_, source), ""
    if "." in source.rsplit("/", 1)[-1]:
        public_id, extension = source.rsplit(".", 1)
        asset = find_asset_to_deliver(db, env_id, resource_type, type_, public_id)
        if asset is not None:
            return asset, FORMAT_ALIASES.get(extension.lower(), extension.lower())
    return find_asset_to_deliver(db, env_id, resource_type, type_, source), ""


def _target(request: Request) -> tuple[str, str, str]:
    """Resource type, delivery type and the rest of the path as sent, before percent-decoding
    (text layers carry their own escapes, ``%252C``, which the grammar undoes itself).

    Besides ``/{cloud}/{resource_type}/{type}/...``, the SDKs' shortened ``/{cloud}/iu/...``
    and root path ``/{cloud}/...`` (``use_root_path``) both mean ``image/upload``."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if raw else request.url.path
    remainder = path.split("/", 2)[2] if path.count("/") >= 2 else ""
    first, _, after = remainder.partition("/")
    if first == "iu":
        return "image", "upload", after
    if first in ("image", "video", "raw"):
        type_, _, rest = after.partition("/")
        return first, type_, rest
    return "image", "upload", remainder


class DeliveryFirst:
    """ASGI middleware that hands ``GET``/``HEAD`` requests for delivery paths (any first
    segment but the API's ``v1_1`` and FastAPI's ``docs``) straight to ``deliver``.

    Delivery is most of the traffic and answers every refusal itself; CORS and body limits,
    FastAPI's exception and exit-stack layers, and matching ~55 API routes took more than the
    delivery handler's own work for an answer already stored. Sits inside the request-id
    middleware, so answers still carry ``X-Request-Id`` and unexpected errors are logged. Other
    methods fall through to the application, whose last route is ``deliver`` too (405s, paths
    under ``docs``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            cloud, slash, rest = scope["path"][1:].partition("/")
            if slash and cloud not in ("v1_1", "docs", ""):
                scope = {**scope, "path_params": {"cloud": cloud, "rest": rest}}
                response = await deliver(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def deliver(request: Request) -> Response:
    services = request.app.state.services
    if services.db.is_sqlite and isinstance(services.blobs, LocalBlobStore):
        # Everything a stored answer needs is on this machine and takes microseconds: answer
        # it here, as a file server would; the hop to a thread and back cost more (~0.3 ms)
        # than the answer itself. Only a rendering goes to a thread.
        answer = _answer(request)
        return answer if isinstance(answer, Response) else await run_in_threadpool(answer)
    # The lookups and file checks block on the network here: one hop to a worker thread for
    # the whole answer (every extra hop costs more than a stored answer's own work).
    return await run_in_threadpool(_answer_in_full, request)


# The rest of an answer that needs a rendering (blocking, for a worker thread).
Rendering = Callable[[], Response]


def _answer_in_full(request: Request) -> Response:
    answer = _answer(request)
    return answer if isinstance(answer, Response) else answer()


def _answer(request: Request) -> Response | Rendering:
    """The answer, or when the derived file is not stored yet, what renders and answers it."""
    services = request.app.state.services
    cloud = request.path_params["cloud"]
    resource_type, type_, raw_rest = _target(request)
    if type_ not in ("upload", "private", "authenticated"):
        return delivery_error(404, "Resource not found")
    known = CLOUD_NAME_RE.fullmatch(cloud)  # anything else cannot name one (and NUL upsets PostgreSQL)
    env = services.environments.by_cloud_name(cloud) if known else None
    if env is None:
        return delivery_error(404, f"Invalid cloud_name {cloud}")
    raw_path = parse_delivery_path(raw_rest)
    if raw_path is None:
        return delivery_error(404, "Resource not found")
    path = DeliveryPath(raw_path.signature, raw_path.transformations, raw_path.version, unquote(raw_path.source))
    if any(ord(char) < 32 for char in path.source):  # no public id holds control characters (NUL breaks SQL)
        return delivery_error(404, "Resource not found")
    asset, extension = _lookup(services, env.id, resource_type, type_, path.source)
    signed = path.signature is not None and url_signature_matches(path.signed_part, path.signature, env.api_secret)
    if path.signature is not None and not signed:
        return delivery_error(401, "Invalid signature")
    transformation_text = "/".join(path.transformations)
    if asset is None or asset.placeholder or not asset.blob_key:
        asset = _default_image(services, env.id, resource_type, transformation_text)
        if asset is None:
            return delivery_error(404, "Resource not found")
    if asset.moderation_status == "rejected":
        return delivery_error(404, "Resource was rejected by moderation")
    refusal = _refusal(request, env, asset, type_, signed)
    if refusal is not None:
        return delivery_error(401, refusal)
    private = type_ != "upload" or asset.access_mode == "authenticated" or bool(asset.access_control)
    if not path.transformations and (not extension or extension == asset.format or resource_type == "raw"):
        return blob_response(request, services.blobs, asset, private=private)
    return _derived(request, services, env, asset, path, extension, resource_type, signed=signed, private=private)


def _derived(request: Request, services, env, asset: DeliveredAsset, path: DeliveryPath, extension: str,  # noqa: ANN001
             resource_type: str, *, signed: bool, private: bool) -> Response | Rendering:
    """A transformation (or another format) of an asset the request may see."""
    transformation_text = "/".join(path.transformations)
    frame = None
    if resource_type == "video":
        transformation_text, frame = _start_offset(transformation_text)
        if extension not in OUTPUT_FORMATS:
            return delivery_error(400, "Video transformations are not supported by this server: only still "
                                       "frames (so_ with an image extension such as .jpg)")
    elif resource_type != "image":
        return delivery_error(400, f"Transformations of {resource_type} files are not supported")
    producer = services.producer
    dpr = _client_dpr(request)
    try:
        prepared = replace(producer.prepare(env, transformation_text, dpr), frame=frame)
        choice = choose_format(prepared.effective, extension, asset.format, request.headers.get("accept", ""))
    except TransformationError as error:
        return delivery_error(400, str(error))
    save_data = request.headers.get("save-data", "").lower() == "on" and _uses_auto_quality(prepared.effective)
    key = producer.key(env, asset, prepared, choice.format, save_data=save_data)
    if env.strict_transformations and not signed and not _allowed_in_strict(services, env, prepared,
                                                                             choice.format, key):
        return delivery_error(401, f"Transformation {transformation_text} is not allowed "
                                   "(strict transformations are on: sign the URL or name it)")
    attachment = next((c for c in prepared.effective.components if "attachment" in c.flags), None)
    name = None
    if attachment is not None:
        base = attachment.attachment_name or asset.public_id.rsplit("/", 1)[-1]
        name = f"{base}.{choice.format}".replace('"', "")
    vary = [*(["Accept"] if choice.negotiated else []), *(_DPR_HINTS if prepared.client_dpr else [])]

    def respond() -> Response:
        return stored_response(request, services.blobs, key, size=None, content_type=mime_type_for(choice.format),
                               etag=key.rsplit("/", 1)[-1].split(".")[0][:32],
                               cache=cache_control(private=private, immutable=path.version is not None),
                               attachment_name=name, vary=", ".join(vary) or None)

    if producer.exists(key):
        return respond()

    def render_and_respond() -> Response:
        try:
            producer.produce(env, asset, prepared, choice.format, save_data=save_data)
        except TransformationError as error:
            return delivery_error(400, str(error))
        except RenderError as error:
            return delivery_error(400, f"Cannot transform this image: {error}")
        except InvalidOffset as error:
            return delivery_error(400, f"{error} (so_)")
        except VideoFramesUnavailable:
            return delivery_error(400, "Video thumbnails need the optional PyAV package (pip install av)")
        except VideoFrameError as error:
            return delivery_error(400, f"Cannot take a frame from this video: {error}")
        return respond()

    return render_and_respond


def _start_offset(text: str) -> tuple[str, str]:
    """Take ``so_<offset>`` out of a video thumbnail's transformation (the image grammar does
    not know video parameters); ``auto`` (the middle) when none is given."""
    offset = "auto"
    components = []
    for component in text.split("/") if text else []:
        kept = []
        for token in component.split(","):
            if token.startswith("so_"):
                offset = token[3:]
            else:
                kept.append(token)
        if kept:
            components.append(",".join(kept))
    return "/".join(components), offset


def _refusal(request: Request, env, asset: DeliveredAsset, type_: str, signed: bool) -> str | None:  # noqa: ANN001
    """Why this request may not see ``asset``, or None. ``private`` needs a signed URL;
    ``authenticated`` (type or access mode) and closed access-control windows take a signed
    URL or a ``__cld_token__``."""
    if type_ == "private":
        return None if signed else "Signature required to deliver this resource"
    needs_credentials = (type_ == "authenticated" or asset.access_mode == "authenticated"
                         or not open_to_anyone(asset.access_control, datetime.now(UTC)))
    if not needs_credentials or signed:
        return None
    token = _query_token(request)
    if token is None:
        return "Signature or token required to deliver this resource"
    if not env.auth_token_key:
        return "Token authentication is not set up for this environment"
    client = request.client.host if request.client else None
    check = check_token(token, env.auth_token_key, _raw_path(request), client, time.time())
    return None if check.ok else check.reason


def _query_token(request: Request) -> str | None:
    """The token as sent: its parts are signed in their escaped form."""
    for part in request.scope.get("query_string", b"").decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name == TOKEN_NAME:
            return value
    return None


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


_DPR_HINTS = ["DPR", "Sec-CH-DPR"]


def _client_dpr(request: Request) -> float | None:
    """The device pixel ratio from client hints, for ``dpr_auto`` (None without hints)."""
    for header in ("sec-ch-dpr", "dpr"):
        value = request.headers.get(header)
        if value:
            try:
                ratio = float(value)
            except ValueError:
                return None
            return min(max(round(ratio, 1), 1.0), 4.0) if math.isfinite(ratio) else None
    return None


def _default_image(services, env_id: int, resource_type: str, transformation_text: str) -> DeliveredAsset | None:  # noqa: ANN001
    """``d_<public id>.<ext>``: what to show when the asked image does not exist."""
    if resource_type != "image" or "d_" not in transformation_text:
        return None
    try:
        components = parse(transformation_text).components
    except TransformationError:
        return None
    name = next((c.default_image for c in components if c.default_image), None)
    if not name:
        return None
    for public_id in (name.rsplit(".", 1)[0], name):
        asset = find_asset_to_deliver(services.db, env_id, "image", "upload", public_id)
        if asset is not None and not asset.placeholder and asset.blob_key:
            return asset
    return None


def _allowed_in_strict(services, env, prepared, format_: str, key: str) -> bool:  # noqa: ANN001
    """Strict mode: what exists already (eager, earlier signed views) may be served; a new
    rendering needs a name or transformation registered as allowed for strict."""
    return services.producer.exists(key) or services.named.allowed_for_strict(env, prepared.asked, format_)


def _uses_auto_quality(transformation: Transformation) -> bool:
    return any(c.quality is not None and c.quality.auto for c in transformation.components)
