"""``medialoom flows``: manage flows and follow their runs through a running server's flows API.

Like ``cld``, it finds the server and the environment's credentials in CLOUDINARY_URL (as
``medialoom serve`` prints it), or in ``--url``, so it works against a remote server as well.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer

flows_app = typer.Typer(help="Manage flows and follow their runs (through the server's flows API).",
                        no_args_is_help=True)

Url = Annotated[str, typer.Option("--url", envvar="CLOUDINARY_URL", show_envvar=True,
                                  help="cloudinary://KEY:SECRET@CLOUD?upload_prefix=http://HOST:PORT")]
FINISHED = ("succeeded", "failed", "stopped")


class Api:
    def __init__(self, cloudinary_url: str) -> None:
        import httpx

        parts = urlsplit(cloudinary_url)
        if parts.scheme != "cloudinary" or not parts.hostname or not parts.username:
            _fail("set CLOUDINARY_URL (or --url) to cloudinary://KEY:SECRET@CLOUD?upload_prefix=http://HOST:PORT")
        prefix = (parse_qs(parts.query).get("upload_prefix") or ["http://127.0.0.1:8000"])[0]
        self.base = f"{prefix.rstrip('/')}/v1_1/{parts.hostname}"
        self.client = httpx.Client(auth=(parts.username, parts.password or ""), timeout=60)

    def call(self, method: str, path: str, *, body: Any = None, params: dict | None = None) -> dict:
        import httpx

        try:
            response = self.client.request(method, f"{self.base}/{path}", json=body, params=params)
        except httpx.HTTPError as error:
            _fail(f"cannot reach {self.base}: {error}")
        try:
            answer = response.json()
        except ValueError:
            _fail(f"{response.status_code} from {self.base}/{path}: {response.text[:200]}")
        if response.status_code >= 400:
            _fail(answer.get("error", {}).get("message") or f"HTTP {response.status_code}")
        return answer


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


@flows_app.command("list")
def list_flows(url: Url = "") -> None:
    """List the environment's flows."""
    for flow in Api(url).call("GET", "flows")["flows"]:
        state = "enabled" if flow["enabled"] else "disabled"
        typer.echo(f"{flow['flow_id']}\t{state}\tv{flow['version']}\t{flow['trigger_type']}\t{flow['name']}")


@flows_app.command("show")
def show(flow_id: str, version: Annotated[int | None, typer.Option(help="An older version.")] = None,
         url: Url = "") -> None:
    """Print a flow with its document."""
    _print_json(Api(url).call("GET", f"flows/{flow_id}", params={"version": version} if version else None))


@flows_app.command("export")
def export(flow_id: str, output: Annotated[Path | None, typer.Option("-o", "--output", help="File to write.")] = None,
           version: Annotated[int | None, typer.Option(help="An older version.")] = None, url: Url = "") -> None:
    """Write a flow's document as JSON (to stdout, or a file), ready for `flows import`."""
    document = Api(url).call("GET", f"flows/{flow_id}", params={"version": version} if version else None)["document"]
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"Wrote {output}", err=True)


