"""Walks a flow's graph for one run. Pure and deterministic: given the same trigger payload and
the same step results it makes the same calls in the same order, which is what lets a durable
runtime replay a run after a crash from its recorded steps (flows.runtime).

The interpreter decides what runs next; the ``Executor`` it is given runs blocks (each one a
durable step, retried by its policy) and sleeps. From the trigger it goes depth first: a block's
outcome names a port, and the blocks its edges lead to run one after another, each with all it
leads to, before the next sibling. A block runs at most once per pass; inside a ``for_each``
each item is a pass of its own over the blocks its ``item`` port leads to.

Blocks answer with an ``Outcome`` (a port and an output) or one of the directives below, which
the interpreter carries out itself: ``Loop`` (for_each), ``Sleep`` (delay), ``Stop`` and
``SetVariables``. A failed block follows its ``error`` port when one is wired; otherwise the run
fails, naming the block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from medialoom.flows.definition import ERROR_PORT, TRIGGER, TRIGGER_PORT, FlowDocument


@dataclass(frozen=True)
class Outcome:
    port: str
    output: Any = None


@dataclass(frozen=True)
class Loop:
    items: list[Any]
    concurrency: int = 1  # above 1: items are passes of their own, run side by side (ItemPass)


@dataclass(frozen=True)
class Sleep:
    seconds: float
    output: Any = None


@dataclass(frozen=True)
class Stop:
    failed: bool = False
    message: str = ""


@dataclass(frozen=True)
class SetVariables:
    values: dict[str, Any]


Result = Outcome | Loop | Sleep | Stop | SetVariables


@dataclass(frozen=True)
class Failure:
    """A block that failed for good (its retries spent): the message is the run's error."""

    message: str
    kind: str = "error"  # error | timeout | expression | invalid
    retryable: bool = True  # False: another attempt would fail the same way (a bad expression)


@dataclass(frozen=True)
class BlockCall:
    """One block to run: what a durable step needs, nothing it could not record."""

    block: str
    type: str
    params: dict[str, Any]  # as written in the flow: the executor resolves templates
    context: dict[str, Any]  # trigger, steps, item, index, vars, env: plain JSON values
    iteration: tuple[int, ...]  # item indexes of the loops around it, outermost first
    timeout_seconds: float = 300.0


@dataclass(frozen=True)
class ItemPass:
    """One item of a concurrent for_each, as a pass that runs on its own: it sees the run as it
    was when the loop began (not what sibling items produce), and reports what it changed."""

    loop: str  # the for_each block
    item: Any
    index: int
    iteration: tuple[int, ...]
    steps: dict[str, Any]  # earlier blocks' outputs as the loop began
    variables: dict[str, Any]


@dataclass(frozen=True)
class PassResult:
    steps: dict[str, Any]  # the outputs of the blocks this pass ran
    variables: dict[str, Any]  # the variables it set
    failed: str = ""  # why the pass failed the run ("" when it did not)
    stopped: Stop | None = None  # a stop block it reached


class Executor(Protocol):
    def run_block(self, call: BlockCall) -> Result | Failure: ...

    def sleep(self, seconds: float) -> None: ...

    # Optional: ``run_passes(passes, concurrency) -> list[PassResult]`` runs a concurrent loop's
    # items at most ``concurrency`` at a time, each with ``Interpreter.run_pass``, and answers in
    # item order. Without it the interpreter runs them one after another itself.


@dataclass
class RunResult:
    status: str  # succeeded | failed
    error: str = ""
    steps: dict[str, Any] = field(default_factory=dict)  # block -> last output
    variables: dict[str, Any] = field(default_factory=dict)


class RunFailed(Exception):
    pass


class RunStopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.message)
        self.stop = stop


@dataclass
class _Pass:
    item: Any = None
    index: int | None = None
    iteration: tuple[int, ...] = ()
    done: set[str] = field(default_factory=set)


