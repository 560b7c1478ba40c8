"""asset.get_info: one asset's details, as the Admin API's resource detail answers them.

The output, on ``ok``: the resource (public_id, asset_id, format, version, bytes, width and
height, tags, context, metadata, moderation, derived files ...). A missing asset fails the
block with the API's message ("Resource not found - <public id>"), without another attempt.
"""

from __future__ import annotations

from medialoom.flows.assets import AssetParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    pass


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.get(params.public_id, resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.get_info", title="Get asset info", category="asset",
    description="Reads one asset's details (size, dimensions, tags, context, metadata, moderation) as the "
                "Admin API shows them.",
    Params=Params, ports=("ok",), run=run, side_effects=False)
