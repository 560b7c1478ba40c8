"""Runs on an idle asset start at once.

Runs that act on one asset (one partition key) must not overlap. The runtime's partitioned queue
guarantees that, but a queued run starts only at the queue's next poll (0.2 s by default), which
was most of the time from an upload to its flow's first block. So a run created while nothing of
its key is queued or running takes the key's lease, in the transaction that creates it, and the
runtime starts it at once, outside the queue. Runs of the key created while it is busy are queued
as before; when the queue admits one while the lease's run is still going, that run waits for it
(``holder``) before its first block. Creation order is kept: a run only takes the lease when no
earlier run of its key is unfinished.

The lease ends with its run (``release``, in the run's last write) and when the run starts a long
wait (other runs of the key may run meanwhile, as with the queue). A lease whose run has ended
without releasing it is ignored by ``holder`` and replaced by the next ``claim``.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from medialoom.db.models import FlowKeyLease, FlowRun


def claim(connection: Connection, run_pk: int, run_id: str, key: str) -> bool:
    """In the transaction creating the run ``run_id`` (row ``run_pk``, written already): take
    ``key``'s lease if no run of the key created before it is unfinished. True when the run holds
    it (start it at once)."""
    if connection.scalar(_EARLIER_UNFINISHED, {"key": key, "run_pk": run_pk}) is not None:
        return False
    # Whatever lease the key has belongs to a run that has ended. On PostgreSQL, of two
    # transactions claiming one idle key at once, the second's insert waits for the first and
    # then inserts nothing.
    connection.execute(_FORGET_LEASE, {"key": key})
    inserted = connection.execute(_TAKE_LEASE[connection.dialect.name], {"partition_key": key, "run_id": run_id})
    return bool(inserted.rowcount)


def holder(connection: Connection, run_id: str, key: str) -> str | None:
    """The unfinished run other than ``run_id`` that holds ``key``'s lease, if any."""
    return connection.scalar(_HOLDER, {"key": key, "run_id": run_id})


# Statements built once (a statement's cache key is computed once per object).
_EARLIER_UNFINISHED = select(FlowRun.id).where(FlowRun.partition_key == bindparam("key"),
                                               FlowRun.finished_at.is_(None), FlowRun.id < bindparam("run_pk")).limit(1)
_FORGET_LEASE = delete(FlowKeyLease).where(FlowKeyLease.partition_key == bindparam("key"))
_TAKE_LEASE = {dialect.dialect.name: dialect.insert(FlowKeyLease).on_conflict_do_nothing(index_elements=["partition_key"])
               for dialect in (postgresql, sqlite)}
_HOLDER = (select(FlowKeyLease.run_id).join(FlowRun, FlowRun.run_id == FlowKeyLease.run_id)
           .where(FlowKeyLease.partition_key == bindparam("key"), FlowKeyLease.run_id != bindparam("run_id"),
                  FlowRun.finished_at.is_(None)))


def release(run_id: str):  # noqa: ANN201 - a statement for the caller's transaction
    return delete(FlowKeyLease).where(FlowKeyLease.run_id == run_id)


def prune(session: Session) -> int:
    """Drop the leases of runs that have ended (a process died between the run's end and the
    release); the next claim would replace them anyway."""
    ended = select(FlowRun.run_id).where(FlowRun.finished_at.is_not(None))
    return session.execute(delete(FlowKeyLease).where(FlowKeyLease.run_id.in_(ended))).rowcount or 0
