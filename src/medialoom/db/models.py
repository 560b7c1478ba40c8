"""The relational model. One set of tables for SQLite (embedded) and PostgreSQL (scaled out).

Lists and maps that the API returns whole (tags, context, metadata, moderation) are JSON
columns; ``asset_labels`` repeats tags, context and metadata as rows so that search can use an
index. Blob keys are derived from ids, never from user-supplied names.

Names that search matches by prefix are compared byte-wise: PostgreSQL gets the "C" collation
for them (SQLite compares bytes already), so ``x >= 'ab' AND x < 'ac'`` is a prefix test that
an index answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def ByteOrderedString(length: int) -> String:
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class Environment(Base):
    """A product environment: one cloud name, its credentials and settings, fully isolated."""

    __tablename__ = "environments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cloud_name: Mapped[str] = mapped_column(String(128), unique=True)
    api_key: Mapped[str] = mapped_column(String(64), unique=True)
    api_secret: Mapped[str] = mapped_column(String(128))
    folder_mode: Mapped[str] = mapped_column(String(16), default="dynamic")
    signature_algorithm: Mapped[str] = mapped_column(String(8), default="sha1")
    # Only named (allowed_for_strict), eager or signed transformations may be derived.
    strict_transformations: Mapped[bool] = mapped_column(Boolean, default=False)
    # The hex key of ``__cld_token__`` delivery tokens; tokens are refused while it is unset.
    auth_token_key: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime]


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("environment_id", "resource_type", "type", "public_id", name="uq_asset_identity"),
        # Searches ask for live assets (placeholder false) newest first; with placeholder in the
        # index, counting a whole environment does not read the table.
        Index("ix_assets_env_created_live", "environment_id", "created_at", "placeholder"),
        Index("ix_assets_env_folder_created", "environment_id", "asset_folder", "created_at"),
        Index("ix_assets_env_public_id", "environment_id", "public_id"),
        Index("ix_assets_env_uploaded", "environment_id", "uploaded_at"),
        # Format and placeholder ride along so that size searches ("large PNGs") need no table reads.
        Index("ix_assets_env_bytes", "environment_id", "bytes", "format", "placeholder"),
        Index("ix_assets_env_moderation", "environment_id", "moderation_kind", "moderation_status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    asset_id: Mapped[str] = mapped_column(String(32), unique=True)
    public_id: Mapped[str] = mapped_column(ByteOrderedString(1024))
    resource_type: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(16), default="")
    version: Mapped[int] = mapped_column(BigInteger)
    version_id: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    etag: Mapped[str] = mapped_column(String(32), default="")
    blob_key: Mapped[str] = mapped_column(String(256), default="")
    asset_folder: Mapped[str] = mapped_column(ByteOrderedString(1024), default="")
    display_name: Mapped[str] = mapped_column(String(1024), default="")
    original_filename: Mapped[str | None] = mapped_column(String(1024))
    tags: Mapped[list] = mapped_column(default=list)
    context: Mapped[dict] = mapped_column(default=dict)
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    moderation: Mapped[list] = mapped_column(default=list)
    # The latest entry of ``moderation``, as columns so listings and search can use an index.
    moderation_kind: Mapped[str | None] = mapped_column(String(32))
    moderation_status: Mapped[str | None] = mapped_column(String(16))
    access_mode: Mapped[str] = mapped_column(String(16), default="public")
    # Who may view without a token or signature, and when (auth.access); None: everyone.
    access_control: Mapped[list | None] = mapped_column(JSON, nullable=True)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    # A destroyed asset that had backups stays as a placeholder so it can be restored.
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False)
    notification_url: Mapped[str | None] = mapped_column(Text)
    # Eager transformations requested at upload or explicit; derived by the delivery engine.
    eager: Mapped[list] = mapped_column(default=list)
    # Media facts beyond the columns above (video/audio codecs, alpha, frame rate ...).
    media_info: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    uploaded_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AssetVersion(Base):
    """A previous version of an asset kept because backup was requested."""

    __tablename__ = "asset_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(BigInteger)
    version_id: Mapped[str] = mapped_column(String(32), unique=True)
    format: Mapped[str] = mapped_column(String(16), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    etag: Mapped[str] = mapped_column(String(32), default="")
    blob_key: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]


class UploadPreset(Base):
    __tablename__ = "upload_presets"
    __table_args__ = (UniqueConstraint("environment_id", "name", name="uq_preset_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    unsigned: Mapped[bool] = mapped_column(Boolean, default=False)
    settings: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OutboxEvent(Base):
    """One change to an asset, in Cloudinary's notification payload shape.

    Written in the same transaction as the change it describes; the dispatcher (events/)
    delivers rows whose ``dispatched_at`` is empty and starts the flows they trigger.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    notification_type: Mapped[str] = mapped_column(String(64))
    asset_id: Mapped[str | None] = mapped_column(String(32), index=True)
    notification_url: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict]
    created_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    # What the flow engine may read of the change but the notification does not carry (the
    # upload preset, say); never sent.
    facts: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class NotificationEndpoint(Base):
    """A global notification URL (a Cloudinary "trigger"): events of one type, or ``all``, of an
    environment go there unless the call that caused them named its own ``notification_url``.
    ``secret`` signs the Standard Webhooks headers; a 410 answer disables the endpoint."""

    __tablename__ = "notification_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    trigger_id: Mapped[str] = mapped_column(String(64), unique=True)
    uri: Mapped[str] = mapped_column(Text)
    uri_type: Mapped[str] = mapped_column(String(16), default="webhook")
    event_type: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)


