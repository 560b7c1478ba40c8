"""condition: routes the run down ``true`` or ``false`` by a CEL expression.

The expression is bare CEL (no ``{{ }}``), evaluated against the run's expression context
(``trigger``, ``steps``, ``item``, ``index``, ``vars``, ``env``) and must give a bool. An
expression that fails (a syntax error, a missing key, a non-bool result) raises
``expressions.ExpressionError`` naming the ``expression`` parameter; it would fail again on a
retry, so the executor should treat it as final. Written as a whole ``{{ }}`` template instead,
the expression reaches the block already evaluated, and a true or false is taken as it is.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from medialoom.flows import expressions
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # StrictBool first: written as a whole template ("{{ trigger.size > 10 }}"), the expression
    # has already been evaluated when the block gets it, and true/false is taken as it is.
    expression: StrictBool | Annotated[str, Field(min_length=1, max_length=expressions.MAX_EXPRESSION)] = Field(
        description="A CEL expression giving true or false, without {{ }}: "
                    "trigger.moderation_status == 'approved' && 'hero' in trigger.tags")


def run(ctx: BlockContext, params: Params) -> Outcome:
    if isinstance(params.expression, bool):
        result = params.expression
    else:
        result = expressions.condition(params.expression, ctx.expressions, parameter="expression")
    return Outcome("true" if result else "false", {"result": result})


BLOCK = BlockType(
    name="condition", title="Condition", category="logic",
    description="Continues on the true or the false port, by a CEL expression over the trigger, "
                "earlier steps' outputs, the loop item and variables.",
    Params=Params, ports=("true", "false"), run=run, side_effects=False, pure=True)
