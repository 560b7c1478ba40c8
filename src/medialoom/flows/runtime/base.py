"""The runtime port: runs flows durably. The implementation (runtime/dbos.py, DBOS Transact)
checkpoints each block attempt as a step, so a process killed mid-run resumes the run at the
interrupted block, without running finished ones again, in whichever process recovers it.

The runtime knows nothing of flows' storage or blocks: ``RunHooks`` (implemented by
flows/service.py) loads what a run needs, executes one attempt of one block, and records how
the run ended. The runtime owns ordering, retries with backoff (durable waits between
attempts), durable sleeps, and per-key serialization: runs submitted with the same
``partition_key`` (an asset) never overlap, runs with different keys run side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from medialoom.flows.definition import FlowDocument
from medialoom.flows.interpreter import BlockCall, Failure, Result, RunResult


@dataclass(frozen=True)
class RunSpec:
    """What a run needs. Loaded at its start and again whenever a process replays it, so it must
    read what does not change: the pinned version and the trigger payload (environment variables
    are the exception, see ``RunHooks.load``)."""

    flow: FlowDocument  # the version the run pinned
    trigger: dict[str, Any]  # the trigger's payload
    env: dict[str, Any] = field(default_factory=dict)  # environment variables the flow may read
    partition_key: str | None = None  # the key it was submitted with (its continuations keep it)
    holds_key: bool = False  # the run holds its key's lease: it has no holder to wait for


class RunHooks(Protocol):
    def load(self, run_id: str) -> RunSpec:
        """Called at every start and replay of the run, never recorded. Environment variables
        are read afresh each time: one changed between a crash and the replay could send the
        replay down another branch, which the runtime reports as a failed run."""

    def replayable(self, call: BlockCall) -> bool:
        """True when the block computes its result from the call alone (a pure block): the
        runtime then executes it on every replay instead of recording it, one attempt only."""

    def execute(self, run_id: str, call: BlockCall, attempt: int) -> Result | Failure:
        """One attempt of one block. A ``Failure`` (or an exception) fails the attempt; the
        runtime retries it by the block's policy."""

    def finished(self, run_id: str, result: RunResult) -> None:
        """How the run ended (and the end of its key's lease). May be called again for the same
        run (a replay after a crash that came after this call): must be idempotent."""

    def key_holder(self, run_id: str, key: str) -> str | None:
        """Another unfinished run that holds ``key``'s lease: the run must wait for it before it
        starts (it came through the queue while the holder, started at once, was running)."""

    def release_key(self, run_id: str) -> None:
        """The run starts a long wait: other runs of its key may go meanwhile."""

    def runs_ended(self) -> int:
        """How many runs have finished in this process so far (see ``await_run_end``)."""

    def await_run_end(self, seen: int, timeout: float) -> None:
        """Return once more than ``seen`` runs have finished in this process, or after
        ``timeout`` seconds: a run waiting for its key's holder wakes as soon as a holder here
        ends instead of at its next poll (a holder in another process is found by polling)."""


@dataclass(frozen=True)
class Submission:
    run_id: str  # unique; submitting the same id twice starts one run
    partition_key: str | None = None  # runs with the same key never overlap (None: no key)
    # The run holds its key's lease (flows/key_leases.py): nothing else of the key was queued or
    # running when it was created, so it starts at once instead of through the queue.
    holds_key: bool = False
    # The run's place in creation order (its row's id): queued runs of one key start in this
    # order, whatever the order in which they reached the queue.
    sequence: int | None = None


class Runtime(Protocol):
    def start(self, hooks: RunHooks) -> None:
        """Begin executing runs, the ones interrupted by an earlier process's death included."""

    def stop(self) -> None: ...

    def submit(self, submission: Submission) -> None:
        """Queue a run durably: once this returns, the run happens even if this process dies."""

    def can_start_now(self) -> bool:
        """Whether a run holding its key's lease, submitted now, would start at once."""

    def wait(self, run_id: str, timeout: float) -> str | None:
        """The run's final status (succeeded, failed, stopped), or None if still running."""

    def status(self, run_ids: list[str]) -> Mapping[str, str]: ...

    def recover(self, executor_ids: list[str]) -> list[str]:
        """Hand the unfinished runs of dead processes back to the queues; their run ids."""
