"""asset.update_metadata: sets structured metadata on assets (the Upload API's ``metadata``).

Values are checked against the environment's metadata fields and their rules, as the API
checks them (a set field takes a list of its values' external ids; an empty value clears a
field). The output, on ``ok``: ``{"public_ids": [...]}``, the assets found. One
``resource_metadata_changed`` event describes every asset that changed.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medialoom.flows.assets import ManyAssetsParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(ManyAssetsParams):
    metadata: dict[str, Any] = Field(min_length=1, max_length=100,
                                     description='Field external id -> value: {"sku": "A-1", "colors": ["red"]}.')


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.update_metadata(params.metadata, params.public_ids,
                                                    resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.update_metadata", title="Update metadata", category="asset",
    description="Sets structured metadata fields on one or more assets, checked against the fields' rules.",
    Params=Params, ports=("ok",), run=run)
