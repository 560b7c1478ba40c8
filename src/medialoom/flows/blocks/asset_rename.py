"""asset.rename: gives an asset another public id (the Upload API's ``rename``).

The output, on ``ok``: the renamed asset, as the API answers (public_id, url ...). Writes
``rename`` (and ``delete`` for an asset overwritten at the new name). A missing asset, or an
existing one at the new name without ``overwrite``, fails the block with the API's message.
Renaming to the name it already has changes nothing, so a retried rename succeeds.
"""

from __future__ import annotations

from pydantic import Field

from medialoom.flows.assets import AssetParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    to_public_id: str = Field(min_length=1, max_length=1024,
                              description="The new public id: approved/{{ trigger.public_id }}.")
    overwrite: bool = Field(False, description="Replace an asset that has the new public id already.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.rename(params.public_id, params.to_public_id, overwrite=params.overwrite,
                                           resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.rename", title="Rename asset", category="asset",
    description="Gives an asset a new public id (moving it to another folder path), optionally replacing "
                "an asset already there.",
    Params=Params, ports=("ok",), run=run)
