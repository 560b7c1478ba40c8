"""What a block is. One module per block type (flows/blocks/<name>.py) defines a ``BLOCK``: its
parameters as a pydantic model (which is also its form in the builder and its JSON Schema), its
output ports, a version, catalog metadata and one ``run`` function. Built-in blocks register
through the ``medialoom.blocks`` entry point group, the same way a third-party package's would.

``run`` receives its parameters already resolved (templates evaluated, then validated by the
model) and a ``BlockContext``: the run it belongs to, an idempotency key, the expression
context, and the ports it may act through. It returns an interpreter ``Result``: an
``Outcome(port, output)``, or a directive (``Loop``, ``Sleep``, ``Stop``, ``SetVariables``).
Raising ``BlockError`` (or any exception) fails the attempt; the runtime retries it by the
block's policy, then the interpreter takes the ``error`` port or fails the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from medialoom.flows.interpreter import Result
from medialoom.net.addresses import AllowList

if TYPE_CHECKING:  # for annotations only: both import BlockError from here
    from medialoom.flows.calls import FlowCalls
    from medialoom.flows.inbox import Inbox


class BlockError(Exception):
    """A block's own, explained failure (the message is what the run log shows).
    ``retryable=False`` when another attempt would fail the same way (a refused address)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class AssetOperations(Protocol):
    """What asset blocks may do, in the run's environment. flows/assets.py implements it with the
    same services the API uses, so a block's change emits the same events as an API call; a
    remote implementation (another medialoom or a Cloudinary account) may come later. Assets are
    named as the Admin API names them (resource type, delivery type, public id); answers are in
    the Admin API's shapes. Bad input raises BlockError with the API's message."""

    def get(self, public_id: str, *, resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...

    def search(self, expression: str, *, max_results: int = 50, sort_by: list[dict[str, str]] | None = None,
               next_cursor: str | None = None) -> dict[str, Any]: ...

    def upload_from_url(self, url: str, options: dict[str, Any]) -> dict[str, Any]: ...

    def update_tags(self, command: str, tags: list[str], public_ids: list[str], *,
                    resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...

    def update_context(self, command: str, context: dict[str, str], public_ids: list[str], *,
                       resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...

    def update_metadata(self, metadata: dict[str, Any], public_ids: list[str], *,
                        resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...

    def rename(self, from_public_id: str, to_public_id: str, *, overwrite: bool = False,
               resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...

    def set_moderation(self, public_id: str, status: str, *, resource_type: str = "image",
                       type: str = "upload") -> dict[str, Any]: ...

    def delete(self, public_id: str, *, resource_type: str = "image", type: str = "upload",
               invalidate: bool = False) -> dict[str, Any]: ...

    def delivery_url(self, public_id: str, *, transformation: str = "", format: str = "",
                     resource_type: str = "image", type: str = "upload", signed: bool = False) -> str: ...

    def eager(self, public_id: str, transformations: list[str], *, resource_type: str = "image",
              type: str = "upload") -> dict[str, Any]: ...

    def set_access_control(self, public_id: str, access_control: list[dict[str, Any]], *,
                           resource_type: str = "image", type: str = "upload") -> dict[str, Any]: ...


class BlockContext(Protocol):
    run_id: str
    block: str
    attempt: int  # 1 on the first try
    # The same on every try and every replay of this block in this run (and loop iteration):
    # side effects carry it so that receivers can drop duplicates.
    idempotency_key: str
    expressions: Mapping[str, Any]  # trigger, steps, item, index, vars, env (plain values)
    deadline: float  # time.monotonic() by which the block must have finished
    outbound_allow: AllowList  # private addresses HTTP blocks may reach nonetheless (the guard's)
    environment_id: int
    flow_id: str
    calls: FlowCalls  # starts another flow's run and waits for it (flow.call)

    @property
    def inbox(self) -> Inbox: ...

    @property
    def assets(self) -> AssetOperations:
        """Raises BlockError when the process has none (a pure test harness)."""


@dataclass(frozen=True)
class BlockType:
    name: str  # "condition", "asset.rename", "http.request"
    title: str
    category: str  # logic | asset | integration | notification
    description: str
    Params: type[BaseModel]
    ports: tuple[str, ...]  # besides "error"
    run: Callable[[BlockContext, Any], Result]
    version: int = 1
    # False: the block only computes from its inputs (condition, switch ...), so running it
    # again on replay is harmless and needs no idempotency key.
    side_effects: bool = True
    # True: the result is a function of the call alone (its parameters and expression context),
    # with no clock, database or network. The runtime then evaluates the block inside the run's
    # own code on every replay instead of checkpointing it, which costs microseconds instead of
    # a durable step's transactions (flows.runtime.dbos). Implies no side effects.
    pure: bool = False

    def describe(self) -> dict[str, Any]:
        """The catalog entry the API and the builder show."""
        return {"type": self.name, "title": self.title, "category": self.category,
                "description": self.description, "version": self.version, "ports": [*self.ports, "error"],
                "params": self.Params.model_json_schema()}