class NotificationDelivery(Base):
    """One event on its way to one URL, attempted until it lands, fails for good, or its
    endpoint goes away. Deliveries of the same ``order_key`` (the asset) to the same URL are
    sent one at a time in event order. ``lease_until`` is a dispatcher's claim while it sends:
    a dispatcher that dies leaves the lease to expire, and the delivery is sent again."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_order", "url", "order_key", "status", "id"),
        Index("ix_deliveries_env", "environment_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(32))  # the same on every attempt: receivers drop repeats
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("notification_endpoints.id", ondelete="SET NULL"),
                                                    index=True)
    url: Mapped[str] = mapped_column(Text)
    order_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed, cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class NotificationAttempt(Base):
    """One try of a delivery: what the receiver answered, or why nothing was answered."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("notification_deliveries.id", ondelete="CASCADE"),
                                             index=True)
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)
    response_snippet: Mapped[str | None] = mapped_column(Text)


class UploadSession(Base):
    """A chunked upload in progress (X-Unique-Upload-Id), kept in the database so that it
    survives a restart and chunks may reach different server processes."""

    __tablename__ = "upload_sessions"
    __table_args__ = (UniqueConstraint("environment_id", "upload_id", name="uq_upload_session"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    upload_id: Mapped[str] = mapped_column(String(128))
    total_bytes: Mapped[int | None] = mapped_column(BigInteger)
    public_id: Mapped[str | None] = mapped_column(String(1024))
    completed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UploadChunk(Base):
    __tablename__ = "upload_chunks"
    __table_args__ = (UniqueConstraint("session_id", "start", name="uq_chunk_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("upload_sessions.id", ondelete="CASCADE"), index=True)
    start: Mapped[int] = mapped_column(BigInteger)
    end: Mapped[int] = mapped_column(BigInteger)  # inclusive, as in Content-Range
    blob_key: Mapped[str] = mapped_column(String(256))


class DeleteToken(Base):
    """A short-lived token returned by ``return_delete_token`` that deletes one asset."""

    __tablename__ = "delete_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]


class AssetLabel(Base):
    """One searchable value of an asset: a tag, a context value or a metadata value.

    ``field`` is ``tags``, ``context.<key>`` or ``metadata.<field id>`` for the exact value, and
    the same name prefixed with ``~`` for each lower-cased word of it (what ``tags:cat``
    matches). Rewritten whenever the asset's tags, context or metadata change.

    ``created_at`` repeats the asset's (which never changes) so that the newest assets with a
    label are read from this index in order, without visiting every asset that has the label.
    """

    __tablename__ = "asset_labels"
    __table_args__ = (Index("ix_asset_labels_lookup", "environment_id", "field", "value", "created_at", "asset_pk"),)

    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    field: Mapped[str] = mapped_column(ByteOrderedString(300), primary_key=True)
    value: Mapped[str] = mapped_column(ByteOrderedString(512), primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]


class Folder(Base):
    """An asset folder. Created explicitly or when an asset is placed in it."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("environment_id", "path", name="uq_folder_path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(ByteOrderedString(1024))
    external_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]


class MetadataField(Base):
    """A structured metadata field definition, stored in the Admin API's own shape."""

    __tablename__ = "metadata_fields"
    __table_args__ = (UniqueConstraint("environment_id", "external_id", name="uq_metadata_field"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)
    definition: Mapped[dict]
    created_at: Mapped[datetime]


class MetadataRule(Base):
    """A conditional metadata rule, stored in the Admin API's own shape."""

    __tablename__ = "metadata_rules"
    __table_args__ = (UniqueConstraint("environment_id", "external_id", name="uq_metadata_rule"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    definition: Mapped[dict]
    created_at: Mapped[datetime]


class RateWindow(Base):
    """Admin API calls counted per environment and window, shared by every server process."""

    __tablename__ = "rate_windows"

    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)


class DerivedFile(Base):
    """A file rendered from one version of an asset (a transformation URL or an eager entry).

    The bytes live in the blob store under ``key`` (see delivery.derived); this row is what
    ``derived`` in the resource detail lists and what deleting by transformation finds.
    ``transformation`` is the canonical form as asked, named transformations unexpanded.
    """

    __tablename__ = "derived_files"
    __table_args__ = (Index("ix_derived_files_asset", "asset_pk", "transformation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    version_id: Mapped[str] = mapped_column(String(32))
    transformation: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(256), unique=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class EagerJob(Base):
    """Eager transformations asked for with ``eager_async``, until they are made and their
    ``eager`` event written (delivery/eager.py). The process making them holds the lease and
    renews it; a job whose lease ran out (its process died) is taken up by another."""

    __tablename__ = "eager_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    asset_pk: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[str] = mapped_column(String(32))
    items: Mapped[list] = mapped_column(JSON)
    batch_id: Mapped[str] = mapped_column(String(32))
    notification_url: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    lease_until: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]


class NamedTransformation(Base):
    """``t_<name>`` in a URL stands for ``transformation``. Unnamed entries (``named`` false)
    are transformation strings registered only to mark them ``allowed_for_strict``."""

    __tablename__ = "named_transformations"
    __table_args__ = (UniqueConstraint("environment_id", "name", name="uq_named_transformation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(ByteOrderedString(1024))
    transformation: Mapped[str] = mapped_column(Text)
    named: Mapped[bool] = mapped_column(Boolean, default=True)
    allowed_for_strict: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Flow(Base):
    """An automation in one environment. Its definition lives in immutable ``FlowVersion`` rows;
    ``current_version`` is the one new runs pin. ``trigger_type`` repeats the current version's
    trigger so that events find their flows by index."""

    __tablename__ = "flows"
    __table_args__ = (Index("ix_flows_trigger", "environment_id", "trigger_type", "enabled"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    flow_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    current_version: Mapped[int] = mapped_column(Integer)
    trigger_type: Mapped[str] = mapped_column(String(64))
    # The secret part of a catch-webhook trigger's URL (None for other triggers).
    webhook_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FlowVersion(Base):
    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_pk", "version", name="uq_flow_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_pk: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class FlowRun(Base):
    """One run of a flow version: queued, running, then succeeded, failed or stopped."""

    __tablename__ = "flow_runs"
    __table_args__ = (
        Index("ix_flow_runs_flow", "flow_pk", "id"),
        Index("ix_flow_runs_env", "environment_id", "id"),
        Index("ix_flow_runs_finished", "finished_at"),
        Index("ix_flow_runs_key", "partition_key", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), unique=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    flow_pk: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    trigger_type: Mapped[str] = mapped_column(String(64))
    trigger_payload: Mapped[dict] = mapped_column(JSON)
    partition_key: Mapped[str | None] = mapped_column(String(64))
    # A re-run from a failed block reuses the outputs of the run it repeats up to that block.
    rerun_of: Mapped[str | None] = mapped_column(String(40))
    resume_from: Mapped[str | None] = mapped_column(String(64))
    parent_run_id: Mapped[str | None] = mapped_column(String(40))
    # Runs of other runs' making before this one: started by an event a run caused, by a
    # flow.call, or by a webhook a run's HTTP request called (events/causation.py).
    chain_depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class FlowKeyLease(Base):
    """The run that started at once on its partition key (an asset) because nothing else of that
    key was queued or running; until it ends, runs of the key that came through the queue wait
    for it (flows/key_leases.py)."""

    __tablename__ = "flow_key_leases"

    partition_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("flow_runs.run_id", ondelete="CASCADE"), index=True)


class FlowRunStep(Base):
    """One attempt of one block in a run (per loop iteration): what it was given, what it gave
    back or why it failed, and how long it took."""

    __tablename__ = "flow_run_steps"
    __table_args__ = (UniqueConstraint("run_pk", "block", "iteration", "attempt", name="uq_flow_run_step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"), index=True)
    block: Mapped[str] = mapped_column(String(64))
    block_type: Mapped[str] = mapped_column(String(64))
    iteration: Mapped[str] = mapped_column(String(200), default="")  # "2" or "2.0" inside loops
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # running, succeeded, failed
    input: Mapped[dict | None] = mapped_column(JSON)
    output: Mapped[dict | list | str | int | float | bool | None] = mapped_column(JSON)
    port: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[float | None] = mapped_column(Float)


class FlowVariable(Base):
    """An environment variable or secret that flows read as ``env.<name>``. Secrets are never
    shown again once set, and are masked in run logs."""

    __tablename__ = "flow_variables"
    __table_args__ = (UniqueConstraint("environment_id", "name", name="uq_flow_variable"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[str] = mapped_column(Text)
    secret: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class FlowScheduleSlot(Base):
    """A schedule slot a flow has started its runs for: claimed in the transaction that writes
    those runs, so each slot starts once across restarts and processes."""

    __tablename__ = "flow_schedule_slots"
    __table_args__ = (UniqueConstraint("flow_pk", "slot", name="uq_flow_schedule_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_pk: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    created_at: Mapped[datetime]


class InboxNotification(Base):
    """A message for the people of an environment (the in-app inbox): from a flow's notification
    block, or about a flow run that failed."""

    __tablename__ = "inbox_notifications"
    __table_args__ = (Index("ix_inbox_env", "environment_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # message | run_failed
    title: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    assets: Mapped[list] = mapped_column(JSON, default=list)  # [{"public_id", "message"}]
    flow_id: Mapped[str | None] = mapped_column(String(40))
    run_id: Mapped[str | None] = mapped_column(String(40))
    # The run step that wrote it: a step replayed after a crash writes nothing twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class FlowExecutor(Base):
    """A process executing flow runs, by its runtime executor id, and when it last said it was
    alive. A process silent for longer than the executor timeout is taken for dead: another
    hands its unfinished runs back to the queues."""

    __tablename__ = "flow_executors"

    executor_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    heartbeat_at: Mapped[datetime]
    started_at: Mapped[datetime]
