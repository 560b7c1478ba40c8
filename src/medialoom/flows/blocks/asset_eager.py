"""asset.eager: renders derived files of an asset now (``explicit`` with ``eager``).

The transformations join the asset's eager list and are rendered before the block ends, so
that their first views are served from storage. The output, on ``ok``: explicit's answer, its
``eager`` entries carrying each file's url, format, bytes, width and height (or ``status:
failed`` with the reason). An invalid transformation fails the block with the API's message.
"""

from __future__ import annotations

from pydantic import Field

from medialoom.flows.assets import AssetParams, Texts
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    transformations: Texts = Field(min_length=1, max_length=20,
                                   description="Transformations, each optionally ending with a format: "
                                               "w_320,c_fill/webp.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.eager(params.public_id, params.transformations,
                                          resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.eager", title="Eager transformations", category="asset",
    description="Renders derived versions of an asset now (w_320,c_fill/webp ...), so that their first "
                "views need no rendering.",
    Params=Params, ports=("ok",), run=run)
