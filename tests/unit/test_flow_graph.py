"""Flow documents are validated with every problem named, and the interpreter walks them as a
flow author expects: branches, errors, loops, stops, variables and a deterministic call order
(a durable runtime replays runs from it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel

from medialoom.flows import expressions
from medialoom.flows.definition import FlowInvalid, json_schema, parse
from medialoom.flows.interpreter import (
    BlockCall,
    Failure,
    Interpreter,
    Loop,
    Outcome,
    SetVariables,
    Sleep,
    Stop,
)


class ConditionParams(BaseModel):
    expression: str


class ActionParams(BaseModel):
    value: Any = None
    fail: bool = False
    times: int = 1


class LoopParams(BaseModel):
    items: list[Any]
    concurrency: int = 1


class NoParams(BaseModel):
    pass


@dataclass(frozen=True)
class Kind:
    Params: type[BaseModel]
    ports: tuple[str, ...]


BLOCKS = {
    "condition": Kind(ConditionParams, ("true", "false")),
    "action": Kind(ActionParams, ("ok",)),
    "for_each": Kind(LoopParams, ("item", "done")),
    "stop": Kind(NoParams, ()),
    "set": Kind(NoParams, ("ok",)),
    "delay": Kind(NoParams, ("ok",)),
}
TRIGGERS = {"manual": Kind(NoParams, ("out",))}


class Recorder:
    """Runs the fake blocks and records every call, as a durable runtime's steps would be."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[int, ...], Any]] = []
        self.slept: list[float] = []

    def run_block(self, call: BlockCall):
        try:
            params = expressions.resolve(call.params, call.context, path=f"{call.block}.params")
        except expressions.ExpressionError as error:
            return Failure(str(error), "expression")
        self.calls.append((call.block, call.iteration, params))
        if call.type == "condition":
            return Outcome("true" if expressions.condition(params["expression"], call.context) else "false")
        if call.type == "action":
            return Failure("it broke") if params.get("fail") else Outcome("ok", {"value": params.get("value")})
        if call.type == "for_each":
            return Loop(params["items"], params.get("concurrency", 1))
        if call.type == "stop":
            return Stop(failed=False, message="enough")
        if call.type == "set":
            return SetVariables({"counter": 1})
        if call.type == "delay":
            return Sleep(5, {"slept": 5})
        raise AssertionError(call.type)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def flow(blocks: dict, edges: list, **extra) -> dict:
    return {"name": "test", "trigger": {"type": "manual"}, "blocks": blocks, "edges": edges, **extra}


def run(document: dict, trigger: dict | None = None):
    recorder = Recorder()
    result = Interpreter(parse(document, BLOCKS, TRIGGERS), recorder, env={"REGION": "eu"}).run(trigger or {})
    return result, recorder


MODERATION = flow(
    {"approved": {"type": "condition", "params": {"expression": "trigger.status == 'approved'"}},
     "move": {"type": "action", "params": {"value": "approved/{{ trigger.public_id }}"}},
     "tell": {"type": "action", "params": {"value": "{{ steps.move.output.value }}"}},
     "reject": {"type": "action", "params": {"value": "rejected"}}},
    [{"from": "trigger", "to": "approved"},
     {"from": "approved", "port": "true", "to": "move"},
     {"from": "move", "port": "ok", "to": "tell"},
     {"from": "approved", "port": "false", "to": "reject"}])


def test_a_condition_picks_a_branch_and_later_blocks_read_earlier_outputs():
    result, recorder = run(MODERATION, {"status": "approved", "public_id": "shoe"})
    assert result.status == "succeeded"
    assert [name for name, _, _ in recorder.calls] == ["approved", "move", "tell"]
    assert result.steps["tell"] == {"value": "approved/shoe"}

    result, recorder = run(MODERATION, {"status": "rejected", "public_id": "shoe"})
    assert [name for name, _, _ in recorder.calls] == ["approved", "reject"]


