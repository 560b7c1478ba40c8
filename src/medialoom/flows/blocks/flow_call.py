"""flow.call: run another flow (one whose trigger is "Called by another flow") with inputs, wait
for it, and pass on what it returned: its variables, its final message and its blocks' last
outputs. A failed call fails this block (its error port, if wired). The wait is bounded by this
block's timeout; the called run goes on regardless.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow_id: str = Field(min_length=1, max_length=40, description="The flow to run (flw_...).")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Its declared inputs.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    outcome = ctx.calls.call(ctx.environment_id, ctx.run_id, ctx.idempotency_key, params.flow_id, params.inputs,
                             deadline=ctx.deadline)
    return Outcome("ok", outcome)


BLOCK = BlockType(
    name="flow.call", title="Call a flow", category="logic",
    description="Run another flow with inputs and wait for what it returns (its variables and message).",
    Params=Params, ports=("ok",), run=run)
