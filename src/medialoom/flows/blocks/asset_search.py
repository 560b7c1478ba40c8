"""asset.search: assets matching a Search API expression.

The output, on ``ok``: ``{"resources", "total_count", "next_cursor"}``, the resources as the
Search API lists them; ``next_cursor`` (null on the last page) continues with the next page
when given back to another search with the same expression and order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome

MAX_RESULTS = 500


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expression: str = Field(
        "", max_length=4096,
        description="A Search API expression: tags=hero AND resource_type:image AND uploaded_at>1d. "
                    "Empty, every asset.")
    max_results: int = Field(50, ge=1, le=MAX_RESULTS, description=f"At most this many (1 to {MAX_RESULTS}).")
    sort_by: list[dict[str, Literal["asc", "desc"]]] = Field(
        default_factory=list, max_length=5,
        description='The order: [{"created_at": "desc"}], a field and a direction per entry.')
    next_cursor: str | None = Field(None, max_length=4096,
                                    description="The next_cursor of an earlier search, for the next page.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    found = ctx.assets.search(params.expression, max_results=params.max_results, sort_by=params.sort_by or None,
                              next_cursor=params.next_cursor or None)
    return Outcome("ok", {"resources": found.get("resources", []), "total_count": found.get("total_count", 0),
                          "next_cursor": found.get("next_cursor")})


BLOCK = BlockType(
    name="asset.search", title="Search assets", category="asset",
    description="Finds assets with a Search API expression (tags, folders, formats, dates, metadata ...) and "
                "continues with one page of them.",
    Params=Params, ports=("ok",), run=run, side_effects=False)