def test_the_same_inputs_make_the_same_calls_in_the_same_order():
    first = run(MODERATION, {"status": "approved", "public_id": "x"})[1].calls
    assert first == run(MODERATION, {"status": "approved", "public_id": "x"})[1].calls


def test_a_failed_block_takes_its_error_port_or_fails_the_run():
    wired = flow({"risky": {"type": "action", "params": {"fail": True}},
                  "cleanup": {"type": "action", "params": {"value": "{{ steps.risky.error.message }}"}}},
                 [{"from": "trigger", "to": "risky"}, {"from": "risky", "port": "error", "to": "cleanup"}])
    result, _ = run(wired)
    assert result.status == "succeeded" and result.steps["cleanup"] == {"value": "it broke"}

    unwired = flow({"risky": {"type": "action", "params": {"fail": True}}}, [{"from": "trigger", "to": "risky"}])
    result, _ = run(unwired)
    assert result.status == "failed" and "'risky'" in result.error and "it broke" in result.error


def test_an_expression_error_fails_the_block_naming_the_parameter():
    document = flow({"bad": {"type": "action", "params": {"value": "{{ trigger.missing.deeper }}"}}},
                    [{"from": "trigger", "to": "bad"}])
    result, _ = run(document, {})
    assert result.status == "failed" and "bad.params.value" in result.error


def test_for_each_runs_its_body_once_per_item_then_done():
    document = flow(
        {"each": {"type": "for_each", "params": {"items": "{{ trigger.tags }}"}},
         "tag": {"type": "action", "params": {"value": "{{ index }}:{{ item }}"}},
         "after": {"type": "action", "params": {"value": "{{ steps.each.output.count }}"}}},
        [{"from": "trigger", "to": "each"}, {"from": "each", "port": "item", "to": "tag"},
         {"from": "each", "port": "done", "to": "after"}])
    result, recorder = run(document, {"tags": ["a", "b", "c"]})
    assert [(name, iteration, params.get("value", params.get("items")))
            for name, iteration, params in recorder.calls] == [
        ("each", (), ["a", "b", "c"]), ("tag", (0,), "0:a"), ("tag", (1,), "1:b"), ("tag", (2,), "2:c"),
        ("after", (), 3)]
    assert result.status == "succeeded"


def test_concurrent_items_start_from_the_loop_and_apply_their_results_in_item_order():
    document = flow(
        {"each": {"type": "for_each", "params": {"items": "{{ trigger.items }}", "concurrency": 3}},
         "tag": {"type": "action", "params": {
             "value": "{{ string(item) + ' saw ' + (has(steps.tag) ? steps.tag.output.value : 'nothing') }}",
             "fail": "{{ item == 2 }}"}},
         "after": {"type": "action", "params": {"value": "{{ steps.tag.output.value }}"}}},
        [{"from": "trigger", "to": "each"}, {"from": "each", "port": "item", "to": "tag"},
         {"from": "each", "port": "done", "to": "after"}])
    result, recorder = run(document, {"items": [1, 3]})
    # One after another, item 3 would have seen item 1's output; side by side, each sees the loop's start.
    assert [params["value"] for name, _, params in recorder.calls if name == "tag"] == ["1 saw nothing", "3 saw nothing"]
    assert result.status == "succeeded" and result.steps["after"] == {"value": "3 saw nothing"}

    result, recorder = run(document, {"items": [1, 2, 3]})
    assert [iteration for name, iteration, _ in recorder.calls if name == "tag"] == [(0,), (1,), (2,)]
    assert result.status == "failed" and "'tag'" in result.error  # item 2 failed; item 3 still ran
    assert "after" not in result.steps


