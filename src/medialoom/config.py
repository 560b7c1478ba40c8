"""The one Settings object. Every knob is a MEDIALOOM_* environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALOOM_", extra="ignore")

    # Where the embedded defaults live: the SQLite database and the local blob directory.
    data_dir: Path = Path("./medialoom-data")
    # SQLAlchemy URL; empty means SQLite in WAL mode at {data_dir}/medialoom.db.
    database_url: str = ""

    # Blob storage: "local" keeps blobs under {data_dir}/blobs (or storage_path);
    # "s3" uses an S3-compatible bucket.
    storage: Literal["local", "s3"] = "local"
    storage_path: Path | None = None
    s3_endpoint_url: str = ""
    s3_bucket: str = "medialoom"
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    host: str = "127.0.0.1"
    port: int = 8000
    # The address clients use to reach this server (delivery URLs in responses).
    # Empty means http://{host}:{port}.
    public_url: str = ""

    # The product environment created on first start of an empty data directory.
    cloud_name: str = ""
    api_key: str = ""
    api_secret: str = ""
    # The first environment's signature algorithm (sha1 or sha256): notifications, response
    # signatures and signed URLs in responses. Change it later with `medialoom env set`.
    signature_algorithm: str = "sha1"

    # Limits that protect the server from hostile input.
    max_image_bytes: int = 100 * 1024 * 1024
    max_video_bytes: int = 1024 * 1024 * 1024
    max_raw_bytes: int = 100 * 1024 * 1024
    max_image_megapixels: float = 100.0
    # Remote fetches (upload by URL) are bounded in time and size.
    fetch_timeout_seconds: float = 20.0
    fetch_max_redirects: int = 5
    # Hosts or CIDRs that may be fetched although they are private or loopback.
    # The only way past the outbound guard; empty by default.
    outbound_allow: str = Field(default="")
    # Chunked uploads not completed within this many seconds are discarded.
    chunk_session_ttl_seconds: int = 24 * 3600
    # How long a signed request stays valid either side of the server clock.
    signature_max_age_seconds: int = 3600
    delete_token_ttl_seconds: int = 600
    # Admin API calls allowed per environment per hour (Cloudinary's plans allow 500-2000);
    # past it the API answers 420 until the hour turns.
    admin_rate_limit: int = 10_000
    # Per client address and server process (0: no limit). Unsigned uploads per environment
    # per minute, past which the API answers 429; failed authentications per minute, past which
    # every authenticated call from the address answers 429 until its failures age out.
    unsigned_uploads_per_minute: int = 120
    auth_failures_per_minute: int = 30
    # Transformations rendered at the same time per process (0: two per CPU); more wait. While
    # one rendering waits on storage or Python, another uses the CPU (+11 % requests/s at 8
    # clients on 2 CPUs over one per CPU).
    max_concurrent_derivations: int = 0
    # eager_async work is a job leased to the process rendering it, renewed every third of this;
    # a job whose process died is taken up elsewhere once its lease has run out.
    eager_lease_seconds: float = 60.0
    # libvips threads per rendering. Renderings run side by side, so one each keeps the CPUs
    # busy without threads competing (+5 % requests/s at 8 clients); raise it for fewer, larger
    # images where one request's latency matters most.
    render_threads: int = 1
    # A rendering still going after this long is stopped (its render worker is killed) and the
    # request answered with an error.
    render_timeout_seconds: float = 60.0

    # Outbound notifications (webhooks). This process delivers the outbox when true (every
    # serve/worker process may: they share the work through leases on the deliveries).
    notifications: bool = True
    # Delays before each retry, comma-separated with s/m/h/d units (see events.retry); when
    # they are spent the delivery has failed for good. Empty: the documented default.
    notification_retry_schedule: str = ""
    # One attempt's time limit (connect, send and the answer's first bytes).
    notification_timeout_seconds: float = 10.0
    # Deliveries sent at the same time by one process.
    notification_senders: int = 16
    # How long a process holds the deliveries it is sending. One killed while sending leaves
    # them to be sent again (with the same event id) when this runs out. 0: three attempt
    # timeouts, at least a minute. It must outlast an attempt, or a slow send goes out twice.
    notification_lease_seconds: float = 0.0

    # Flows. This process executes flow runs when true (serve and every worker may).
    flows: bool = True
    # Where the flow runtime (DBOS) keeps its checkpoints: by default a SQLite file next to
    # the database (its own file, so that runs do not queue behind the API's writes), or the
    # PostgreSQL database itself when MEDIALOOM_DATABASE_URL points at one.
    flow_runtime_database_url: str = ""
    # Who this process is to the runtime: a process that starts again under the same id resumes
    # the runs it was executing. Give every live process its own.
    flow_executor_id: str = "local"
    # A wait longer than this (a delay block, a retry's backoff) holds no worker: the run is
    # carried on by a continuation that starts when the wait is over.
    flow_long_wait_seconds: float = 60.0
    # Runs a process takes from the queues at once; as many runs without a partition key
    # (manual, webhook, schedule) again start at once without queueing (runtime/dbos.py).
    flow_concurrency: int = 16
    # How often the runtime looks for queued runs: a run waits half of it on average before it
    # starts. 0.05 cuts that wait to ~25 ms at ~20 % of a core while idle (0.2: ~8 %).
    flow_poll_seconds: float = 0.2
    # A process executing flows that has not said it is alive for this long is taken for dead,
    # and another hands its unfinished runs back to the queues.
    flow_executor_timeout_seconds: float = 30.0
    # Finished runs and their logs are kept this many days.
    flow_run_retention_days: int = 30
    # A run started by another run's doing (an event it caused, a flow.call, a webhook its HTTP
    # request called) continues that run's chain; a chain longer than this starts no more runs,
    # which stops a flow that triggers itself (reliability.md WF-09).
    flow_max_chain_depth: int = 10

    @property
    def effective_flow_runtime_database_url(self) -> str:
        if self.flow_runtime_database_url:
            return self.flow_runtime_database_url
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'runtime.sqlite').resolve()}"

    @property
    def effective_notification_lease_seconds(self) -> float:
        if not self.notification_lease_seconds:
            return max(60.0, 3 * self.notification_timeout_seconds)
        return max(self.notification_lease_seconds, self.notification_timeout_seconds + 1.0)

    @property
    def outbound_allow_list(self) -> list[str]:
        return [item.strip() for item in self.outbound_allow.split(",") if item.strip()]

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'medialoom.db').resolve()}"

    @property
    def blob_root(self) -> Path:
        return (self.storage_path or self.data_dir / "blobs").resolve()

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"
