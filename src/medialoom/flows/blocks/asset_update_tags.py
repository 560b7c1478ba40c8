"""asset.update_tags: adds, removes or replaces tags on assets (the Upload API's ``tags``).

The output, on ``ok``: ``{"public_ids": [...]}``, the assets found (missing ones are left
out, as the API does). One ``resource_tags_changed`` event describes every asset that changed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medialoom.flows.assets import ManyAssetsParams, Texts
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(ManyAssetsParams):
    command: Literal["add", "remove", "replace", "remove_all"] = Field(
        "add", description="add, remove, replace (the tags become these) or remove_all.")
    tags: Texts = Field(default_factory=list, max_length=1000, description="The tags (not with remove_all).")

    @model_validator(mode="after")
    def _some_tags(self) -> Params:
        if self.command != "remove_all" and not any(tag.strip() for tag in self.tags):
            raise ValueError(f"{self.command} needs tags")
        return self


def run(ctx: BlockContext, params: Params) -> Outcome:
    return Outcome("ok", ctx.assets.update_tags(params.command, params.tags, params.public_ids,
                                                resource_type=params.resource_type, type=params.type))


BLOCK = BlockType(
    name="asset.update_tags", title="Update tags", category="asset",
    description="Adds, removes or replaces tags on one or more assets.",
    Params=Params, ports=("ok",), run=run)
