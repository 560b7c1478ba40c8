"""The logic blocks (condition, switch, for_each, delay, stop, set_variables) run through the real
interpreter with the executor the service will have: templates resolved, parameters validated by
the block's model, then ``BLOCK.run``. Bad parameters fail with errors naming them, and the
catalogue lists every block from its entry points."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from medialoom.flows import catalog, expressions
from medialoom.flows.blocks import delay
from medialoom.flows.blocks.base import BlockError, BlockType
from medialoom.flows.definition import FlowInvalid, parse
from medialoom.flows.interpreter import BlockCall, Failure, Interpreter, Result
from medialoom.flows.runs import StepContext
from medialoom.net.addresses import AllowList

LOGIC = ("condition", "switch", "for_each", "delay", "stop", "set_variables")


class NoParams(BaseModel):
    pass


@dataclass(frozen=True)
class Kind:
    Params: type[BaseModel]
    ports: tuple[str, ...]


TRIGGERS = {"manual": Kind(NoParams, ("out",))}


class BlockExecutor:
    """What the service's executor does with one block call: resolve, validate, run."""

    def __init__(self, blocks: Mapping[str, BlockType]) -> None:
        self.blocks = blocks
        self.ran: list[tuple[str, tuple[int, ...], Any]] = []
        self.slept: list[float] = []

    def run_block(self, call: BlockCall) -> Result | Failure:
        block = self.blocks[call.type]
        try:
            resolved = expressions.resolve(call.params, call.context, path=f"{call.block}.params")
            params = block.Params.model_validate(resolved)
            self.ran.append((call.block, call.iteration, resolved))
            # The engine's own context; this process has no asset port, so asset blocks would fail.
            context = StepContext("run-1", call.block, 1, f"run-1:{call.block}:{call.iteration}", call.context,
                                  time.monotonic() + 30, AllowList(), environment_id=0, flow_id="flw_test",
                                  inbox=None, calls=None)
            return block.run(context, params)
        except expressions.ExpressionError as error:
            return Failure(str(error), "expression")
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or '(params)'}: {item['msg']}"
                                 for item in error.errors())
            return Failure(f"invalid parameters of {call.block!r}: {problems}")
        except BlockError as error:
            return Failure(str(error))

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def flow(blocks: dict, edges: list, **extra: Any) -> dict:
    return {"name": "test", "trigger": {"type": "manual"}, "blocks": blocks, "edges": edges, **extra}


def run(document: dict, trigger: dict | None = None):
    executor = BlockExecutor(catalog.load_blocks())
    flow_document = parse(document, catalog.load_blocks(), TRIGGERS)
    return Interpreter(flow_document, executor, env={"REGION": "eu"}).run(trigger or {}), executor


def ran(executor: BlockExecutor) -> list[str]:
    return [name for name, _, _ in executor.ran]


def note(name: str, value: Any = "x") -> dict:
    """A block that only records that it ran (set_variables is the simplest side-effect-free one)."""
    return {"type": "set_variables", "params": {"values": {name: value}}}


# -- condition ----------------------------------------------------------------------------------

CONDITION = flow(
    {"approved": {"type": "condition",
                  "params": {"expression": "trigger.status == 'approved' && size(trigger.tags) > 0"}},
     "yes": note("yes", "{{ steps.approved.output.result }}"),
     "no": note("no")},
    [{"from": "trigger", "to": "approved"},
     {"from": "approved", "port": "true", "to": "yes"},
     {"from": "approved", "port": "false", "to": "no"}])


def test_condition_takes_the_true_or_the_false_port():
    result, executor = run(CONDITION, {"status": "approved", "tags": ["a"]})
    assert result.status == "succeeded" and ran(executor) == ["approved", "yes"]
    assert result.steps["approved"] == {"result": True} and result.variables == {"yes": True}

    result, executor = run(CONDITION, {"status": "approved", "tags": []})
    assert ran(executor) == ["approved", "no"] and result.steps["approved"] == {"result": False}


