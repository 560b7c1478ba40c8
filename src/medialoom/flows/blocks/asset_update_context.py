"""asset.update_context: sets or removes contextual metadata on assets (the Upload API's
``context``).

``add`` sets the given keys (others stay); ``remove_all`` removes every key. The output, on
``ok``: ``{"public_ids": [...]}``, the assets found. One ``resource_context_changed`` event
describes every asset that changed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from medialoom.flows.assets import ManyAssetsParams
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome

Scalar = str | bool | int | float


class Params(ManyAssetsParams):
    command: Literal["add", "remove_all"] = Field("add", description="add (these keys) or remove_all.")
    context: dict[str, Scalar] = Field(default_factory=dict, max_length=100,
                                       description="Key -> value (text; numbers and true/false are written "
                                                   "as text). Not with remove_all.")

    @model_validator(mode="after")
    def _some_context(self) -> Params:
        if self.command == "add" and not self.context:
            raise ValueError("add needs context")
        return self


def run(ctx: BlockContext, params: Params) -> Outcome:
    context = {key: value if isinstance(value, str) else _text(value) for key, value in params.context.items()}
    return Outcome("ok", ctx.assets.update_context(params.command, context, params.public_ids,
                                                   resource_type=params.resource_type, type=params.type))


def _text(value: bool | int | float) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


BLOCK = BlockType(
    name="asset.update_context", title="Update context", category="asset",
    description="Sets contextual metadata (key = value) on one or more assets, or removes all of it.",
    Params=Params, ports=("ok",), run=run)