@flows_app.command("import")
def import_flow(
    path: Annotated[Path, typer.Argument(help="A flow document (JSON); '-' reads stdin.")],
    flow_id: Annotated[str | None, typer.Option("--flow-id", help="Save as a new version of this flow.")] = None,
    enable: Annotated[bool, typer.Option("--enable", help="Enable it (a new flow starts disabled).")] = False,
    note: Annotated[str, typer.Option(help="What changed, kept with the version.")] = "",
    url: Url = "",
) -> None:
    """Create a flow from a document, or save it as a new version of an existing one."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        document = json.loads(text)
    except ValueError as error:
        _fail(f"{path} is not JSON: {error}")
    api = Api(url)
    if flow_id:
        saved = api.call("PUT", f"flows/{flow_id}", body={"document": document, "note": note})
        if enable:
            saved = api.call("POST", f"flows/{flow_id}/enable")
    else:
        saved = api.call("POST", "flows", body={"document": document, "enabled": enable, "note": note})
    typer.echo(f"{saved['flow_id']}\tv{saved['version']}\t{'enabled' if saved['enabled'] else 'disabled'}")


def _inputs(pairs: list[str], as_json: str | None) -> dict[str, Any]:
    inputs: dict[str, Any] = json.loads(as_json) if as_json else {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator:
            _fail(f"--input takes NAME=VALUE, not {pair!r}")
        try:
            inputs[name] = json.loads(value)  # numbers, booleans, lists ...
        except ValueError:
            inputs[name] = value  # and anything else as text
    return inputs


@flows_app.command("run")
def run(
    flow_id: str,
    input_: Annotated[list[str] | None, typer.Option("--input", "-i", help="NAME=VALUE (JSON or text); repeat.")] = None,
    inputs_json: Annotated[str | None, typer.Option("--inputs", help="All inputs as a JSON object.")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run until it ends.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to follow it.")] = 600,
    url: Url = "",
) -> None:
    """Start a manual run; by default follow it block by block and exit 1 if it fails."""
    api = Api(url)
    started = api.call("POST", f"flows/{flow_id}/runs", body={"inputs": _inputs(input_ or [], inputs_json)})
    run_id = started["run_id"]
    typer.echo(f"Run {run_id} queued", err=True)
    if not wait:
        typer.echo(run_id)
        return
    shown = 0
    deadline = time.monotonic() + timeout
    while True:
        detail = api.call("GET", f"flow_runs/{run_id}")
        for step in detail["steps"][shown:]:
            if step["status"] != "running":
                typer.echo(_step_line(step), err=True)
                shown += 1
            else:
                break
        if detail["status"] in FINISHED:
            break
        if time.monotonic() > deadline:
            _fail(f"run {run_id} still {detail['status']} after {timeout:g} s")
        time.sleep(0.3)
    typer.echo(f"{run_id}\t{detail['status']}" + (f"\t{detail['error']}" if detail["error"] else ""))
    if detail["status"] == "failed":
        raise typer.Exit(1)


def _step_line(step: dict) -> str:
    where = f"[{step['iteration']}]" if step["iteration"] else ""
    if step["status"] == "reused":
        outcome = f"-> {step['port']} (reused from the run repeated)"
    elif step["status"] != "succeeded":
        outcome = f"failed: {step['error']}"
    else:
        outcome = f"-> {step['port']}" if step["port"] else "(ends the run)"
    attempt = f" (attempt {step['attempt']})" if step["attempt"] > 1 else ""
    return f"  {step['block']}{where}{attempt} {outcome} ({step['duration_ms'] or 0:.0f} ms)"


@flows_app.command("rerun")
def rerun(run_id: str,
          from_failed: Annotated[bool, typer.Option("--from-failed", help="Reuse what succeeded; run the failed "
                                                    "block and what follows.")] = False,
          url: Url = "") -> None:
    """Run again with the same trigger, on the flow's current version."""
    detail = Api(url).call("POST", f"flow_runs/{run_id}/rerun", body={"from": "failed" if from_failed else "start"})
    typer.echo(detail["run_id"])


@flows_app.command("runs")
def runs(flow_id: Annotated[str | None, typer.Argument(help="Only this flow's runs.")] = None,
         status: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed, stopped.")] = None,
         limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20, url: Url = "") -> None:
    """List runs, newest first."""
    params = {"max_results": limit, **({"status": status} if status else {})}
    path = f"flows/{flow_id}/runs" if flow_id else "flow_runs"
    for item in Api(url).call("GET", path, params=params)["runs"]:
        typer.echo(f"{item['run_id']}\t{item['flow_id']}\tv{item['version']}\t{item['status']}\t"
                   f"{item['created_at']}\t{item['error'] or ''}")


@flows_app.command("logs")
def logs(run_id: str, as_json: Annotated[bool, typer.Option("--json", help="The whole run as JSON.")] = False,
         url: Url = "") -> None:
    """A run's log: every block attempt with its input, output or error."""
    detail = Api(url).call("GET", f"flow_runs/{run_id}")
    if as_json:
        _print_json(detail)
        return
    typer.echo(f"{detail['run_id']}  flow {detail['flow_id']} v{detail['version']}  {detail['status']}  "
               f"started {detail['started_at'] or '-'}  finished {detail['finished_at'] or '-'}")
    if detail["error"]:
        typer.echo(f"error: {detail['error']}")
    for step in detail["steps"]:
        typer.echo(_step_line(step))
        typer.echo(f"      input:  {json.dumps(step['input'], ensure_ascii=False)[:300]}")
        if step["status"] == "succeeded":
            typer.echo(f"      output: {json.dumps(step['output'], ensure_ascii=False)[:300]}")

