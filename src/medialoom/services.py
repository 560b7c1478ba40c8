"""The wiring: one object that owns the database, the blob store and every domain service.

Built once per process from Settings; the web layer, the CLI and (later) the flow runtime all
use the same services, so a change made through any of them behaves the same.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from medialoom.assets.bulk import Bulk
from medialoom.assets.catalog import Catalog
from medialoom.assets.chunked import ChunkedUploads
from medialoom.assets.folders import Folders
from medialoom.assets.labels import Labels
from medialoom.assets.lifecycle import Lifecycle
from medialoom.assets.presets import Presets
from medialoom.assets.upload import Uploader
from medialoom.auth.client_limits import ClientLimits
from medialoom.auth.environments import EnvironmentInfo, Environments
from medialoom.auth.rate_limits import AdminRateLimits
from medialoom.config import Settings
from medialoom.db import migrate
from medialoom.db.session import Database
from medialoom.delivery.derived import Derivations
from medialoom.delivery.eager import Eager
from medialoom.delivery.named import NamedTransformations
from medialoom.delivery.producer import Producer
from medialoom.delivery.render_workers import RenderWorkers
from medialoom.errors import NotFound
from medialoom.events.dispatcher import Dispatcher
from medialoom.events.endpoints import Endpoints
from medialoom.events.retry import DEFAULT_SCHEDULE, RetrySchedule
from medialoom.events.sender import Sender
from medialoom.flows.assets import LocalAssets
from medialoom.flows.catalog import load_blocks
from medialoom.flows.engine import FlowEngine
from medialoom.flows.runs import RunHooks
from medialoom.flows.runtime.dbos import DbosRuntime
from medialoom.flows.service import Flows
from medialoom.flows.starter import FlowStarter
from medialoom.flows.variables import FlowVariables
from medialoom.housekeeping import Housekeeping
from medialoom.metadata.service import Metadata
from medialoom.net.addresses import AllowList
from medialoom.search.service import Search
from medialoom.storage import BlobStore, open_blob_store


@dataclass
class Services:
    settings: Settings
    db: Database
    blobs: BlobStore
    environments: Environments
    uploader: Uploader
    chunks: ChunkedUploads
    lifecycle: Lifecycle
    labels: Labels
    presets: Presets
    catalog: Catalog
    bulk: Bulk
    search: Search
    folders: Folders
    metadata: Metadata
    rate_limits: AdminRateLimits
    client_limits: ClientLimits
    outbound_allow: AllowList
    derivations: Derivations
    named: NamedTransformations
    producer: Producer
    eager: Eager
    dispatcher: Dispatcher
    endpoints: Endpoints
    flows: Flows
    flow_variables: FlowVariables
    flow_engine: FlowEngine
    housekeeping: Housekeeping

    @property
    def base_url(self) -> str:
        return self.settings.effective_public_url

    def environment(self, cloud_name: str) -> EnvironmentInfo:
        env = self.environments.by_cloud_name(cloud_name)
        if env is None:
            raise NotFound(f"Invalid cloud_name {cloud_name}")
        return env

    def close(self) -> None:
        self.housekeeping.stop()
        self.dispatcher.stop()
        self.flow_engine.stop()
        self.eager.close()
        self.derivations.workers.close()
        self.dispatcher.sender.close()
        self.db.dispose()


def prepare_data_dir(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def build_services(settings: Settings, *, run_migrations: bool = True) -> Services:
    prepare_data_dir(settings)
    if run_migrations:
        migrate.upgrade(settings.effective_database_url)
    db = Database(settings.effective_database_url)
    blobs = open_blob_store(settings)
    largest = max(settings.max_image_bytes, settings.max_video_bytes, settings.max_raw_bytes)
    lifecycle = Lifecycle(db, blobs)
    render_workers = RenderWorkers(settings, timeout=settings.render_timeout_seconds)
    derivations = Derivations(blobs, render_workers, settings.max_concurrent_derivations or 2 * (os.cpu_count() or 1))
    named = NamedTransformations(db)
    producer = Producer(db, blobs, derivations, named)
    allow = AllowList.parse(settings.outbound_allow_list)
    blocks = load_blocks()
    runtime = DbosRuntime(settings.effective_flow_runtime_database_url, executor_id=settings.flow_executor_id,
                          worker_concurrency=settings.flow_concurrency,
                          polling_interval_sec=max(0.01, settings.flow_poll_seconds),
                          long_wait_seconds=settings.flow_long_wait_seconds)
    flow_engine = FlowEngine(db, runtime, RunHooks(db, blocks, allow),
                             retention=timedelta(days=settings.flow_run_retention_days),
                             executor_id=settings.flow_executor_id,
                             executor_timeout=timedelta(seconds=settings.flow_executor_timeout_seconds),
                             max_chain_depth=settings.flow_max_chain_depth)
    services = Services(
        settings=settings,
        db=db,
        blobs=blobs,
        environments=Environments(db),
        uploader=Uploader(settings, db, blobs),
        chunks=ChunkedUploads(db, blobs, largest),
        lifecycle=lifecycle,
        labels=Labels(db),
        presets=Presets(db),
        catalog=Catalog(db),
        bulk=Bulk(lifecycle, producer.forget),
        search=Search(db),
        folders=Folders(db),
        metadata=Metadata(db),
        rate_limits=AdminRateLimits(db, settings.admin_rate_limit),
        client_limits=ClientLimits(unsigned_uploads_per_minute=settings.unsigned_uploads_per_minute,
                                   auth_failures_per_minute=settings.auth_failures_per_minute),
        outbound_allow=allow,
        derivations=derivations,
        named=named,
        producer=producer,
        eager=Eager(db, producer, settings.effective_public_url, lease_seconds=settings.eager_lease_seconds),
        dispatcher=Dispatcher(
            db, Sender(allow, timeout=settings.notification_timeout_seconds, max_connections=settings.notification_senders),
            RetrySchedule.parse(settings.notification_retry_schedule or DEFAULT_SCHEDULE),
            lease_seconds=settings.effective_notification_lease_seconds, senders=settings.notification_senders,
            subscribers=[FlowStarter(flow_engine)]),
        endpoints=Endpoints(db, allow),
        flows=Flows(db, blocks, flow_engine),
        flow_variables=FlowVariables(db),
        flow_engine=flow_engine,
        housekeeping=Housekeeping(),
    )
    services.housekeeping.every(services.eager.keeping_interval, "eager job leases", services.eager.keep_leases)
    ttl = settings.chunk_session_ttl_seconds
    services.housekeeping.every(min(3600.0, max(10.0, ttl / 2)), "abandoned chunked uploads",
                                lambda: services.chunks.sweep(ttl))
    services.housekeeping.every(30.0, "idle render workers", render_workers.retire_idle)
    # Asset blocks act through the same services as the API (built after the run hooks).
    flow_engine.hooks.assets_for = lambda environment_id: LocalAssets(services, environment_id)
    return services


def ensure_default_environment(services: Services) -> EnvironmentInfo | None:
    """On an empty data directory, create the first product environment from the settings
    (or generated credentials). Returns it when created."""
    if services.environments.count():
        return None
    settings = services.settings
    return services.environments.create(settings.cloud_name, settings.api_key, settings.api_secret,
                                        signature_algorithm=settings.signature_algorithm)


def on_start(services: Services) -> EnvironmentInfo | None:
    """Housekeeping when a server starts: discard abandoned chunked uploads and make sure a
    product environment exists. Returns the environment when one was created."""
    services.chunks.sweep(services.settings.chunk_session_ttl_seconds)
    return ensure_default_environment(services)
