"""for_each: runs the blocks on its ``item`` port once per item of a list, then ``done``.

Inside the loop ``item`` and ``index`` name the current item and its position; each item is a
pass of its own (a block runs once per item). ``max_items`` caps the list: a longer one fails
the block, naming the count, rather than starting a runaway fan-out (reliability WF-09).

``concurrency`` above 1 runs up to that many items at once (each a durable child of the run).
Then each item sees the run as it was when the loop began, not what other items produced; once
all are done their outputs and variables apply in item order, and the first item (in order)
that failed fails the run. Items start in order, so one slow item holds back the start of
those more than ``concurrency`` places after it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.blocks.base import BlockContext, BlockError, BlockType
from medialoom.flows.interpreter import Loop

DEFAULT_MAX_ITEMS = 1000
HARD_MAX_ITEMS = 10_000


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Any] = Field(description="The list to go through, usually a template: {{ trigger.resources }}.")
    max_items: int = Field(DEFAULT_MAX_ITEMS, ge=1, le=HARD_MAX_ITEMS,
                           description="A longer list fails the block instead of looping.")
    concurrency: int = Field(1, ge=1, le=20,
                             description="Items to run at once (1: one after another, each seeing what "
                                         "the one before produced).")


def run(ctx: BlockContext, params: Params) -> Loop:
    if len(params.items) > params.max_items:
        raise BlockError(f"{len(params.items)} items to loop over, more than max_items ({params.max_items})")
    return Loop(list(params.items), params.concurrency)


BLOCK = BlockType(
    name="for_each", title="For each", category="logic",
    description="Runs the blocks on the item port once per item of a list (as item and index), "
                "then continues on the done port.",
    Params=Params, ports=("item", "done"), run=run, side_effects=False, pure=True)