def test_a_condition_that_is_not_a_bool_or_fails_names_the_parameter():
    document = flow({"check": {"type": "condition", "params": {"expression": "trigger.status"}}},
                    [{"from": "trigger", "to": "check"}])
    result, _ = run(document, {"status": "approved"})
    assert result.status == "failed"
    assert "'expression'" in result.error and "true or false" in result.error

    result, _ = run(document, {})
    assert result.status == "failed" and "'expression'" in result.error


def test_a_condition_written_as_a_whole_template_is_taken_as_its_value():
    document = flow({"big": {"type": "condition", "params": {"expression": "{{ trigger.bytes > 10 }}"}},
                     "yes": note("big", True)},
                    [{"from": "trigger", "to": "big"}, {"from": "big", "port": "true", "to": "yes"}])
    result, executor = run(document, {"bytes": 11})
    assert ran(executor) == ["big", "yes"] and result.steps["big"] == {"result": True}
    assert run(document, {"bytes": 1})[0].steps["big"] == {"result": False}
    result, _ = run(document, {"bytes": "x"})
    assert result.status == "failed" and "'big.params.expression'" in result.error


def test_a_condition_needs_an_expression():
    with pytest.raises(FlowInvalid, match="blocks.check.params.expression"):
        parse(flow({"check": {"type": "condition", "params": {}}}, [{"from": "trigger", "to": "check"}]),
              catalog.load_blocks(), TRIGGERS)


# -- switch -------------------------------------------------------------------------------------

SWITCH = flow(
    {"kind": {"type": "switch", "params": {
        "value": "{{ trigger.resource_type }}",
        "cases": [{"label": "images", "equals": "image"},
                  {"label": "media", "one_of": ["video", "audio"]},
                  {"label": "big", "expression": "trigger.bytes > 1000000"}]}},
     "images": note("went", "images"), "media": note("went", "media"), "big": note("went", "big"),
     "other": note("went", "other")},
    [{"from": "trigger", "to": "kind"},
     {"from": "kind", "port": "case_1", "to": "images"},
     {"from": "kind", "port": "case_2", "to": "media"},
     {"from": "kind", "port": "case_3", "to": "big"},
     {"from": "kind", "port": "default", "to": "other"}])


@pytest.mark.parametrize("trigger, went, case", [
    ({"resource_type": "image", "bytes": 5}, "images", 1),
    ({"resource_type": "video", "bytes": 5}, "media", 2),
    ({"resource_type": "audio", "bytes": 5}, "media", 2),
    ({"resource_type": "raw", "bytes": 2_000_000}, "big", 3),
    ({"resource_type": "raw", "bytes": 5}, "other", None),
])
def test_switch_takes_the_first_matching_case_or_default(trigger, went, case):
    result, _ = run(SWITCH, trigger)
    assert result.status == "succeeded" and result.variables == {"went": went}
    assert result.steps["kind"]["case"] == case
    assert result.steps["kind"]["port"] == (f"case_{case}" if case else "default")
    assert result.steps["kind"]["value"] == trigger["resource_type"]


@pytest.mark.parametrize("value, equals, matches", [
    (1, 1.0, True), (1, True, False), (True, True, True), (0, False, False), ("1", 1, False), (None, None, True),
    (None, "", False), ([1, "a"], [1, "a"], True), ([1], [True], False), ({"a": 1}, {"a": 1}, True),
    ({"a": 1}, {"a": 1, "b": 2}, False),
])
def test_switch_compares_as_json(value, equals, matches):
    document = flow({"s": {"type": "switch", "params": {"value": value, "cases": [{"equals": equals}]}}},
                    [{"from": "trigger", "to": "s"}])
    result, _ = run(document)
    assert result.steps["s"]["port"] == ("case_1" if matches else "default")


