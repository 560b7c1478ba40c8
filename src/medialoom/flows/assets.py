"""Asset operations for flows, on this server: ``LocalAssets`` implements the blocks'
``AssetOperations`` port (flows/blocks/base.py) with the services the Upload and Admin APIs use,
called the way the API routers call them. A block's change therefore checks its input, writes
its events and answers exactly as the matching API call does:

    get                 Admin API resource detail            (catalog.resource)
    search              Search API                           (search.resources)
    upload_from_url     Upload API upload of a ``file`` URL  (the outbound guard, presets, uploader, eager)
    update_tags         Upload API ``tags``                  (labels.tags: resource_tags_changed)
    update_context      Upload API ``context``               (labels.context: resource_context_changed)
    update_metadata     Upload API ``metadata``              (labels.metadata: resource_metadata_changed)
    rename              Upload API ``rename``                (lifecycle.rename: rename, delete when overwriting)
    set_moderation      Admin API update ``moderation_status`` (moderation); ``pending`` queues the
                        asset for moderation again as Upload API ``explicit`` with ``moderation`` does
    delete              Upload API ``destroy``               (lifecycle.destroy: delete)
    delivery_url        the delivery URL the SDK would build (signed on request)
    eager               Upload API ``explicit`` with ``eager``, rendered now
    set_access_control  Admin API update ``access_control``  (access_control_changed)

A flow's changes carry no per-call ``notification_url``: they reach the environment's
notification endpoints (and other flows) through their events like any other change. (A preset
named by an upload still applies its own settings, its notification URL included.)

Errors: the API's ``ApiError`` becomes a ``BlockError`` with the API's message; NotFound and
BadRequest (TooLarge included) and AlreadyExists are final (``retryable=False``), anything else
(a rate limit, a server error) may succeed on another attempt. A remote file the guard refuses
is final; one that could not be fetched (a network error, a 5xx) may be retried.

This module also holds what the ``asset.*`` blocks (flows/blocks/asset_*.py) share: the
parameters that name an asset.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from sqlalchemy import select

from medialoom.assets.explicit import explicit
from medialoom.assets.incoming import IncomingFile
from medialoom.assets.labels import MAX_PUBLIC_IDS
from medialoom.assets.options import UPLOAD_PARAMS, check_known, merge_preset, parse_upload_options
from medialoom.assets.serialize import delivery_source, secure_variant
from medialoom.assets.store import get_asset
from medialoom.assets.updates import update
from medialoom.auth.environments import EnvironmentInfo
from medialoom.auth.signing import url_signature
from medialoom.db.models import Environment
from medialoom.delivery.formats import choose_format
from medialoom.errors import AlreadyExists, ApiError, BadRequest, NotFound
from medialoom.flows.blocks.base import BlockError
from medialoom.net.outbound import FetchFailed, OutboundRefused, fetch
from medialoom.transform.grammar import TransformationError

if TYPE_CHECKING:
    from medialoom.services import Services

RESOURCE_TYPES = ("image", "video", "raw")
DELIVERY_TYPES = ("upload", "private", "authenticated")
MODERATION_STATUSES = ("approved", "rejected", "pending")
# Per-call notification URLs are not a flow's to set (see the module's docstring).
_NOT_FROM_FLOWS = ("notification_url", "eager_notification_url", "callback")
_FINAL = (NotFound, BadRequest, AlreadyExists)


# -- what the asset blocks share --------------------------------------------------------------

ResourceType = Literal["image", "video", "raw"]
DeliveryType = Literal["upload", "private", "authenticated"]


def as_list(value: Any) -> Any:
    """One text stands for a list of one (a template such as {{ trigger.public_id }})."""
    return [value] if isinstance(value, str) else value


Texts = Annotated[list[str], BeforeValidator(as_list)]  # a list of texts, or one text


class AssetParams(BaseModel):
    """One asset, named as the Admin API names it."""

    model_config = ConfigDict(extra="forbid")
    public_id: str = Field(min_length=1, max_length=1024,
                           description="The asset's public id, often a template: {{ trigger.public_id }}.")
    resource_type: ResourceType = Field("image", description="image, video or raw.")
    type: DeliveryType = Field("upload", description="The delivery type: upload, private or authenticated.")


class ManyAssetsParams(BaseModel):
    """Assets of one resource type and delivery type, named by their public ids."""

    model_config = ConfigDict(extra="forbid")
    public_ids: Texts = Field(
        min_length=1, max_length=MAX_PUBLIC_IDS,
        description=f"The assets' public ids (at most {MAX_PUBLIC_IDS}); one id alone is taken as a list of one: "
                    "{{ trigger.public_id }}.")
    resource_type: ResourceType = Field("image", description="image, video or raw.")
    type: DeliveryType = Field("upload", description="The delivery type: upload, private or authenticated.")

    @field_validator("public_ids")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if any(not public_id.strip() for public_id in value):
            raise ValueError("a public id is empty")
        return value


# -- the port, on this server -----------------------------------------------------------------

@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """The API's errors as the block errors a run log shows (see the module's docstring)."""
    try:
        yield
    except ApiError as error:
        raise BlockError(error.message, retryable=not isinstance(error, _FINAL)) from None


class LocalAssets:
    """``AssetOperations`` in one environment of this server (see the module's docstring).
    Cheap to make: the environment is read on first use."""

    def __init__(self, services: Services, environment_id: int) -> None:
        self.services = services
        self.environment_id = environment_id
        self._env: EnvironmentInfo | None = None

    # -- reading -------------------------------------------------------------------------------

    def get(self, public_id: str, *, resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        with api_errors():
            _check(resource_type, type)
            return self.services.catalog.resource(self.env, resource_type, type, public_id, {},
                                                  self.services.base_url)

    def search(self, expression: str, *, max_results: int = 50, sort_by: list[dict[str, str]] | None = None,
               next_cursor: str | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"expression": expression, "max_results": max_results}
        if sort_by:
            values["sort_by"] = sort_by
        if next_cursor:
            values["next_cursor"] = next_cursor
        with api_errors():
            return self.services.search.resources(self.env, values, self.services.base_url)

    def delivery_url(self, public_id: str, *, transformation: str = "", format: str = "",
                     resource_type: str = "image", type: str = "upload", signed: bool = False) -> str:
        """The URL the SDK would build (``cloudinary_url`` with the asset's version): signed
        when asked, and always for private and authenticated assets, which need it. The
        transformation is checked as delivery would check it."""
        transformation = transformation.strip().strip("/")
        format = format.strip().lower().lstrip(".")
        with api_errors():
            _check(resource_type, type)
            if format and not format.isalnum():
                raise BadRequest(f"Invalid format {format!r}")
            env = self.env
            with self.services.db.read() as session:
                asset = get_asset(session, env.id, resource_type, type, public_id)
            if transformation and resource_type == "raw":
                raise BadRequest("Transformations of raw files are not supported")
            if resource_type == "image" and (transformation or (format and format != asset.format)):
                try:
                    prepared = self.services.producer.prepare(env, transformation)
                    choose_format(prepared.effective, format, asset.format, "")
                except TransformationError as error:
                    raise BadRequest(str(error)) from None
            source = delivery_source(asset, format or None)
            parts = [self.services.base_url, env.cloud_name, asset.resource_type, asset.type]
            if signed or asset.type in ("private", "authenticated"):
                to_sign = f"{transformation}/{source}" if transformation else source
                parts.append(f"s--{url_signature(to_sign, env.api_secret, algorithm=env.signature_algorithm)}--")
            if transformation:
                parts.append(transformation)
            parts += [f"v{asset.version}", source]
            return "/".join(parts)

    # -- changing --------------------------------------------------------------------------------

    def upload_from_url(self, url: str, options: dict[str, Any]) -> dict[str, Any]:
        """The Upload API's upload of a remote ``file``, as a trusted (signed) call: Upload API
        parameters in ``options`` (``resource_type`` among them: image, video, raw or auto, the
        default), a preset's settings under them, the file fetched through the outbound guard."""
        services, values = self.services, dict(options)
        resource_type = str(values.pop("resource_type", None) or "auto")
        with api_errors():
            if resource_type not in (*RESOURCE_TYPES, "auto"):
                raise NotFound(f"Invalid resource type {resource_type!r}")
            given = sorted(name for name in _NOT_FROM_FLOWS if values.get(name))
            if given:
                raise BadRequest(f"{given[0]} cannot be set by a flow: its changes are announced to the "
                                 "environment's notification endpoints")
            values = {name: value for name, value in values.items() if value is not None}
            env = self.env
            preset_name = values.get("upload_preset")
            preset = None
            if preset_name:
                try:
                    preset = services.presets.get(env, str(preset_name))
                except NotFound:
                    raise BadRequest(f"Upload preset not found: {preset_name}") from None
            check_known(values, UPLOAD_PARAMS)
            merged = merge_preset(values, preset.upload_values()) if preset else values
            disallow = bool(preset and preset.settings.get("disallow_public_id"))
            parsed = parse_upload_options(merged, unsigned=False, disallow_public_id=disallow)
            services.eager.check(env, parsed.eager)
            incoming = self._fetch(url, resource_type)
            try:
                body = services.uploader.upload(env, incoming, parsed, resource_type, base_url=services.base_url)
            finally:
                incoming.file.close()
            return services.eager.derive(env, body, parsed.eager, run_async=parsed.eager_async,
                                         notification_url=parsed.eager_notification_url or parsed.notification_url)

    def _fetch(self, url: str, resource_type: str) -> IncomingFile:
        services = self.services
        try:
            fetched = fetch(url, allow=services.outbound_allow, max_bytes=services.uploader.size_limit(resource_type),
                            timeout=services.settings.fetch_timeout_seconds,
                            max_redirects=services.settings.fetch_max_redirects)
        except OutboundRefused as error:
            raise BadRequest(str(error)) from None
        except FetchFailed as error:
            # The API answers 400 too; but a network error or an origin's 5xx may pass.
            raise BlockError(f"Error in loading {url} - {error}",
                             retryable="too large" not in str(error)) from None
        return IncomingFile(file=fetched.file, size=fetched.size, filename=fetched.filename)

    def update_tags(self, command: str, tags: list[str], public_ids: list[str], *,
                    resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        with api_errors():
            _check(resource_type, type)
            return self.services.labels.tags(self.env, resource_type, type, command, list(tags), list(public_ids))

    def update_context(self, command: str, context: dict[str, str], public_ids: list[str], *,
                       resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        with api_errors():
            _check(resource_type, type)
            return self.services.labels.context(self.env, resource_type, type, command, dict(context) or None,
                                                list(public_ids))

    def update_metadata(self, metadata: dict[str, Any], public_ids: list[str], *,
                        resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        with api_errors():
            _check(resource_type, type)
            return self.services.labels.metadata(self.env, resource_type, type, dict(metadata) or None,
                                                 list(public_ids))

    def rename(self, from_public_id: str, to_public_id: str, *, overwrite: bool = False,
               resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        with api_errors():
            _check(resource_type, type)
            return self.services.lifecycle.rename(self.env, resource_type, type, from_public_id, to_public_id,
                                                  to_type=None, overwrite=overwrite,
                                                  base_url=self.services.base_url)

    def set_moderation(self, public_id: str, status: str, *, resource_type: str = "image",
                       type: str = "upload") -> dict[str, Any]:
        """approved or rejected: the Admin API's update (the ``moderation`` event flows trigger
        on); pending: queued for moderation again, as ``explicit`` with ``moderation`` does
        (which writes no event), keeping the asset's moderation kind."""
        with api_errors():
            _check(resource_type, type)
            if status not in MODERATION_STATUSES:
                raise BadRequest(f"moderation_status must be one of {', '.join(MODERATION_STATUSES)}")
            services, env = self.services, self.env
            if status != "pending":
                return update(services.db, env, resource_type, type, public_id, {"moderation_status": status},
                              base_url=services.base_url)
            with services.db.read() as session:
                moderation = get_asset(session, env.id, resource_type, type, public_id).moderation
            kind = moderation[-1]["kind"] if moderation else "manual"
            explicit(services.db, env, resource_type, type, public_id, {"moderation": kind},
                     base_url=services.base_url)
            return services.catalog.resource(env, resource_type, type, public_id, {}, services.base_url)

    def delete(self, public_id: str, *, resource_type: str = "image", type: str = "upload",
               invalidate: bool = False) -> dict[str, Any]:
        """``{"result": "ok"}``, or ``{"result": "not found"}`` as the API answers (so a
        repeated delete is no failure). ``invalidate`` is accepted as the API accepts it: the
        asset's derived files go with it anyway."""
        with api_errors():
            _check(resource_type, type)
            return self.services.lifecycle.destroy(self.env, resource_type, type, public_id)

    def eager(self, public_id: str, transformations: list[str], *, resource_type: str = "image",
              type: str = "upload") -> dict[str, Any]:
        """``explicit`` with ``eager``: the transformations join the asset's eager list and
        are rendered now; the answer is explicit's, its ``eager`` entries with each file's
        size and dimensions (or ``status: failed`` and the reason)."""
        services = self.services
        with api_errors():
            _check(resource_type, type)
            items = [item for item in transformations if item]
            if not items:
                raise BadRequest("Missing required parameter - eager")
            env = self.env
            services.eager.check(env, items)
            body = explicit(services.db, env, resource_type, type, public_id, {"eager": json.dumps(items)},
                            base_url=services.base_url)
            return services.eager.derive(env, body, items, run_async=False)

    def set_access_control(self, public_id: str, access_control: list[dict[str, Any]], *,
                           resource_type: str = "image", type: str = "upload") -> dict[str, Any]:
        """The Admin API's update of ``access_control``; an empty list removes every rule."""
        with api_errors():
            _check(resource_type, type)
            return update(self.services.db, self.env, resource_type, type, public_id,
                          {"access_control": list(access_control)}, base_url=self.services.base_url)

    # -- helpers -----------------------------------------------------------------------------------

    @property
    def env(self) -> EnvironmentInfo:
        if self._env is None:
            self._env = environment_by_id(self.services, self.environment_id)
        return self._env


def environment_by_id(services: Services, environment_id: int) -> EnvironmentInfo:
    """The environment with this row id, through the environments' own (cached) lookup."""
    with services.db.read() as session:
        cloud_name = session.scalar(select(Environment.cloud_name).where(Environment.id == environment_id))
    env = services.environments.by_cloud_name(cloud_name) if cloud_name else None
    if env is None or env.id != environment_id:
        raise BlockError(f"environment {environment_id} does not exist", retryable=False)
    return env


def _check(resource_type: str, type_: str) -> None:
    """As the Admin API's routes check the path."""
    if resource_type not in RESOURCE_TYPES:
        raise NotFound(f"Invalid resource type {resource_type!r}")
    if type_ not in DELIVERY_TYPES:
        raise NotFound(f"Invalid type {type_!r}")


def url_answer(url: str) -> dict[str, str]:
    """A delivery URL as a block's output."""
    return {"url": url, "secure_url": secure_variant(url)}
