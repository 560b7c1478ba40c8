"""A flow as a JSON document: one trigger, named blocks with parameters, and edges from a block's
output port to the next block. Pure: validated against a catalog of block and trigger types
that is passed in, so this module knows no block by name.

    {
      "name": "Route approved uploads",
      "trigger": {"type": "moderation_changed", "params": {"folder": "toBeModerated"}},
      "blocks": {
        "approved": {"type": "condition",
                     "params": {"expression": "trigger.moderation_status == 'approved'"}},
        "move": {"type": "asset.rename",
                 "params": {"to_public_id": "toBeModerated/approved/{{ trigger.public_id }}"},
                 "retry": {"max_attempts": 3}}
      },
      "edges": [{"from": "trigger", "to": "approved"},
                {"from": "approved", "port": "true", "to": "move"}]
    }

Edges leave the trigger from its only port, ``out``; a block's ports are its type's (``ok`` when
it has one outcome, ``true``/``false`` for a condition ...) plus ``error``, which a failed block
takes when something is connected to it. The graph has no cycles (loops are the ``for_each``
block's business) and a block runs at most once per pass. Parameters hold literal JSON values
or ``{{ … }}`` templates (flows.expressions); templated fields are type-checked when they are
resolved, at run time, and everything else when the flow is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

TRIGGER = "trigger"
TRIGGER_PORT = "out"
ERROR_PORT = "error"
MAX_BLOCKS = 200
MAX_EDGES = 1000
BLOCK_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Position(BaseModel):
    """Where the builder draws a node; the engine ignores it."""

    model_config = ConfigDict(extra="forbid")
    x: float = 0
    y: float = 0


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_attempts: int = Field(1, ge=1, le=10, description="Tries in all, the first included.")
    backoff_seconds: float = Field(2.0, ge=0, le=3600, description="Wait before the second try.")
    backoff_rate: float = Field(2.0, ge=1, le=10, description="Each later wait is this many times longer.")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt`` (2, 3, ...)."""
        return self.backoff_seconds * self.backoff_rate ** (attempt - 2)


class BlockNode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    title: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout_seconds: float = Field(300, gt=0, le=86400)
    position: Position = Field(default_factory=Position)


class TriggerNode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    position: Position = Field(default_factory=Position)


class Edge(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: str = Field(alias="from")
    port: str = TRIGGER_PORT
    target: str = Field(alias="to")


class FailureSettings(BaseModel):
    """What happens when a run fails: a message in the environment's inbox, and a notification
    (signed and retried like every other) to a URL of the team's."""

    model_config = ConfigDict(extra="forbid")
    inbox: bool = True
    notification_url: str = Field("", max_length=2000)


class FlowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_failure: FailureSettings = Field(default_factory=FailureSettings)


class FlowDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    trigger: TriggerNode
    blocks: dict[str, BlockNode] = Field(default_factory=dict)
    edges: list[Edge] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict, description="Flow variables, read as vars.<name>.")
    settings: FlowSettings = Field(default_factory=FlowSettings)

    def next_blocks(self, source: str, port: str) -> list[str]:
        """The blocks an edge from ``source``'s ``port`` leads to, in the document's order."""
        return [edge.target for edge in self.edges if edge.source == source and edge.port == port]

    def wired(self, source: str, port: str) -> bool:
        return any(edge.source == source and edge.port == port for edge in self.edges)


class NodeType(Protocol):
    """What validation needs to know of a block or trigger type (flows.blocks.base.BlockType)."""

    Params: type[BaseModel]

    @property
    def ports(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "blocks.move.params.to_public_id", "edges[2]"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class FlowInvalid(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(problem) for problem in problems))
        self.problems = problems


def parse(document: Mapping[str, Any], blocks: Mapping[str, NodeType],
          triggers: Mapping[str, NodeType]) -> FlowDocument:
    """The document as a FlowDocument, or FlowInvalid listing every problem found."""
    try:
        flow = FlowDocument.model_validate(document)
    except ValidationError as error:
        raise FlowInvalid([Problem(".".join(str(part) for part in item["loc"]) or "(document)", item["msg"])
                           for item in error.errors()]) from None
    problems = _check(flow, blocks, triggers)
    if problems:
        raise FlowInvalid(problems)
    return flow