def test_stop_ends_the_run_and_variables_and_delays_are_carried_out():
    document = flow(
        {"set": {"type": "set"}, "wait": {"type": "delay"},
         "use": {"type": "action", "params": {"value": "{{ vars.counter + 1 }}/{{ env.REGION }}"}},
         "stop": {"type": "stop"}, "never": {"type": "action"}},
        [{"from": "trigger", "to": "set"}, {"from": "set", "port": "ok", "to": "wait"},
         {"from": "wait", "port": "ok", "to": "use"}, {"from": "use", "port": "ok", "to": "stop"},
         {"from": "trigger", "to": "never"}])
    result, recorder = run(document, {})
    assert result.status == "succeeded" and result.error == "enough"
    assert recorder.slept == [5]
    assert result.steps["use"] == {"value": "2/eu"}
    assert "never" not in [name for name, _, _ in recorder.calls]  # the run stopped before the sibling


def test_a_block_two_branches_lead_to_runs_once():
    document = flow({"a": {"type": "action"}, "b": {"type": "action"}, "join": {"type": "action"}},
                    [{"from": "trigger", "to": "a"}, {"from": "trigger", "to": "b"},
                     {"from": "a", "port": "ok", "to": "join"}, {"from": "b", "port": "ok", "to": "join"}])
    _, recorder = run(document)
    assert [name for name, _, _ in recorder.calls] == ["a", "join", "b"]


@pytest.mark.parametrize(("document", "expected"), [
    (flow({"x": {"type": "nope"}}, [{"from": "trigger", "to": "x"}]), "blocks.x.type: unknown block type 'nope'"),
    (flow({"x": {"type": "action", "params": {"times": "many"}}}, [{"from": "trigger", "to": "x"}]),
     "blocks.x.params.times"),
    (flow({"x": {"type": "action", "params": {"colour": 1}}}, [{"from": "trigger", "to": "x"}]), None),
    (flow({"x": {"type": "action"}}, [{"from": "trigger", "to": "x"}, {"from": "x", "port": "maybe", "to": "x"}]),
     "'x' has no port 'maybe'"),
    (flow({"x": {"type": "action"}}, [{"from": "trigger", "to": "y"}]), "no block 'y' to go to"),
    (flow({"x": {"type": "action"}, "y": {"type": "action"}},
          [{"from": "trigger", "to": "x"}, {"from": "x", "port": "ok", "to": "y"}, {"from": "y", "port": "ok", "to": "x"}]),
     "a cycle: x -> y -> x"),
    (flow({"x": {"type": "action"}, "lonely": {"type": "action"}}, [{"from": "trigger", "to": "x"}]),
     "blocks.lonely: nothing leads to this block"),
    (flow({"Bad Name": {"type": "action"}}, [{"from": "trigger", "to": "Bad Name"}]), "blocks.Bad Name"),
    (flow({}, [], trigger={"type": "cron"}), None),
    ({"name": "", "trigger": {"type": "manual"}}, "name"),
    (flow({"c": {"type": "condition"}}, [{"from": "trigger", "to": "c"}]), "blocks.c.params.expression"),
])
def test_invalid_documents_are_refused_with_every_problem_named(document, expected):
    with pytest.raises(FlowInvalid) as refused:
        parse(document, BLOCKS, TRIGGERS)
    if expected:
        assert expected in str(refused.value)


def test_templated_parameters_are_type_checked_when_resolved_not_when_saved():
    document = flow({"x": {"type": "action", "params": {"times": "{{ trigger.n }}"}},
                     "c": {"type": "condition", "params": {"expression": "{{ vars.rule }}"}}},
                    [{"from": "trigger", "to": "x"}, {"from": "x", "port": "ok", "to": "c"}])
    parse(document, BLOCKS, TRIGGERS)


def test_the_json_schema_describes_the_document():
    schema = json_schema()
    assert schema["title"] == "medialoom flow"
    assert {"name", "trigger", "blocks", "edges"} <= set(schema["properties"])
    edge = schema["$defs"]["Edge"]["properties"]
    assert {"from", "to", "port"} <= set(edge)
