"""asset.set_access_control: who may view an asset (the Admin API's update of
``access_control``).

Rules are ``{"access_type": "anonymous", "start": ..., "end": ...}`` (open to everyone in that
window; either bound may be left out) or ``{"access_type": "token"}`` (a token or a signed URL
is needed outside the windows); an empty list removes every rule. Writes
``access_control_changed``. The output, on ``ok``: the asset's details.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from medialoom.flows.assets import AssetParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(AssetParams):
    access_control: list[dict[str, Any]] = Field(
        max_length=20,
        description='Access rules: [{"access_type": "anonymous", "start": "2030-01-01T00:00:00Z"}]; '
                    "[] removes every rule.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.set_access_control(params.public_id, params.access_control,
                                                       resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.set_access_control", title="Set access control", category="asset",
    description="Opens an asset to everyone within time windows, or restricts it to tokens and signed URLs.",
    Params=Params, ports=("ok",), run=run)
