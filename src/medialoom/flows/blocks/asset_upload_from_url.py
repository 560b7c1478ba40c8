"""asset.upload_from_url: uploads a file from an http or https URL, as the Upload API does
with a ``file`` URL.

The file is fetched through the outbound guard (internal addresses are refused unless the
server's allow list admits them) and stored as an upload with these parameters would be:
named by ``public_id`` (or ``folder``, ``use_filename`` ... and the environment's folder
mode), with a preset's settings under the block's own. The output, on ``ok``, is the upload
response (public_id, asset_id, version, format, bytes, url, secure_url ...; ``existing: true``
when ``overwrite`` is off and the asset was there already), and the ``upload`` event is written
as for an API upload.

A block retried after a crash uploads again: with a ``public_id`` (and ``overwrite``, the
default) that replaces the same asset, without one it makes another.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.assets import DeliveryType, Texts
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome

Scalar = str | bool | int | float


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=8192,
                     description="An http or https URL of the file. Internal addresses are refused.")
    public_id: str = Field("", max_length=1024, description="The new asset's public id; empty, one is made up.")
    resource_type: Literal["auto", "image", "video", "raw"] = Field(
        "auto", description="auto (from the file's content), image, video or raw.")
    type: DeliveryType = Field("upload", description="The delivery type: upload, private or authenticated.")
    folder: str = Field("", max_length=1024, description="Prefix of the public id (and its asset folder "
                                                         "in fixed folder mode).")
    asset_folder: str | None = Field(None, max_length=1024, description="The asset folder (dynamic folder mode).")
    display_name: str = Field("", max_length=1024, description="The name the console shows.")
    use_filename: bool | None = Field(None, description="Name the asset after the URL's file name.")
    unique_filename: bool | None = Field(None, description="With use_filename, add a random suffix (the default).")
    upload_preset: str = Field("", max_length=255, description="A preset whose settings apply under these.")
    overwrite: bool | None = Field(None, description="Replace an asset with the same public id (the default); "
                                                     "off, the existing asset is the answer.")
    tags: Texts = Field(default_factory=list, max_length=1000, description="Tags of the new asset.")
    context: dict[str, Scalar] = Field(default_factory=dict, max_length=100,
                                       description="Contextual metadata: key -> value.")
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=100,
                                     description="Structured metadata: field external id -> value.")
    moderation: Literal["", "manual"] = Field("", description="manual: queue the asset for moderation.")
    access_mode: Literal["", "public", "authenticated"] = Field("", description="public or authenticated.")
    eager: Texts = Field(default_factory=list, max_length=20,
                         description="Transformations to render now: w_320,c_fill/webp.")


def upload_options(params: Params) -> dict[str, Any]:
    """The Upload API parameters the block sets (left out when not set, so a preset's apply)."""
    options: dict[str, Any] = {"resource_type": params.resource_type, "type": params.type}
    for name in ("public_id", "folder", "display_name", "upload_preset", "moderation", "access_mode"):
        if getattr(params, name):
            options[name] = getattr(params, name)
    for name in ("asset_folder", "use_filename", "unique_filename", "overwrite"):
        if getattr(params, name) is not None:
            options[name] = getattr(params, name)
    if params.tags:
        options["tags"] = list(params.tags)
    if params.context:
        options["context"] = dict(params.context)
    if params.metadata:
        options["metadata"] = dict(params.metadata)
    if params.eager:
        options["eager"] = json.dumps(params.eager)
    return options


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.upload_from_url(params.url, upload_options(params)))


BLOCK = BlockType(
    name="asset.upload_from_url", title="Upload from URL", category="asset",
    description="Uploads a file from a URL as a new asset (or a new version of one), with tags, context, "
                "metadata, a preset and eager transformations.",
    Params=Params, ports=("ok",), run=run)