def test_switch_expressions_fail_naming_their_case():
    document = flow({"s": {"type": "switch", "params": {"cases": [{"equals": 1}, {"expression": "trigger.size"}]}}},
                    [{"from": "trigger", "to": "s"}])
    result, _ = run(document, {"size": 3})
    assert result.status == "failed" and "cases[1].expression" in result.error


@pytest.mark.parametrize("params, problem", [
    ({"value": 1, "cases": []}, "blocks.s.params.cases"),
    ({"value": 1, "cases": [{"equals": 1}] * 11}, "at most 10"),
    ({"value": 1, "cases": [{"label": "x"}]}, "exactly one of equals, one_of or expression"),
    ({"value": 1, "cases": [{"equals": 1, "expression": "true"}]}, "this one has equals and expression"),
    ({"value": 1, "cases": [{"when": 1}]}, "Extra inputs"),
])
def test_bad_switch_cases_are_refused_when_saving(params, problem):
    with pytest.raises(FlowInvalid, match=problem):
        parse(flow({"s": {"type": "switch", "params": params}}, [{"from": "trigger", "to": "s"}]),
              catalog.load_blocks(), TRIGGERS)


def test_switch_ports_are_case_1_to_case_10_and_default():
    with pytest.raises(FlowInvalid, match="has no port 'case_11'"):
        parse(flow({"s": {"type": "switch", "params": {"cases": [{"equals": 1}]}}, "t": note("t")},
                   [{"from": "trigger", "to": "s"}, {"from": "s", "port": "case_11", "to": "t"}]),
              catalog.load_blocks(), TRIGGERS)


def test_templated_cases_are_checked_when_the_block_runs():
    document = flow({"s": {"type": "switch", "params": {"value": 1, "cases": "{{ trigger.cases }}"}}},
                    [{"from": "trigger", "to": "s"}])
    assert run(document, {"cases": [{"equals": 1}]})[0].steps["s"]["port"] == "case_1"
    result, _ = run(document, {"cases": [{"equals": 1, "one_of": [1]}]})
    assert result.status == "failed" and "invalid parameters of 's'" in result.error and "cases.0" in result.error


# -- for_each -----------------------------------------------------------------------------------

LOOP = flow(
    {"each": {"type": "for_each", "params": {"items": "{{ trigger.assets }}", "max_items": 3}},
     "pick": {"type": "condition", "params": {"expression": "item.bytes > 10"}},
     "remember": note("last_big", "{{ item.public_id }}#{{ index }}"),
     "after": note("count", "{{ steps.each.output.count }}")},
    [{"from": "trigger", "to": "each"},
     {"from": "each", "port": "item", "to": "pick"},
     {"from": "pick", "port": "true", "to": "remember"},
     {"from": "each", "port": "done", "to": "after"}])


def test_for_each_runs_its_item_port_per_item_then_done():
    assets = [{"public_id": "a", "bytes": 50}, {"public_id": "b", "bytes": 5}, {"public_id": "c", "bytes": 99}]
    result, executor = run(LOOP, {"assets": assets})
    assert result.status == "succeeded"
    assert [(name, iteration) for name, iteration, _ in executor.ran] == [
        ("each", ()), ("pick", (0,)), ("remember", (0,)), ("pick", (1,)), ("pick", (2,)), ("remember", (2,)),
        ("after", ())]
    assert result.variables == {"last_big": "c#2", "count": 3}


def test_for_each_over_nothing_goes_straight_to_done():
    result, executor = run(LOOP, {"assets": []})
    assert ran(executor) == ["each", "after"] and result.variables == {"count": 0}


def test_for_each_refuses_more_items_than_max_items_naming_the_count():
    result, executor = run(LOOP, {"assets": [{"public_id": str(n), "bytes": 1} for n in range(4)]})
    assert result.status == "failed" and "4 items" in result.error and "max_items (3)" in result.error
    assert ran(executor) == ["each"]


