"""asset.delivery_url: the delivery URL of an asset, with a transformation and format.

The URL is the one the SDK builds (with the asset's version), signed when ``signed`` is on and
always for private and authenticated assets. The transformation is checked as delivery
would check it. The output, on ``ok``: ``{"url", "secure_url"}``.
"""

from __future__ import annotations

from pydantic import Field

from medialoom.flows.assets import AssetParams, url_answer
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    transformation: str = Field("", max_length=4096,
                                description="Transformation components joined by /: w_320,c_fill/f_auto, "
                                            "or a named one: t_thumb.")
    format: str = Field("", max_length=16, description="The extension to deliver as (jpg, webp ...); "
                                                       "empty, the stored format.")
    signed: bool = Field(False, description="Sign the URL (needed in strict transformation mode and for "
                                            "assets with restricted access).")


def run(ctx: BlockContext, params: Params) -> Outcome:
    url = ctx.assets.delivery_url(params.public_id, transformation=params.transformation, format=params.format,
                                  resource_type=params.resource_type, type=params.type, signed=params.signed)
    return Outcome("ok", url_answer(url))


BLOCK = BlockType(
    name="asset.delivery_url", title="Delivery URL", category="asset",
    description="Builds an asset's delivery URL with a transformation (w_320,c_fill/f_auto), optionally "
                "signed.",
    Params=Params, ports=("ok",), run=run, side_effects=False)