def _check(flow: FlowDocument, blocks: Mapping[str, NodeType], triggers: Mapping[str, NodeType]) -> list[Problem]:
    problems: list[Problem] = []
    if len(flow.blocks) > MAX_BLOCKS:
        problems.append(Problem("blocks", f"at most {MAX_BLOCKS} blocks"))
    if len(flow.edges) > MAX_EDGES:
        problems.append(Problem("edges", f"at most {MAX_EDGES} edges"))

    trigger_type = triggers.get(flow.trigger.type)
    if trigger_type is None:
        problems.append(Problem("trigger.type", f"unknown trigger type {flow.trigger.type!r}"))
    else:
        problems += _check_params("trigger.params", flow.trigger.params, trigger_type.Params)

    for name, node in flow.blocks.items():
        if not BLOCK_NAME.match(name) or name == TRIGGER:
            problems.append(Problem(f"blocks.{name}", "a block name is 1-63 lower-case letters, digits and _, "
                                    f"starting with a letter, and not {TRIGGER!r}"))
        block_type = blocks.get(node.type)
        if block_type is None:
            problems.append(Problem(f"blocks.{name}.type", f"unknown block type {node.type!r}"))
            continue
        problems += _check_params(f"blocks.{name}.params", node.params, block_type.Params)

    seen: set[tuple[str, str, str]] = set()
    for index, edge in enumerate(flow.edges):
        where = f"edges[{index}]"
        if (edge.source, edge.port, edge.target) in seen:
            problems.append(Problem(where, "the same edge twice"))
        seen.add((edge.source, edge.port, edge.target))
        if edge.source == TRIGGER:
            if edge.port != TRIGGER_PORT:
                problems.append(Problem(where, f"the trigger has one port, {TRIGGER_PORT!r}"))
        elif edge.source not in flow.blocks:
            problems.append(Problem(where, f"no block {edge.source!r} to start from"))
        else:
            block_type = blocks.get(flow.blocks[edge.source].type)
            if block_type is not None and edge.port not in (*block_type.ports, ERROR_PORT):
                ports = ", ".join((*block_type.ports, ERROR_PORT))
                problems.append(Problem(where, f"{edge.source!r} has no port {edge.port!r} (it has {ports})"))
        if edge.target not in flow.blocks:
            problems.append(Problem(where, f"no block {edge.target!r} to go to"))
    if not problems:
        problems += _check_shape(flow)
    return problems


def _check_params(path: str, params: dict[str, Any], model: type[BaseModel]) -> list[Problem]:
    """Literal values are checked now; a templated value only when it is resolved at run time,
    so it stands in as the field's default, or is left out when the field has none."""
    literal = {key: value for key, value in params.items() if not _templated(value)}
    templated = set(params) - set(literal)
    problems = [Problem(f"{path}.{key}", "unknown parameter") for key in params if key not in model.model_fields]
    try:
        model.model_validate(literal)
    except ValidationError as error:
        for item in error.errors():
            loc = [str(part) for part in item["loc"]]
            if item["type"] == "missing" and loc and loc[0] in templated:
                continue
            if not loc and templated:  # a rule over several fields, some not known until run time
                continue
            problems.append(Problem(".".join([path, *loc]), item["msg"]))
    return problems


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_templated(item) for item in value.values())
    if isinstance(value, list):
        return any(_templated(item) for item in value)
    return False


def _check_shape(flow: FlowDocument) -> list[Problem]:
    """No cycles; every block reachable from the trigger (a block nothing leads to would never
    run, which is a mistake worth saying at save time)."""
    following: dict[str, list[str]] = {TRIGGER: []}
    for edge in flow.edges:
        following.setdefault(edge.source, []).append(edge.target)
    problems = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in following.get(node, []):
            if state.get(target) == 1:
                cycle = " -> ".join([*path[path.index(target):], target]) if target in path else target
                problems.append(Problem("edges", f"a cycle: {cycle} (use a for_each block to repeat)"))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    visit(TRIGGER, [TRIGGER])
    for name in flow.blocks:
        if name not in state:
            problems.append(Problem(f"blocks.{name}", "nothing leads to this block, so it would never run"))
    return problems


def json_schema() -> dict[str, Any]:
    """The document's JSON Schema (block and trigger parameters are described per type)."""
    schema = FlowDocument.model_json_schema(by_alias=True)
    schema["$id"] = "https://medialoom.dev/schemas/flow-1.json"
    schema["title"] = "medialoom flow"
    return schema


class SavedVersions:
    """Validated documents of saved versions, by (flow id, version). A saved version never
    changes, so each is validated once per process (the newest ``size`` kept). Keyed by the
    flow's public id: a database may give a deleted flow's row id to a new flow."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._documents: dict[tuple[str, int], FlowDocument] = {}

    def get(self, flow_id: str, version: int, stored: Callable[[], Any]) -> FlowDocument:
        """The version's document; ``stored()`` reads it from the database when not known yet."""
        key = (flow_id, version)
        flow = self._documents.get(key)
        if flow is None:
            flow = FlowDocument.model_validate(stored())
            if len(self._documents) >= self.size:
                self._documents.pop(next(iter(self._documents)))
            self._documents[key] = flow
        return flow