@pytest.mark.parametrize("params, problem", [
    ({"items": [1], "max_items": 10_001}, "max_items"),
    ({"items": [1], "max_items": 0}, "max_items"),
    ({"items": [1], "concurrency": 0}, "concurrency"),
    ({"items": [1], "concurrency": 21}, "concurrency"),
    ({"items": {"a": 1}}, "items"),
    ({}, "items"),
])
def test_bad_for_each_params_are_refused(params, problem):
    with pytest.raises(FlowInvalid, match=f"blocks.each.params.{problem}"):
        parse(flow({"each": {"type": "for_each", "params": params}}, [{"from": "trigger", "to": "each"}]),
              catalog.load_blocks(), TRIGGERS)


def test_items_that_resolve_to_something_else_than_a_list_fail_the_block():
    result, _ = run(LOOP, {"assets": "abc"})
    assert result.status == "failed" and "'each'" in result.error and "items" in result.error


# -- delay --------------------------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(delay, "_now", lambda: NOW)


def delayed(params: dict) -> dict:
    return flow({"wait": {"type": "delay", "params": params}, "then": note("done", True)},
                [{"from": "trigger", "to": "wait"}, {"from": "wait", "port": "ok", "to": "then"}])


def test_delay_sleeps_through_the_executor_then_continues(frozen_now):
    result, executor = run(delayed({"seconds": "{{ trigger.wait }}"}), {"wait": 90})
    assert result.status == "succeeded" and executor.slept == [90]
    assert result.steps["wait"] == {"seconds": 90, "until": "2026-03-01T09:01:30Z"}
    assert result.variables == {"done": True}


def test_delay_until_a_moment(frozen_now):
    result, executor = run(delayed({"until": "2026-03-01T10:30:00+01:00"}))
    assert executor.slept == [1800] and result.steps["wait"]["until"] == "2026-03-01T09:30:00Z"

    result, executor = run(delayed({"until": "2026-02-01T00:00:00Z"}))  # past: no wait
    assert result.status == "succeeded" and executor.slept == [0]

    result, executor = run(delayed({"until": "2026-04-15T00:00:00Z"}))
    assert result.status == "failed" and "more than 30 days ahead" in result.error and executor.slept == []


def test_a_delay_needs_seconds_or_until():
    result, _ = run(delayed({}))
    assert result.status == "failed" and "give either seconds or until" in result.error


@pytest.mark.parametrize("params, problem", [
    ({"seconds": 5, "until": "2026-03-01T10:00:00Z"}, "either seconds or until, not both"),
    ({"seconds": -1}, "seconds"),
    ({"seconds": 31 * 24 * 3600}, "seconds"),
    ({"until": "2026-03-01T10:00:00"}, "timezone"),
    ({"until": "next tuesday"}, "until"),
])
def test_bad_delays_are_refused(params, problem):
    with pytest.raises(FlowInvalid, match=problem):
        parse(delayed(params), catalog.load_blocks(), TRIGGERS)


# -- stop ---------------------------------------------------------------------------------------

def stopping(params: dict) -> dict:
    return flow({"first": note("a", 1), "halt": {"type": "stop", "params": params}, "never": note("b", 2)},
                [{"from": "trigger", "to": "first"}, {"from": "first", "port": "ok", "to": "halt"},
                 {"from": "trigger", "to": "never"}])


def test_stop_ends_the_run_early_as_succeeded_or_failed():
    result, executor = run(stopping({"message": "nothing to do"}))
    assert result.status == "succeeded" and result.error == "nothing to do"
    assert ran(executor) == ["first", "halt"] and result.variables == {"a": 1}

    result, _ = run(stopping({"status": "failed", "message": "{{ 'bad input: ' + string(vars.a) }}"}))
    assert result.status == "failed" and result.error == "bad input: 1"