class Interpreter:
    def __init__(self, flow: FlowDocument, executor: Executor, *, env: Mapping[str, Any] | None = None,
                 max_loop_items: int = 10_000) -> None:
        self.flow = flow
        self.executor = executor
        self.env = dict(env or {})
        self.max_loop_items = max_loop_items

    def run(self, trigger: Mapping[str, Any]) -> RunResult:
        self._trigger = dict(trigger)
        self._steps: dict[str, dict[str, Any]] = {}
        self._variables = dict(self.flow.variables)
        try:
            self._follow(TRIGGER, TRIGGER_PORT, _Pass())
        except RunFailed as failed:
            return self._result("failed", str(failed))
        except RunStopped as stopped:
            # A stop block ends the run as it says: succeeded, or failed with its message.
            status = "failed" if stopped.stop.failed else "succeeded"
            return self._result(status, stopped.stop.message)
        return self._result("succeeded")

    def run_pass(self, trigger: Mapping[str, Any], item_pass: ItemPass) -> PassResult:
        """Run one item of a concurrent loop: the blocks its ``item`` port leads to."""
        self._trigger = dict(trigger)
        self._steps = {name: dict(step) for name, step in item_pass.steps.items()}
        self._variables = dict(item_pass.variables)
        failed, stopped = "", None
        try:
            self._follow(item_pass.loop, "item", _Pass(item_pass.item, item_pass.index, item_pass.iteration))
        except RunFailed as failure:
            failed = str(failure)
        except RunStopped as stop:
            stopped = stop.stop
        changed = {name: step for name, step in self._steps.items() if item_pass.steps.get(name) != step}
        set_here = {name: value for name, value in self._variables.items()
                    if name not in item_pass.variables or item_pass.variables[name] != value}
        return PassResult(changed, set_here, failed, stopped)

    def _result(self, status: str, error: str = "") -> RunResult:
        return RunResult(status, error, {name: step.get("output") for name, step in self._steps.items()},
                         dict(self._variables))

    def _follow(self, source: str, port: str, current: _Pass) -> None:
        for target in self.flow.next_blocks(source, port):
            if target not in current.done:
                self._run_block(target, current)

    def _context(self, current: _Pass) -> dict[str, Any]:
        return {"trigger": self._trigger, "steps": self._steps, "item": current.item, "index": current.index,
                "vars": self._variables, "env": self.env}

    def _run_block(self, name: str, current: _Pass) -> None:
        current.done.add(name)
        node = self.flow.blocks[name]
        call = BlockCall(name, node.type, node.params, self._context(current), current.iteration,
                         node.timeout_seconds)
        result = self.executor.run_block(call)
        if isinstance(result, Failure):
            self._steps[name] = {"output": None, "error": {"message": result.message, "kind": result.kind}}
            if not self.flow.wired(name, ERROR_PORT):
                raise RunFailed(f"block {name!r} failed: {result.message}")
            self._follow(name, ERROR_PORT, current)
            return
        if isinstance(result, Stop):
            self._steps[name] = {"output": {"stopped": True, "message": result.message}}
            raise RunStopped(result)
        if isinstance(result, SetVariables):
            self._variables.update(result.values)
            self._steps[name] = {"output": result.values}
            self._follow(name, "ok", current)
            return
        if isinstance(result, Sleep):
            self.executor.sleep(result.seconds)
            self._steps[name] = {"output": result.output}
            self._follow(name, "ok", current)
            return
        if isinstance(result, Loop):
            self._loop(name, result, current)
            return
        self._steps[name] = {"output": result.output}
        self._follow(name, result.port, current)

    def _loop(self, name: str, loop: Loop, current: _Pass) -> None:
        items = loop.items
        if len(items) > self.max_loop_items:
            failure = f"{len(items)} items to loop over, more than the limit of {self.max_loop_items}"
            self._steps[name] = {"output": None, "error": {"message": failure, "kind": "error"}}
            if not self.flow.wired(name, ERROR_PORT):
                raise RunFailed(f"block {name!r} failed: {failure}")
            self._follow(name, ERROR_PORT, current)
            return
        if loop.concurrency > 1 and len(items) > 1:
            self._concurrent_loop(name, loop, current)
        else:
            for index, item in enumerate(items):
                self._steps[name] = {"output": {"count": len(items), "index": index}}
                self._follow(name, "item", _Pass(item, index, (*current.iteration, index)))
        self._steps[name] = {"output": {"count": len(items)}}
        self._follow(name, "done", current)

    def _concurrent_loop(self, name: str, loop: Loop, current: _Pass) -> None:
        """Items side by side: each pass starts from the run as it is now; afterwards their
        outputs and variables are applied in item order (as one after another would leave them)
        and the first item, in order, that failed or stopped decides for the run."""
        steps = {**self._steps, name: {"output": {"count": len(loop.items)}}}
        passes = [ItemPass(name, item, index, (*current.iteration, index), steps, dict(self._variables))
                  for index, item in enumerate(loop.items)]
        run_passes = getattr(self.executor, "run_passes", None)
        if run_passes is not None:
            results = run_passes(passes, loop.concurrency)
        else:
            results = [Interpreter(self.flow, self.executor, env=self.env, max_loop_items=self.max_loop_items)
                       .run_pass(self._trigger, item_pass) for item_pass in passes]
        for result in results:
            self._steps.update(result.steps)
            self._variables.update(result.variables)
        for result in results:
            if result.failed:
                raise RunFailed(result.failed)
            if result.stopped is not None:
                raise RunStopped(result.stopped)

