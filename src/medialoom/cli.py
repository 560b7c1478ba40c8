"""The ``medialoom`` command: serve | worker | migrate | env | notifications | flows (the only entry point)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from medialoom.cli_flows import flows_app
from medialoom.config import Settings

app = typer.Typer(help="medialoom: a self-hosted media platform that speaks the Cloudinary APIs.",
                  no_args_is_help=True, add_completion=False)
env_app = typer.Typer(help="Manage product environments (each one a cloud name with its own keys).",
                      no_args_is_help=True)
app.add_typer(env_app, name="env")
notifications_app = typer.Typer(help="Read the notification delivery log and send deliveries again.",
                                no_args_is_help=True)
app.add_typer(notifications_app, name="notifications")
app.add_typer(flows_app, name="flows")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Directory for the database and blobs.")]


def _settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    values = {key: value for key, value in overrides.items() if value is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return Settings(**values)


def cloudinary_url(env, public_url: str) -> str:  # noqa: ANN001
    host = public_url.split("://", 1)[1]
    return f"{env.cloudinary_url}?upload_prefix={public_url}&cname={host}"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[int, typer.Option(help="Worker processes (they share the database and blobs).")] = 1,
) -> None:
    """Run the APIs and delivery in one process (SQLite and a local directory by default)."""
    import uvicorn

    from medialoom.services import build_services, on_start

    settings = _settings(data_dir, host=host, port=port)
    # Migrate and create the first environment once, before any worker starts.
    services = build_services(settings)
    created = on_start(services)
    envs = services.environments.list()
    services.close()
    if created:
        typer.echo(f"Created product environment {created.cloud_name}")
    for env in envs:
        typer.echo(f"CLOUDINARY_URL={cloudinary_url(env, settings.effective_public_url)}")
    typer.echo(f"Serving on http://{host}:{port} (data in {settings.data_dir.resolve()})", err=True)

    # Workers rebuild the same settings from the environment.
    os.environ["MEDIALOOM_DATA_DIR"] = str(settings.data_dir.resolve())
    os.environ["MEDIALOOM_HOST"] = host
    os.environ["MEDIALOOM_PORT"] = str(port)
    engine_host = None
    if workers > 1 and settings.flows:
        # One flow runtime per executor id: this supervising process runs flows, its web
        # workers only queue them (this process picks their runs up within seconds).
        os.environ["MEDIALOOM_FLOWS"] = "false"
        engine_host = build_services(settings, run_migrations=False)
        engine_host.flow_engine.start()
    try:
        uvicorn.run("medialoom.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                    log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    finally:
        if engine_host is not None:
            engine_host.close()


@app.command()
def worker(data_dir: DataDir = None) -> None:
    """Deliver notifications and run flows without serving HTTP. Run as many as you like next to
    `serve` (with MEDIALOOM_NOTIFICATIONS=false and MEDIALOOM_FLOWS=false there to leave the work
    to workers; give each worker its own MEDIALOOM_FLOW_EXECUTOR_ID). Notifications are shared
    through leases; a killed worker's flow runs resume when a worker with its id starts again."""
    import signal
    import threading

    from medialoom.services import build_services

    settings = _settings(data_dir)
    services = build_services(settings)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    if settings.flows:
        services.flow_engine.start()
    if settings.notifications:
        services.dispatcher.start()
    services.housekeeping.start()  # e.g. takes up eager_async jobs whose process died
    typer.echo(f"Worker delivering notifications and running flows (data in {settings.data_dir.resolve()})",
               err=True)
    stopping.wait()
    services.close()


@app.command()
def migrate(data_dir: DataDir = None) -> None:
    """Bring the database to the newest schema."""
    from medialoom.db.migrate import upgrade
    from medialoom.services import prepare_data_dir

    settings = _settings(data_dir)
    prepare_data_dir(settings)
    upgrade(settings.effective_database_url)
    typer.echo("Database is up to date.")


@env_app.command("create")
def env_create(
    cloud_name: Annotated[str, typer.Argument(help="Cloud name; generated when omitted.")] = "",
    api_key: Annotated[str, typer.Option(help="API key; generated when omitted.")] = "",
    api_secret: Annotated[str, typer.Option(help="API secret; generated when omitted.")] = "",
    folder_mode: Annotated[str, typer.Option(help="dynamic or fixed.")] = "dynamic",
    signature_algorithm: Annotated[str, typer.Option(
        help="sha1 or sha256: signs notifications and the signatures in responses.")] = "sha1",
    data_dir: DataDir = None,
) -> None:
    """Create a product environment and print its CLOUDINARY_URL."""
    from medialoom.errors import ApiError
    from medialoom.services import build_services

    settings = _settings(data_dir)
    services = build_services(settings)
    try:
        env = services.environments.create(cloud_name, api_key, api_secret, folder_mode,
                                           signature_algorithm=signature_algorithm)
    except ApiError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from error
    finally:
        services.close()
    typer.echo(f"CLOUDINARY_URL={cloudinary_url(env, settings.effective_public_url)}")


