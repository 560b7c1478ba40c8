"""asset.set_moderation: approves or rejects an asset, or queues it for moderation again.

approved and rejected are the Admin API's update of ``moderation_status`` and write the
``moderation`` event (which moderation_changed flows start on); pending queues the asset again
as ``explicit`` with ``moderation`` does. The output, on ``ok``: the asset's details.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from medialoom.flows.assets import AssetParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    status: Literal["approved", "rejected", "pending"] = Field(
        description="approved, rejected (the asset is no longer delivered) or pending (queued again).")


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.set_moderation(params.public_id, params.status,
                                                   resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.set_moderation", title="Set moderation status", category="asset",
    description="Approves or rejects an asset (a rejected asset is not delivered), or queues it for "
                "moderation again.",
    Params=Params, ports=("ok",), run=run)
