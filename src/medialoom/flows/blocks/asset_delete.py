"""asset.delete: deletes an asset (the Upload API's ``destroy``).

The output, on ``ok``: ``{"result": "ok"}``, or ``{"result": "not found"}`` when there was no
such asset, as the API answers (so a retried delete is no failure). Writes ``delete``. An asset
uploaded with ``backup`` can be restored afterwards through the Admin API.
"""

from __future__ import annotations

from pydantic import Field

from medialoom.flows.assets import AssetParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    invalidate: bool = Field(False, description="Accepted as the API accepts it; derived files go with the "
                                                "asset anyway.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.delete(params.public_id, resource_type=params.resource_type, type=params.type,
                                           invalidate=params.invalidate))


BLOCK = BlockType(
    name="asset.delete", title="Delete asset", category="asset",
    description="Deletes an asset and its derived files.",
    Params=Params, ports=("ok",), run=run)
