"""set_variables: sets run variables, read by later blocks as ``vars.<name>``.

Variables start as the flow's ``variables`` and last for the run; a later set_variables
overwrites a name. Values are any JSON (usually templates over earlier outputs).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import SetVariables

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_VARIABLES = 100


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: dict[str, Any] = Field(
        min_length=1, max_length=MAX_VARIABLES,
        description="Variable name -> value; names are letters, digits and _ (not starting with a digit), "
                    "so that an expression can read them as vars.<name>.")

    @field_validator("values")
    @classmethod
    def _names(cls, values: dict[str, Any]) -> dict[str, Any]:
        bad = [name for name in values if not NAME.match(name)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a variable name (1-63 letters, digits and _, "
                             "not starting with a digit)")
        return values


def run(ctx: BlockContext, params: Params) -> SetVariables:
    return SetVariables(dict(params.values))


BLOCK = BlockType(
    name="set_variables", title="Set variables", category="logic",
    description="Sets run variables that later blocks read as vars.<name>.",
    Params=Params, ports=("ok",), run=run, side_effects=False, pure=True)