def test_stop_has_no_ports_and_only_two_statuses():
    with pytest.raises(FlowInvalid) as raised:
        parse(flow({"halt": {"type": "stop", "params": {"status": "cancelled"}}, "next": note("x")},
                   [{"from": "trigger", "to": "halt"}, {"from": "halt", "port": "ok", "to": "next"}]),
              catalog.load_blocks(), TRIGGERS)
    text = str(raised.value)
    assert "blocks.halt.params.status" in text and "has no port 'ok' (it has error)" in text


# -- set_variables ------------------------------------------------------------------------------

def test_set_variables_are_read_by_later_blocks_and_overwrite():
    document = flow(
        {"one": {"type": "set_variables", "params": {"values": {"folder": "in/{{ trigger.id }}", "n": 1}}},
         "two": {"type": "set_variables", "params": {"values": {"n": "{{ vars.n + 1 }}",
                                                               "path": "{{ vars.folder }}/x"}}}},
        [{"from": "trigger", "to": "one"}, {"from": "one", "port": "ok", "to": "two"}],
        variables={"n": 0, "kept": True})
    result, _ = run(document, {"id": "42"})
    assert result.status == "succeeded"
    assert result.variables == {"n": 2, "kept": True, "folder": "in/42", "path": "in/42/x"}
    assert result.steps["two"] == {"n": 2, "path": "in/42/x"}


@pytest.mark.parametrize("values, problem", [
    ({}, "at least 1"), ({"1st": 1}, "not a variable name"), ({"a-b": 1}, "not a variable name"),
    ({"x" * 64: 1}, "not a variable name"), ({f"v{n}": n for n in range(101)}, "at most 100"),
])
def test_bad_variable_names_are_refused(values, problem):
    with pytest.raises(FlowInvalid, match=problem):
        parse(flow({"v": {"type": "set_variables", "params": {"values": values}}}, [{"from": "trigger", "to": "v"}]),
              catalog.load_blocks(), TRIGGERS)


# -- a flow using them together -----------------------------------------------------------------

def test_the_logic_blocks_compose_and_a_failure_takes_the_error_port():
    document = flow(
        {"each": {"type": "for_each", "params": {"items": "{{ trigger.files }}", "max_items": 10}},
         "kind": {"type": "switch", "params": {"value": "{{ item.format }}",
                                               "cases": [{"one_of": ["jpg", "png"]}, {"equals": "mp4"}]}},
         "image": note("last_image", "{{ item.id }}"),
         "video": note("last_video", "{{ item.id }}"),
         "odd": {"type": "delay", "params": {"seconds": "{{ -1 }}"}},
         "noted": note("odd_error", "{{ steps.odd.error.message }}"),
         "end": {"type": "stop", "params": {"message": "{{ string(steps.each.output.count) + ' files' }}"}}},
        [{"from": "trigger", "to": "each"},
         {"from": "each", "port": "item", "to": "kind"},
         {"from": "kind", "port": "case_1", "to": "image"},
         {"from": "kind", "port": "case_2", "to": "video"},
         {"from": "kind", "port": "default", "to": "odd"},
         {"from": "odd", "port": "error", "to": "noted"},
         {"from": "each", "port": "done", "to": "end"}])
    result, executor = run(document, {"files": [{"id": "a", "format": "jpg"}, {"id": "b", "format": "mp4"},
                                       {"id": "c", "format": "txt"}, {"id": "d", "format": "png"}]})
    assert result.status == "succeeded", result.error
    assert result.error == "4 files"
    assert result.variables["last_image"] == "d" and result.variables["last_video"] == "b"
    assert "invalid parameters of 'odd'" in result.variables["odd_error"]
    assert "seconds" in result.variables["odd_error"]


# -- the catalogue ------------------------------------------------------------------------------

