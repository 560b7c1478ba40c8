"""What starts a flow. Pure: each trigger type has its parameters (a pydantic model, the form in
the builder), the notification types that feed it, and a filter over an event's payload.

Asset events arrive as the outbox's notification payloads (Cloudinary's shapes, events/outbox).
An event about several assets (a bulk tag change, a delete of many) starts one run per asset,
each with that asset's part of the payload next to the envelope, and the asset's id as the
run's partition key: runs about one asset never overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medialoom.flows.schedules import check_cron, check_timezone


class ParameterSpec(BaseModel):
    """A typed input of a manual run, a webhook call or a call from another flow."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
    type: Literal["string", "number", "boolean", "object", "list"] = "string"
    required: bool = False
    default: Any = None
    description: str = ""


class InputParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: list[ParameterSpec] = Field(default_factory=list, max_length=50)


class AssetFilter(BaseModel):
    """Which assets' events start the flow; an empty filter lets every asset through."""

    model_config = ConfigDict(extra="forbid")
    resource_types: list[Literal["image", "video", "raw"]] = Field(default_factory=list)
    folder: str = Field("", description="Only assets in this asset folder or below it.")
    tags_any: list[str] = Field(default_factory=list, description="At least one of these tags.")
    tags_all: list[str] = Field(default_factory=list, description="Every one of these tags.")
    tags_none: list[str] = Field(default_factory=list, description="None of these tags.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Structured metadata values the asset "
                                     "must have (for a multi-value field: one of its values).")


class UploadFilter(AssetFilter):
    upload_preset: str = Field("", max_length=255, description="Only uploads made with this preset.")


class ModerationFilter(AssetFilter):
    statuses: list[Literal["pending", "approved", "rejected"]] = Field(default_factory=list)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookParams(InputParams):
    """A URL of the flow's own (its path holds an unguessable token) that starts a run per call.
    ``parameters`` name top-level fields of a JSON body, checked like a manual run's inputs."""

    verification: Literal["none", "header_secret", "cloudinary", "standard_webhooks"] = Field(
        "none", description="none; header_secret: a header must equal a secret; cloudinary: "
        "X-Cld-Signature/X-Cld-Timestamp signed with the environment's API secret (two hours valid, "
        "five minutes of clock skew); standard_webhooks: webhook-id/-timestamp/-signature.")
    header_name: str = Field("X-Webhook-Secret", max_length=100, description="For header_secret.")
    secret_variable: str = Field("", max_length=100, description="The flow variable (a secret) holding the "
                                 "shared secret, for header_secret and standard_webhooks.")
    max_bytes: int = Field(256 * 1024, ge=1, le=1024 * 1024, description="Larger bodies are refused (413).")


class ScheduleParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str = Field(description="Five fields: minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5.")
    timezone: str = Field("UTC", description="The IANA time zone the cron expression is read in.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)


class ScheduledSearchParams(ScheduleParams):
    expression: str = Field(min_length=1, max_length=4000, description="A search expression, as the Search API's.")
    mode: Literal["per_asset", "list"] = Field("per_asset", description="A run per asset found, or one run with the list.")
    max_results: int = Field(100, ge=1, le=500)


@dataclass(frozen=True)
class TriggerType:
    name: str
    title: str
    description: str
    Params: type[BaseModel]
    events: tuple[str, ...] = ()  # notification types that feed it; none: started otherwise
    ports: tuple[str, ...] = ("out",)
    extra_match: Callable[[BaseModel, dict[str, Any]], bool] | None = field(default=None, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "title": self.title, "description": self.description,
                "events": list(self.events), "params": self.Params.model_json_schema()}

    def matches(self, params: BaseModel, payload: dict[str, Any]) -> bool:
        if isinstance(params, AssetFilter) and not _asset_matches(params, payload):
            return False
        return self.extra_match is None or self.extra_match(params, payload)


def _asset_matches(wanted: AssetFilter, asset: dict[str, Any]) -> bool:
    if wanted.resource_types and asset.get("resource_type") not in wanted.resource_types:
        return False
    if wanted.folder:
        folder = asset.get("asset_folder") or asset.get("folder") or ""
        prefix = wanted.folder.strip("/")
        if folder != prefix and not folder.startswith(prefix + "/"):
            return False
    tags = set(asset.get("tags") or [])
    if wanted.tags_any and not tags & set(wanted.tags_any):
        return False
    if wanted.tags_all and not set(wanted.tags_all) <= tags:
        return False
    if wanted.tags_none and tags & set(wanted.tags_none):
        return False
    metadata = asset.get("metadata") or {}
    for field_id, value in wanted.metadata.items():
        held = metadata.get(field_id)
        if not (held == value or (isinstance(held, list) and value in held)):
            return False
    return not (isinstance(wanted, UploadFilter) and wanted.upload_preset
                and asset.get("upload_preset") != wanted.upload_preset)


def _moderation_matches(params: BaseModel, payload: dict[str, Any]) -> bool:
    statuses = getattr(params, "statuses", [])
    return not statuses or payload.get("moderation_status") in statuses


TRIGGERS: dict[str, TriggerType] = {trigger.name: trigger for trigger in (
    TriggerType("manual", "Manual run", "Started from the API or the command line, with typed inputs.",
                InputParams),
    TriggerType("catch_webhook", "Catch webhook", "A POST to the flow's own URL starts a run with the body "
                "as data (never evaluated).", WebhookParams),
    TriggerType("schedule", "Schedule", "On a cron schedule in a time zone; one run per slot, even across "
                "restarts (slots missed while nothing ran are caught up for ten minutes).", ScheduleParams),
    TriggerType("scheduled_search", "Scheduled search", "On a schedule, a search: a run per asset found "
                "(runs about one asset never overlap) or one run with the list.", ScheduledSearchParams),
    TriggerType("flow_call", "Called by another flow", "Started by a call-flow block, with its inputs; "
                "the run's last output goes back to the caller.", InputParams),
    TriggerType("asset_uploaded", "Asset uploaded", "A new asset or a new version of one (optionally only "
                "with an upload preset).", UploadFilter, events=("upload",)),
    TriggerType("moderation_changed", "Moderation changed", "An asset was approved, rejected or queued.",
                ModerationFilter, events=("moderation",), extra_match=_moderation_matches),
    TriggerType("asset_renamed", "Asset renamed or moved", "A new public id or asset folder.", AssetFilter,
                events=("rename", "move")),
    TriggerType("asset_deleted", "Asset deleted", "An asset was destroyed.", AssetFilter, events=("delete",)),
    TriggerType("tags_changed", "Tags changed", "Tags were added to or removed from an asset.", AssetFilter,
                events=("resource_tags_changed",)),
    TriggerType("context_changed", "Context changed", "An asset's contextual metadata changed.", AssetFilter,
                events=("resource_context_changed",)),
    TriggerType("metadata_changed", "Structured metadata changed", "An asset's structured metadata changed.",
                AssetFilter, events=("resource_metadata_changed",)),
)}


def triggers_for(notification_type: str) -> list[TriggerType]:
    return [trigger for trigger in TRIGGERS.values() if notification_type in trigger.events]


ENVELOPE = ("notification_type", "timestamp", "request_id", "source", "notification_context", "signature_key")


def per_asset(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload once per asset it is about: a ``resources`` list or map is split, each part
    flattened next to the envelope (so a filter and ``trigger.public_id`` read the same way
    whatever the event); a payload about one asset is returned as it is."""
    resources = payload.get("resources")
    if resources is None:
        return [payload]
    envelope = {key: payload[key] for key in ENVELOPE if key in payload}
    if isinstance(resources, dict):  # keyed by public id (move, context and metadata changes)
        return [{**envelope, "public_id": public_id, **part} for public_id, part in resources.items()]
    return [{**envelope, **part} for part in resources]


def partition_key(asset_payload: dict[str, Any]) -> str | None:
    return asset_payload.get("asset_id") or None


_KINDS: dict[str, tuple[type, ...]] = {"string": (str,), "number": (int, float), "boolean": (bool,),
                                       "object": (dict,), "list": (list,)}


def check_inputs(specs: list[ParameterSpec], values: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a run as its trigger declares them: defaults filled in, types checked,
    unknown names refused. Raises ValueError naming the input."""
    declared = {spec.name for spec in specs}
    unknown = sorted(set(values) - declared)
    if unknown:
        raise ValueError(f"unknown input {unknown[0]!r} (the trigger declares {', '.join(sorted(declared)) or 'none'})")
    checked = {}
    for spec in specs:
        if spec.name not in values:
            if spec.required:
                raise ValueError(f"input {spec.name!r} is required")
            checked[spec.name] = spec.default
            continue
        value = values[spec.name]
        kinds = _KINDS[spec.type]
        # bool is an int in Python; a number input must not take true/false.
        if not isinstance(value, kinds) or (spec.type == "number" and isinstance(value, bool)):
            raise ValueError(f"input {spec.name!r} must be a {spec.type}")
        checked[spec.name] = value
    return checked
