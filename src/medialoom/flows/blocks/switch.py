"""switch: routes the run down the port of the first case that matches, else ``default``.

Ports are fixed, because a block type's ports are (the definition checks edges against them):
``case_1`` .. ``case_10`` for the cases in order, then ``default``. Each case is exactly one of

* ``equals``: the switch's ``value`` equals this JSON value (strictly: true is not 1, "1" is
  not 1; 1 and 1.0 are equal; lists and maps compare item by item);
* ``one_of``: ``value`` equals one of these;
* ``expression``: a bare CEL condition over the run's context (``value`` is not a name it can
  read: refer to the same data directly, as in ``trigger.bytes > 1000000``).

An optional ``label`` names the branch in the builder and the output. The output says which
case matched: ``{"port": "case_2", "case": 2, "label": "videos", "value": ...}`` (``case`` is
null on ``default``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medialoom.flows import expressions
from medialoom.flows.blocks.base import BlockContext, BlockType
from medialoom.flows.interpreter import Outcome

MAX_CASES = 10
DEFAULT_PORT = "default"
PORTS = (*(f"case_{number}" for number in range(1, MAX_CASES + 1)), DEFAULT_PORT)
_TESTS = ("equals", "one_of", "expression")


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field("", max_length=100, description="A name for the branch, shown in the builder.")
    equals: Any = Field(None, description="Matches when the value equals this.")
    one_of: list[Any] | None = Field(None, max_length=1000, description="Matches when the value equals one of these.")
    expression: str | None = Field(None, min_length=1, max_length=expressions.MAX_EXPRESSION,
                                   description="Matches when this CEL condition (no {{ }}) is true.")

    @model_validator(mode="after")
    def _one_test(self) -> Case:
        given = [name for name in _TESTS if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("a case has exactly one of equals, one_of or expression"
                             + (f" (this one has {' and '.join(given)})" if given else ""))
        return self


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: Any = Field(None, description="What the equals and one_of cases compare with, usually a template: "
                                         "{{ trigger.resource_type }}.")
    cases: list[Case] = Field(min_length=1, max_length=MAX_CASES,
                              description=f"Tried in order; the first match takes its port, case_1 .. "
                                          f"case_{MAX_CASES}. No match takes the default port.")


def run(ctx: BlockContext, params: Params) -> Outcome:
    for number, case in enumerate(params.cases, start=1):
        if _matches(case, number, params.value, ctx):
            port = f"case_{number}"
            return Outcome(port, {"port": port, "case": number, "label": case.label, "value": params.value})
    return Outcome(DEFAULT_PORT, {"port": DEFAULT_PORT, "case": None, "label": "", "value": params.value})


def _matches(case: Case, number: int, value: Any, ctx: BlockContext) -> bool:
    if "expression" in case.model_fields_set:
        return expressions.condition(case.expression or "", ctx.expressions,
                                     parameter=f"cases[{number - 1}].expression")
    if "one_of" in case.model_fields_set:
        return any(same(value, candidate) for candidate in case.one_of or [])
    return same(value, case.equals)


def same(a: Any, b: Any) -> bool:
    """JSON equality: a bool equals only a bool, numbers compare as numbers, text as text."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[key], b[key]) for key in a)
    if a is None or b is None:
        return a is None and b is None
    return isinstance(a, str) and isinstance(b, str) and a == b


BLOCK = BlockType(
    name="switch", title="Switch", category="logic",
    description="Continues on the port of the first matching case (case_1 .. case_10), comparing a value "
                "with each case or testing a CEL condition; default when none matches.",
    Params=Params, ports=PORTS, run=run, side_effects=False, pure=True)
