"""stop: ends the run here, as succeeded or failed, with a message.

The run ends as the block says: ``succeeded`` (early, by the flow's own choice; the message
is kept as the run's note) or ``failed`` with the message as its error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Stop


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["succeeded", "failed"] = Field(
        "succeeded", description="succeeded: the run ends early without error; "
                                 "failed: the run fails with the message as its error.")
    message: str = Field("", max_length=2000, description="Why the run stopped; shown in the run log.")


def run(ctx: BlockContext, params: Params) -> Stop:
    return Stop(failed=params.status == "failed", message=params.message)


BLOCK = BlockType(
    name="stop", title="Stop", category="logic",
    description="Ends the run here, successfully or as a failure, with a message. Nothing follows it.",
    Params=Params, ports=(), run=run, side_effects=False, pure=True)