def test_the_catalogue_lists_every_block_with_its_json_schema():
    blocks = catalog.load_blocks()
    assert set(LOGIC) | {"http.request"} <= set(blocks)
    described = catalog.describe_catalog()
    logic = [entry["type"] for entry in described if entry["category"] == "logic"]
    assert logic == sorted(logic, key=lambda n: blocks[n].title) and set(LOGIC) <= set(logic)
    assert [entry["category"] for entry in described[:len(logic)]] == ["logic"] * len(logic)
    for entry in described:
        assert set(entry) == {"type", "title", "category", "description", "version", "ports", "params"}
        assert entry["ports"][-1] == "error" and entry["title"] and entry["description"]
        assert entry["params"]["type"] == "object" and entry["params"]["properties"]
        for name, schema in entry["params"]["properties"].items():
            assert schema.get("description") or "$ref" in schema or "items" in schema, (entry["type"], name)
        json.dumps(entry)
    for name in LOGIC:
        assert blocks[name].side_effects is False and blocks[name].category == "logic"
    assert blocks["http.request"].side_effects is True and blocks["http.request"].category == "integration"


def test_load_blocks_is_cached_and_returns_a_copy():
    first = catalog.load_blocks()
    first.pop("condition")
    assert "condition" in catalog.load_blocks()
    assert catalog.load_blocks()["switch"] is first["switch"]


class Entry:
    """An entry point as importlib.metadata gives it."""

    def __init__(self, name: str, loaded: Any, dist: str | None = "someone-elses-blocks") -> None:
        self.name, self._loaded = name, loaded
        self.value = f"{dist or 'pkg'}.blocks:{name}"
        self.dist = SimpleNamespace(name=dist) if dist else None

    def load(self) -> Any:
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def plugin(name: str) -> BlockType:
    return BlockType(name, "Plugin", "integration", "A third-party block.", NoParams, ("ok",), lambda ctx, p: None)


@pytest.fixture
def entries(monkeypatch):
    found: list[Entry] = []
    monkeypatch.setattr(catalog, "entry_points", lambda group: list(found) if group == catalog.GROUP else [])
    catalog.clear_cache()
    yield found
    catalog.clear_cache()


def test_broken_third_party_blocks_are_skipped_with_a_warning(entries, caplog):
    class Unschemable(BaseModel):  # validates, but has no JSON Schema
        model_config = {"arbitrary_types_allowed": True}
        check: type = int

    entries += [Entry("good.block", plugin("good.block")),
                Entry("gone", ImportError("No module named 'gone'")),
                Entry("not.a.block", {"name": "not.a.block"}),
                Entry("renamed", plugin("other.name")),
                Entry("bad.ports", BlockType("bad.ports", "t", "logic", "d", NoParams, ("ok", "error"), print)),
                Entry("no.schema", BlockType("no.schema", "t", "logic", "d", Unschemable, ("ok",), print))]
    with caplog.at_level(logging.WARNING, logger="medialoom.flows"):
        blocks = catalog.load_blocks()
    assert list(blocks) == ["good.block"]
    warned = caplog.text
    for name, why in [("gone", "No module named"), ("not.a.block", "not a BlockType"),
                      ("renamed", "'other.name'"), ("bad.ports", "'error'"), ("no.schema", "JsonSchema")]:
        assert f"skipping block {name!r} from someone-elses-blocks" in warned and why in warned


def test_a_broken_built_in_block_is_an_error(entries):
    entries.append(Entry("condition", ImportError("boom"), dist="medialoom"))
    with pytest.raises(catalog.CatalogError, match="built-in block 'condition'.*boom"):
        catalog.load_blocks()


def test_two_blocks_with_one_name_are_an_error_naming_both(entries):
    entries += [Entry("condition", plugin("condition"), dist="medialoom"),
                Entry("condition", plugin("condition"), dist="someone-elses-blocks")]
    with pytest.raises(catalog.CatalogError) as raised:
        catalog.load_blocks()
    assert "two blocks are named 'condition'" in str(raised.value)
    assert "medialoom.blocks:condition (from medialoom)" in str(raised.value)
    assert "someone-elses-blocks.blocks:condition (from someone-elses-blocks)" in str(raised.value)
