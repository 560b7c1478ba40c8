"""Fake ``RunHooks`` for the runtime tests: a tiny block catalog and a journal of every attempt
(started / finished markers with times), in memory or in a JSON-lines file that survives a
killed process (each line is written with one ``write`` and flushed)."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from medialoom.flows import expressions
from medialoom.flows.definition import FlowDocument, parse
from medialoom.flows.interpreter import BlockCall, Failure, Loop, Outcome, RunResult, Sleep
from medialoom.flows.runtime.base import RunSpec


class ActionParams(BaseModel):
    value: Any = None
    sleep: float = 0  # seconds the attempt takes
    fail_attempts: int = 0  # the first N attempts fail
    raise_attempts: int = 0  # the first N attempts raise instead of answering a Failure
    fatal: bool = False  # fail with a Failure that another attempt would repeat (not retried)


class NoParams(BaseModel):
    pass


class DelayParams(BaseModel):
    seconds: float


class LoopParams(BaseModel):
    items: list[Any]
    concurrency: int = 1


@dataclass(frozen=True)
class Kind:
    Params: type[BaseModel]
    ports: tuple[str, ...]


BLOCKS = {"action": Kind(ActionParams, ("ok",)), "delay": Kind(DelayParams, ("ok",)),
          "for_each": Kind(LoopParams, ("item", "done"))}
TRIGGERS = {"manual": Kind(NoParams, ("out",))}


def chain(*blocks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A flow document running blocks b1, b2 ... one after the other; each dict is a block's
    params plus optional ``retry`` and ``error_to`` (a block name the error port leads to)."""
    nodes: dict[str, Any] = {}
    edges: list[dict[str, Any]] = []
    previous = "trigger"
    for index, spec in enumerate(blocks, 1):
        spec = dict(spec)
        name = spec.pop("name", f"b{index}")
        node: dict[str, Any] = {"type": "action", "params": {k: v for k, v in spec.items()
                                                             if k not in ("retry", "error_to", "after")}}
        if "retry" in spec:
            node["retry"] = spec["retry"]
        nodes[name] = node
        source = spec.get("after", previous)
        edges.append({"from": source, "to": name} if source == "trigger" else {"from": source, "port": "ok", "to": name})
        if "error_to" in spec:
            edges.append({"from": name, "port": "error", "to": spec["error_to"]})
        if "after" not in spec:
            previous = name
    return {"name": "test", "trigger": {"type": "manual"}, "blocks": nodes, "edges": edges, **extra}


class Journal:
    """Events, in memory and (when a path is given) appended to a JSON-lines file."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, **event: Any) -> None:
        event.setdefault("t", time.time())
        event.setdefault("pid", os.getpid())
        with self._lock:
            self.events.append(event)
            if self.path:
                with open(self.path, "a", encoding="utf-8") as file:
                    file.write(json.dumps(event) + "\n")

    @staticmethod
    def read(path: str) -> list[dict[str, Any]]:
        if not os.path.exists(path):
            return []
        events = []
        with open(path, encoding="utf-8") as file:
            for line in file:
                if line.endswith("\n"):  # a line cut by a kill is not an event
                    events.append(json.loads(line))
        return events


class FakeHooks:
    """Runs every submitted run id with ``flows[run_id]`` (or ``default``)."""

    def __init__(self, journal: Journal, flows: dict[str, dict[str, Any]] | None = None,
                 default: dict[str, Any] | None = None) -> None:
        self.journal = journal
        self.flows = flows or {}
        self.default = default
        self.finished_results: dict[str, list[RunResult]] = {}

    def load(self, run_id: str) -> RunSpec:
        document = self.flows.get(run_id, self.default)
        if document is None:
            raise LookupError(f"run {run_id} is not known")
        flow: FlowDocument = parse(document, BLOCKS, TRIGGERS)
        self.journal.add(event="load", run=run_id)
        return RunSpec(flow, {"run": run_id}, {"REGION": "test"})

    def replayable(self, call: BlockCall) -> bool:
        return call.type == "for_each"  # as the real for_each: it only computes

    def execute(self, run_id: str, call: BlockCall, attempt: int):  # noqa: ANN201
        resolved = expressions.resolve(call.params, call.context, path=call.block)
        if call.type == "delay":
            self.journal.add(event="delay", run=run_id, block=call.block)
            return Sleep(DelayParams.model_validate(resolved).seconds, {"slept": True})
        if call.type == "for_each":
            loop = LoopParams.model_validate(resolved)
            return Loop(loop.items, loop.concurrency)
        params = ActionParams.model_validate(resolved)
        iteration = ".".join(str(index) for index in call.iteration)
        key = f"{run_id}:{call.block}:{iteration}"
        self.journal.add(event="started", run=run_id, block=call.block, attempt=attempt, key=key)
        if params.sleep:
            time.sleep(params.sleep)
        if attempt <= params.raise_attempts:
            self.journal.add(event="finished", run=run_id, block=call.block, attempt=attempt, key=key, ok=False)
            raise RuntimeError(f"attempt {attempt} blew up")
        if params.fatal:
            self.journal.add(event="finished", run=run_id, block=call.block, attempt=attempt, key=key, ok=False)
            return Failure("this cannot work", "invalid", retryable=False)
        if attempt <= params.fail_attempts:
            self.journal.add(event="finished", run=run_id, block=call.block, attempt=attempt, key=key, ok=False)
            return Failure(f"attempt {attempt} failed")
        self.journal.add(event="finished", run=run_id, block=call.block, attempt=attempt, key=key, ok=True)
        return Outcome("ok", {"value": params.value, "attempt": attempt})

    def finished(self, run_id: str, result: RunResult) -> None:
        self.finished_results.setdefault(run_id, []).append(result)
        self.journal.add(event="run_finished", run=run_id, status=result.status, error=result.error,
                         steps=result.steps)