@env_app.command("set")
def env_set(
    cloud_name: Annotated[str, typer.Argument(help="Cloud name of the environment to change.")],
    strict_transformations: Annotated[bool | None, typer.Option(
        "--strict-transformations/--no-strict-transformations",
        help="Derive only named (allowed for strict), eager or signed transformations.")] = None,
    auth_token_key: Annotated[str | None, typer.Option(
        help="Hex key that signs __cld_token__ delivery tokens; an empty string removes it.")] = None,
    signature_algorithm: Annotated[str | None, typer.Option(
        help="sha1 or sha256: signs notifications and the signatures in responses.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Change an environment's delivery and signing settings."""
    from medialoom.errors import ApiError
    from medialoom.services import build_services

    services = build_services(_settings(data_dir))
    try:
        env = services.environments.configure(cloud_name, strict_transformations=strict_transformations,
                                              auth_token_key=auth_token_key,
                                              signature_algorithm=signature_algorithm)
    except ApiError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from error
    finally:
        services.close()
    typer.echo(f"{env.cloud_name}\tstrict_transformations={env.strict_transformations}\t"
               f"auth_token_key={'set' if env.auth_token_key else 'unset'}\t"
               f"signature_algorithm={env.signature_algorithm}")


@env_app.command("list")
def env_list(data_dir: DataDir = None) -> None:
    """List product environments."""
    from medialoom.services import build_services

    services = build_services(_settings(data_dir))
    for env in services.environments.list():
        typer.echo(f"{env.cloud_name}\tapi_key={env.api_key}\tfolder_mode={env.folder_mode}\tcreated={env.created_at}")
    services.close()


@env_app.command("url")
def env_url(
    cloud_name: Annotated[str, typer.Argument(help="Cloud name; the first environment when omitted.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Print the CLOUDINARY_URL that points the official SDKs at this server."""
    from medialoom.services import build_services

    settings = _settings(data_dir)
    services = build_services(settings)
    try:
        env = _environment(services, cloud_name)
    finally:
        services.close()
    typer.echo(cloudinary_url(env, settings.effective_public_url))


def _environment(services, cloud_name: str):  # noqa: ANN001, ANN202
    """The named environment, or the first when no name is given; exits with a message otherwise."""
    envs = services.environments.list()
    chosen = [env for env in envs if env.cloud_name == cloud_name] if cloud_name else envs[:1]
    if not chosen:
        typer.echo(f"error: no environment {cloud_name!r}", err=True)
        raise typer.Exit(1)
    return chosen[0]


Cloud = Annotated[str, typer.Option("--cloud", help="Cloud name; the first environment when omitted.")]


@notifications_app.command("log")
def notifications_log(
    status: Annotated[str | None, typer.Option(help="pending, delivered, failed or cancelled.")] = None,
    event_id: Annotated[str | None, typer.Option("--event-id", help="Only this event's deliveries.")] = None,
    limit: Annotated[int, typer.Option(help="How many deliveries, newest first (at most 500).")] = 20,
    attempts: Annotated[bool, typer.Option("--attempts", help="Show every attempt under its delivery.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the log as the API returns it.")] = False,
    cloud: Cloud = "",
    data_dir: DataDir = None,
) -> None:
    """Show what became of notifications: where each went, its status, attempts and answers."""
    import json

    from medialoom.services import build_services

    services = build_services(_settings(data_dir))
    try:
        log = services.endpoints.deliveries(_environment(services, cloud), status=status, event_id=event_id,
                                            limit=limit)
    finally:
        services.close()
    if as_json:
        typer.echo(json.dumps(log, indent=2))
        return
    for delivery in log["deliveries"]:
        answer = delivery["last_status_code"] or delivery["last_error"] or "-"
        typer.echo(f"{delivery['id']}\t{delivery['created_at']}\t{delivery['notification_type']}\t"
                   f"{delivery['status']}\tattempts={delivery['attempts']}\tlast={answer}\t{delivery['url']}\t"
                   f"event={delivery['event_id']}")
        if attempts:
            for attempt in delivery["log"]:
                outcome = attempt["status_code"] or attempt["error"]
                typer.echo(f"    {attempt['attempted_at']}\t{outcome}\t{attempt['duration_ms']} ms\t"
                           f"{(attempt['response'] or '')[:80]!r}")
    if not log["deliveries"]:
        typer.echo("No deliveries.", err=True)


@notifications_app.command("redeliver")
def notifications_redeliver(
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id, as `notifications log` shows it.")],
    cloud: Cloud = "",
    data_dir: DataDir = None,
) -> None:
    """Send a delivery again (with the same event id), whatever became of it before. A running
    server or worker sends it within a moment."""
    from medialoom.errors import ApiError
    from medialoom.services import build_services

    services = build_services(_settings(data_dir))
    try:
        services.endpoints.redeliver(_environment(services, cloud), delivery_id)
    except ApiError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from error
    finally:
        services.close()
    typer.echo(f"Delivery {delivery_id} will be sent again.")


if __name__ == "__main__":
    app()
