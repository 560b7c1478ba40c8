"""notify.inbox: a message in the environment's in-app inbox, with a line per asset.

The message is stored once per step: a run resumed after a crash does not post it twice.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class AssetLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_id: str = Field(min_length=1, max_length=1024)
    message: str = Field("", max_length=2000)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500, description="The message's title.")
    description: str = Field("", max_length=10_000, description="What happened, for the reader.")
    assets: list[AssetLine] = Field(default_factory=list, max_length=500,
                                    description="The assets it is about, each with a message of its own.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    notification_id = ctx.inbox.add(ctx.environment_id, kind="message", title=params.title, body=params.description,
                                    assets=[line.model_dump() for line in params.assets], flow_id=ctx.flow_id,
                                    run_id=ctx.run_id, dedupe_key=ctx.idempotency_key)
    return Outcome("ok", {"notification_id": notification_id, "posted": notification_id is not None})


BLOCK = BlockType(
    name="notify.inbox", title="In-app notification", category="notification",
    description="Post a message (a title, a description and a line per asset) to the environment's inbox.",
    Params=Params, ports=("ok",), run=run)
