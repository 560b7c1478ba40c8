"""delay: waits, durably, for some seconds or until a moment, then continues on ``ok``.

The wait is the runtime's (a durable sleep that survives restarts), not a sleeping worker. A
moment in the past does not wait. Either way the wait is at most 30 days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from medialoom.flows.blocks.base import BlockContext, BlockError, BlockType
from medialoom.flows.interpreter import Sleep

MAX_SECONDS = 30 * 24 * 3600


def _now() -> datetime:
    return datetime.now(UTC)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float | None = Field(None, ge=0, le=MAX_SECONDS, description="How long to wait (up to 30 days).")
    until: AwareDatetime | None = Field(
        None, description="Wait until this moment, an RFC 3339 time with its offset: 2026-03-01T09:00:00Z "
                          "(at most 30 days ahead).")

    @model_validator(mode="after")
    def _not_both(self) -> Params:
        if self.seconds is not None and self.until is not None:
            raise ValueError("give either seconds or until, not both")
        return self


def run(ctx: BlockContext, params: Params) -> Sleep:
    # Checked here rather than by the model: a flow is validated when saved with its templated
    # fields left out, so {"seconds": "{{ ... }}"} would look like neither.
    if params.seconds is None and params.until is None:
        raise BlockError("give either seconds or until")
    now = _now()
    if params.until is not None:
        seconds = max(0.0, (params.until - now).total_seconds())
        if seconds > MAX_SECONDS:
            raise BlockError(f"until {_rfc3339(params.until)} is more than 30 days ahead")
    else:
        seconds = float(params.seconds or 0)
    return Sleep(seconds, {"seconds": seconds, "until": _rfc3339(now + timedelta(seconds=seconds))})


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


BLOCK = BlockType(
    name="delay", title="Delay", category="logic",
    description="Waits some seconds, or until a moment (up to 30 days), then continues.",
    Params=Params, ports=("ok",), run=run, side_effects=False)
