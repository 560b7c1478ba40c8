"""Flows through the flows API and the ``medialoom flows`` command line, on a real server: saving
with validation and versions, manual runs with typed inputs, and runs started by asset changes
made with the official SDK that call a loopback receiver."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import cloudinary.api
import cloudinary.uploader
import httpx
import pytest

from tests.receiver import Receiver, running_receiver
from tests.sdk.conftest import ORIGIN_HOST
from tests.sdk.helpers import finished_run, flows_api
from tests.server import RunningServer

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver(ORIGIN_HOST) as running:
        yield running


def greeting_flow(name: str) -> dict:
    return {
        "name": name,
        "trigger": {"type": "manual", "params": {"parameters": [{"name": "who", "required": True},
                                                                {"name": "times", "type": "number", "default": 1}]}},
        "blocks": {
            "check": {"type": "condition", "params": {"expression": "trigger.inputs.who != 'nobody'"}},
            "greet": {"type": "set_variables", "params": {"values": {"greeting": "hello {{ trigger.inputs.who }}"}}},
            "done": {"type": "stop", "params": {"message": "{{ vars.greeting }} x{{ trigger.inputs.times }}"}},
            "refuse": {"type": "stop", "params": {"status": "failed", "message": "nobody to greet"}},
        },
        "edges": [{"from": "trigger", "to": "check"}, {"from": "check", "port": "true", "to": "greet"},
                  {"from": "greet", "port": "ok", "to": "done"}, {"from": "check", "port": "false", "to": "refuse"}],
    }


def test_a_manual_run_takes_its_inputs_and_logs_every_block(server: RunningServer) -> None:
    flow = flows_api(server, "POST", "flows", {"document": greeting_flow("greeting")})
    assert flow["version"] == 1 and flow["enabled"] is False and flow["flow_id"].startswith("flw_")

    started = flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": {"who": "world"}})
    run = finished_run(server, started["run_id"])
    assert run["status"] == "succeeded" and run["result"]["message"] == "hello world x1"
    assert [(step["block"], step["port"]) for step in run["steps"]] == [("check", "true"), ("greet", "ok"),
                                                                        ("done", None)]
    assert run["steps"][1]["input"] == {"values": {"greeting": "hello world"}}
    assert run["trigger"] == {"inputs": {"who": "world", "times": 1}}

    refused = finished_run(server, flows_api(server, "POST", f"flows/{flow['flow_id']}/runs",
                                   {"inputs": {"who": "nobody"}})["run_id"])
    assert refused["status"] == "failed" and refused["error"] == "nobody to greet"

    # Inputs are checked against the trigger's declaration before anything runs.
    for inputs, problem in (({}, "'who' is required"), ({"who": "x", "times": "many"}, "'times' must be a number"),
                            ({"who": "x", "colour": 1}, "unknown input 'colour'")):
        error = flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": inputs}, expect=400)
        assert problem in error["error"]["message"]

    listed = flows_api(server, "GET", f"flows/{flow['flow_id']}/runs")["runs"]
    assert [r["status"] for r in listed[:2]] == ["failed", "succeeded"]


def test_saving_validates_and_keeps_every_version(server: RunningServer) -> None:
    broken = greeting_flow("broken")
    broken["blocks"]["check"]["type"] = "no_such_block"
    broken["edges"].append({"from": "greet", "port": "maybe", "to": "done"})
    message = flows_api(server, "POST", "flows", {"document": broken}, expect=400)["error"]["message"]
    assert "unknown block type 'no_such_block'" in message and "'greet' has no port 'maybe'" in message
    assert flows_api(server, "POST", "flows", {"document": "not a flow"}, expect=400)

    flow = flows_api(server, "POST", "flows", {"document": greeting_flow("versioned")})
    changed = greeting_flow("versioned, renamed")
    changed["blocks"]["refuse"]["params"]["message"] = "try again"
    updated = flows_api(server, "PUT", f"flows/{flow['flow_id']}", {"document": changed, "note": "kinder"})
    assert updated["version"] == 2 and updated["name"] == "versioned, renamed"
    versions = flows_api(server, "GET", f"flows/{flow['flow_id']}/versions")["versions"]
    assert [(v["version"], v["note"]) for v in versions] == [(2, "kinder"), (1, "")]
    first = flows_api(server, "GET", f"flows/{flow['flow_id']}?version=1")
    assert first["document"]["blocks"]["refuse"]["params"]["message"] == "nobody to greet"
    # A run pins the version current when it starts.
    run = finished_run(server, flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": {"who": "nobody"}})["run_id"])
    assert run["version"] == 2 and run["error"] == "try again"

    copy = flows_api(server, "POST", f"flows/{flow['flow_id']}/duplicate", {"name": "a copy"})
    assert copy["flow_id"] != flow["flow_id"] and copy["version"] == 1
    assert flows_api(server, "DELETE", f"flows/{copy['flow_id']}") == {"message": "deleted"}
    flows_api(server, "GET", f"flows/{copy['flow_id']}", expect=404)


def test_a_tag_change_starts_an_enabled_flow_that_calls_a_receiver(server: RunningServer, receiver: Receiver,
                                                                    files) -> None:
    hook = f"flow-{uuid.uuid4().hex[:8]}"
    document = {
        "name": "tell on tags",
        "trigger": {"type": "tags_changed", "params": {"tags_any": [hook]}},
        "blocks": {"tell": {"type": "http.request", "params": {
            "method": "POST", "url": receiver.url(hook),
            "body": {"public_id": "{{ trigger.public_id }}", "added": "{{ trigger.added }}"}}}},
        "edges": [{"from": "trigger", "to": "tell"}],
    }
    flow = flows_api(server, "POST", "flows", {"document": document, "enabled": True})
    try:
        tagged = cloudinary.uploader.upload(str(files["png"]))
        other = cloudinary.uploader.upload(str(files["png"]))
        cloudinary.uploader.add_tag("unrelated", [other["public_id"]])  # the filter lets this one pass by
        cloudinary.uploader.add_tag(hook, [tagged["public_id"]])
        (call,) = receiver.wait_for(hook, timeout=30)
        assert call.payload == {"public_id": tagged["public_id"], "added": [hook]}
        assert call.headers["idempotency-key"].startswith("run_")
        runs = flows_api(server, "GET", f"flows/{flow['flow_id']}/runs")["runs"]
        assert len(runs) == 1
        run = finished_run(server, runs[0]["run_id"])
        assert run["status"] == "succeeded" and run["steps"][0]["output"]["status"] == 200
        # Disabled, it starts nothing.
        flows_api(server, "POST", f"flows/{flow['flow_id']}/disable")
        cloudinary.uploader.add_tag(hook, [other["public_id"]])
        time.sleep(1.5)
        assert len(receiver.at(hook)) == 1
    finally:
        flows_api(server, "DELETE", f"flows/{flow['flow_id']}")


def test_runs_on_one_asset_take_turns_in_the_order_of_its_changes(server: RunningServer, receiver: Receiver,
                                                                   files) -> None:
    """The first change's run starts at once (nothing else of the asset is going); the changes
    made while it runs queue theirs, which must not start before it ends, nor overtake one
    another."""
    hook = f"turns-{uuid.uuid4().hex[:8]}"

    def tell(mark: str) -> dict:
        return {"type": "http.request", "params": {"method": "POST", "url": receiver.url(hook),
                                                   "body": {"mark": mark, "added": "{{ trigger.added }}"}}}

    document = {
        "name": "take turns",
        "trigger": {"type": "tags_changed", "params": {"tags_any": [hook]}},
        "blocks": {"begin": tell("begin"), "pause": {"type": "delay", "params": {"seconds": 0.6}},
                   "end": tell("end")},
        "edges": [{"from": "trigger", "to": "begin"}, {"from": "begin", "port": "ok", "to": "pause"},
                  {"from": "pause", "port": "ok", "to": "end"}],
    }
    flow = flows_api(server, "POST", "flows", {"document": document, "enabled": True})
    try:
        public_id = cloudinary.uploader.upload(str(files["png"]), tags=[hook])["public_id"]
        for change in ("a", "b", "c"):
            cloudinary.uploader.add_tag(f"{hook}-{change}", [public_id])
        calls = sorted(receiver.wait_for(hook, 6, timeout=60), key=lambda call: call.at)
        assert [(call.payload["mark"], call.payload["added"]) for call in calls] == [
            (mark, [f"{hook}-{change}"]) for change in ("a", "b", "c") for mark in ("begin", "end")]
    finally:
        flows_api(server, "DELETE", f"flows/{flow['flow_id']}")


def _cli(server: RunningServer, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "medialoom", "flows", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "CLOUDINARY_URL": server.cloudinary_url})


def test_a_flow_that_triggers_itself_stops_at_the_chain_limit(server: RunningServer, files) -> None:
    """Each run tags the asset, which is a tag change, which starts the flow again: the chain of
    runs stops at MEDIALOOM_FLOW_MAX_CHAIN_DEPTH (10), and the inbox says why (WF-09)."""
    hook = f"loop-{uuid.uuid4().hex[:8]}"
    flow = flows_api(server, "POST", "flows", {"enabled": True, "document": {
        "name": "tags itself", "trigger": {"type": "tags_changed", "params": {"tags_any": [hook]}},
        "blocks": {"tag": {"type": "asset.update_tags", "params": {
            "command": "add", "tags": ["{{ 'n' + string(size(trigger.tags)) }}"], "public_ids": ["{{ trigger.public_id }}"]}}},
        "edges": [{"from": "trigger", "to": "tag"}]}})
    try:
        asset = cloudinary.uploader.upload(str(files["png"]), tags=[])
        cloudinary.uploader.add_tag(hook, [asset["public_id"]])

        def runs() -> list[dict]:
            return flows_api(server, "GET", f"flows/{flow['flow_id']}/runs?max_results=100")["runs"]

        deadline = time.monotonic() + 60
        while len(runs()) < 11 or any(run["status"] not in ("succeeded", "failed") for run in runs()):
            assert time.monotonic() < deadline, runs()
            time.sleep(0.2)
        time.sleep(2)  # what the last run's tag change would have started
        assert len(runs()) == 11 and {run["status"] for run in runs()} == {"succeeded"}
        assert len(cloudinary.api.resource(asset["public_id"])["tags"]) == 12  # the hook and n1 ... n11
        [told] = [message for message in flows_api(server, "GET", "inbox?max_results=100")["notifications"]
                  if message["kind"] == "chain_stopped" and message["flow_id"] == flow["flow_id"]]
        assert "runs kept starting one another" in told["title"] and "limit of 10" in told["body"]
    finally:
        flows_api(server, "DELETE", f"flows/{flow['flow_id']}")


def test_the_command_line_imports_runs_and_shows_logs(server: RunningServer, tmp_path) -> None:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(greeting_flow("from the cli")))
    imported = _cli(server, "import", str(path), "--enable")
    assert imported.returncode == 0, imported.stderr
    flow_id = imported.stdout.split("\t")[0]
    assert "enabled" in imported.stdout

    ran = _cli(server, "run", flow_id, "--input", "who=cli", "--input", "times=3")
    assert ran.returncode == 0, ran.stderr
    run_id, status = ran.stdout.split()[:2]
    assert status == "succeeded"
    assert "check -> true" in ran.stderr and "done (ends the run)" in ran.stderr

    failed = _cli(server, "run", flow_id, "--input", "who=nobody")
    assert failed.returncode == 1 and "nobody to greet" in failed.stdout

    logs = _cli(server, "logs", run_id)
    assert logs.returncode == 0 and '"greeting": "hello cli"' in logs.stdout
    exported = _cli(server, "export", flow_id)
    assert json.loads(exported.stdout)["name"] == "from the cli"
    assert flow_id in _cli(server, "list").stdout
    assert run_id in _cli(server, "runs", flow_id).stdout
    bad = _cli(server, "run", "flw_nope")
    assert bad.returncode == 1 and "not found" in bad.stderr


def _signed(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """Headers as Cloudinary signs a notification: SHA-1 over the body, the timestamp and the secret."""
    digest = hashlib.sha1(body + str(timestamp).encode() + secret.encode()).hexdigest()
    return {"X-Cld-Timestamp": str(timestamp), "X-Cld-Signature": digest, "Content-Type": "application/json"}


def test_a_catch_webhook_starts_runs_only_for_verified_calls(server: RunningServer, receiver: Receiver) -> None:
    hook = f"webhook-{uuid.uuid4().hex[:8]}"
    document = {
        "name": "caught",
        "trigger": {"type": "catch_webhook", "params": {"verification": "cloudinary"}},
        "blocks": {"tell": {"type": "http.request", "params": {
            "method": "POST", "url": receiver.url(hook),
            "body": {"public_id": "{{ trigger.body.public_id }}", "type": "{{ trigger.body.notification_type }}"}}}},
        "edges": [{"from": "trigger", "to": "tell"}],
    }
    flow = flows_api(server, "POST", "flows", {"document": document, "enabled": True})
    url = f"{server.base_url}/v1_1/{server.cloud_name}/{flow['webhook_path']}"
    body = json.dumps({"notification_type": "upload", "public_id": "caught/one", "script": "{{ env }}"}).encode()
    now = int(time.time())

    accepted = httpx.post(url, content=body, headers=_signed(body, server.api_secret, now), timeout=30)
    assert accepted.status_code == 200, accepted.text
    run = finished_run(server, accepted.json()["run_id"])
    assert run["status"] == "succeeded"
    assert receiver.wait_for(hook)[0].payload == {"public_id": "caught/one", "type": "upload"}
    assert run["trigger"]["body"]["script"] == "{{ env }}"  # the body is data, never evaluated

    refused = [
        (_signed(body, "not-the-secret", now), 401, "does not match"),
        (_signed(body, server.api_secret, now - 3 * 3600), 401, "s old"),
        ({**_signed(body, server.api_secret, now), "X-Cld-Signature": ""}, 401, "missing"),
    ]
    for headers, status, reason in refused:
        answer = httpx.post(url, content=body, headers=headers, timeout=30)
        assert answer.status_code == status and reason in answer.json()["error"]["message"], answer.text
    form = httpx.post(url, content=b"a=1", headers={**_signed(b"a=1", server.api_secret, now),
                                                     "Content-Type": "text/plain"}, timeout=30)
    assert form.status_code == 415
    assert httpx.post(url.replace(flow["webhook_path"].rsplit("/", 1)[1], "wrong-token"), content=body,
                      headers=_signed(body, server.api_secret, now), timeout=30).status_code == 404
    # A call made by a flow's HTTP request continues that run's chain; past the limit it starts nothing.
    looped = httpx.post(url, content=body, headers={**_signed(body, server.api_secret, now),
                                                     "X-Medialoom-Chain-Depth": "11"}, timeout=30)
    assert looped.status_code == 508 and "chain of 10 flow runs" in looped.json()["error"]["message"]
    assert len(flows_api(server, "GET", f"flows/{flow['flow_id']}/runs")["runs"]) == 1  # nothing else started
    chained = httpx.post(url, content=body, headers={**_signed(body, server.api_secret, now),
                                                      "X-Medialoom-Chain-Depth": "4"}, timeout=30)
    assert finished_run(server, chained.json()["run_id"])["chain_depth"] == 4
    assert receiver.wait_for(hook, 2)[1].headers["x-medialoom-chain-depth"] == "5"  # and passes it on

    # A shared secret in a header, held by a secret flow variable that the log never shows.
    flows_api(server, "PUT", "flow_variables/HOOK_SECRET", {"value": "s3cret-value", "secret": True})
    assert flows_api(server, "GET", "flow_variables")["variables"][0]["value"] is None
    document["trigger"]["params"] = {"verification": "header_secret", "secret_variable": "HOOK_SECRET",
                                     "max_bytes": 100, "parameters": [{"name": "public_id", "required": True}]}
    document["blocks"]["tell"]["params"]["headers"] = {"X-Echo": "{{ env.HOOK_SECRET }}"}
    document["blocks"]["tell"]["params"]["body"] = {"public_id": "{{ trigger.inputs.public_id }}"}
    flows_api(server, "PUT", f"flows/{flow['flow_id']}", {"document": document})
    plain = {"Content-Type": "application/json"}
    assert httpx.post(url, content=b'{"public_id": "x"}', headers=plain, timeout=30).status_code == 401
    with_secret = {**plain, "X-Webhook-Secret": "s3cret-value"}
    assert httpx.post(url, content=b'{"nope": 1}', headers=with_secret, timeout=30).status_code == 400
    assert httpx.post(url, content=b'{"public_id": "' + b"x" * 200 + b'"}', headers=with_secret,
                      timeout=30).status_code == 413
    ok = httpx.post(url, content=b'{"public_id": "two"}', headers=with_secret, timeout=30)
    run = finished_run(server, ok.json()["run_id"])
    assert run["status"] == "succeeded", (run["error"], run["steps"])
    assert run["trigger"]["inputs"] == {"public_id": "two"}
    assert receiver.wait_for(hook, 3)[2].headers["x-echo"] == "s3cret-value"
    assert "s3cret-value" not in json.dumps(run)  # masked in the run log
    flows_api(server, "DELETE", f"flows/{flow['flow_id']}")
    flows_api(server, "DELETE", "flow_variables/HOOK_SECRET")


def test_failures_notify_and_a_rerun_from_the_failed_block_reuses_what_succeeded(
        server: RunningServer, receiver: Receiver) -> None:
    hook = f"rerun-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{hook}-b"] = [500, 500]  # the second call fails twice (its first run's tries)
    document = {
        "name": "fails then works",
        "trigger": {"type": "manual"},
        "settings": {"on_failure": {"inbox": True, "notification_url": receiver.url(f"{hook}-failed")}},
        "blocks": {
            "first": {"type": "http.request", "params": {"method": "POST", "url": receiver.url(f"{hook}-a")}},
            "second": {"type": "http.request", "params": {"method": "POST", "url": receiver.url(f"{hook}-b")},
                       "retry": {"max_attempts": 2, "backoff_seconds": 0.1}},
            "tell": {"type": "notify.inbox", "params": {"title": "done", "description": "status {{ steps.first.output.status }}",
                                                        "assets": [{"public_id": "x", "message": "checked"}]}},
        },
        "edges": [{"from": "trigger", "to": "first"}, {"from": "first", "port": "ok", "to": "second"},
                  {"from": "second", "port": "ok", "to": "tell"}],
    }
    flow = flows_api(server, "POST", "flows", {"document": document})
    failed = finished_run(server, flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {})["run_id"])
    assert failed["status"] == "failed" and "500" in failed["error"]
    assert [(s["block"], s["attempt"], s["status"]) for s in failed["steps"]] == [
        ("first", 1, "succeeded"), ("second", 1, "failed"), ("second", 2, "failed")]
    # The failure is in the inbox and was sent, signed, to the flow's failure URL.
    (told,) = receiver.wait_for(f"{hook}-failed")
    assert told.payload["notification_type"] == "flow_run_failed" and told.payload["run_id"] == failed["run_id"]
    inbox = flows_api(server, "GET", "inbox?unread=true")["notifications"]
    failure = next(n for n in inbox if n["run_id"] == failed["run_id"])
    assert failure["kind"] == "run_failed" and "fails then works" in failure["title"]

    again = finished_run(server, flows_api(server, "POST", f"flow_runs/{failed['run_id']}/rerun", {"from": "failed"})["run_id"])
    assert again["status"] == "succeeded" and again["rerun_of"] == failed["run_id"], (again["error"], again["steps"])
    assert [(s["block"], s["status"]) for s in again["steps"]] == [
        ("first", "reused"), ("second", "succeeded"), ("tell", "succeeded")]
    assert len(receiver.at(f"{hook}-a")) == 1  # the block that had succeeded did not run again
    message = next(n for n in flows_api(server, "GET", "inbox")["notifications"] if n["run_id"] == again["run_id"])
    assert message["title"] == "done" and message["body"] == "status 200" and message["assets"][0]["message"] == "checked"
    assert flows_api(server, "POST", f"inbox/{message['id']}/read") == {"message": "ok"}
    assert flows_api(server, "POST", f"flow_runs/{again['run_id']}/rerun", {"from": "failed"}, expect=400)
    from_start = finished_run(server, flows_api(server, "POST", f"flow_runs/{failed['run_id']}/rerun", {})["run_id"])
    assert from_start["status"] == "succeeded" and len(receiver.at(f"{hook}-a")) == 2


def test_a_concurrent_for_each_calls_once_per_item_and_logs_each(server: RunningServer, receiver: Receiver) -> None:
    hook = f"each-{uuid.uuid4().hex[:8]}"
    flow = flows_api(server, "POST", "flows", {"document": {
        "name": "fan out", "trigger": {"type": "manual"},
        "blocks": {"each": {"type": "for_each", "params": {"items": ["a", "b", "c", "d", "e", "f"], "concurrency": 3}},
                   "tell": {"type": "http.request", "params": {"method": "POST", "url": receiver.url(hook),
                                                               "body": {"item": "{{ item }}", "index": "{{ index }}"}}},
                   "count": {"type": "set_variables", "params": {"values": {"items": "{{ steps.each.output.count }}"}}}},
        "edges": [{"from": "trigger", "to": "each"}, {"from": "each", "port": "item", "to": "tell"},
                  {"from": "each", "port": "done", "to": "count"}]}})
    run = finished_run(server, flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {})["run_id"])
    assert run["status"] == "succeeded", run["error"]
    assert run["result"]["variables"]["items"] == 6
    calls = receiver.wait_for(hook, 6)
    assert sorted(call.payload["item"] for call in calls) == ["a", "b", "c", "d", "e", "f"]
    assert len({call.headers["idempotency-key"] for call in calls}) == 6
    assert sorted(step["iteration"] for step in run["steps"] if step["block"] == "tell") == ["0", "1", "2", "3", "4", "5"]


def test_a_long_delay_is_carried_on_by_a_continuation_with_the_run_log_whole(server: RunningServer,
                                                                            receiver: Receiver) -> None:
    hook = f"later-{uuid.uuid4().hex[:8]}"
    flow = flows_api(server, "POST", "flows", {"document": {
        "name": "later", "trigger": {"type": "manual", "params": {"parameters": [{"name": "who"}]}},
        "blocks": {"note": {"type": "set_variables", "params": {"values": {"who": "{{ trigger.inputs.who }}"}}},
                   "first": {"type": "http.request", "params": {"method": "POST", "url": receiver.url(hook),
                                                                "body": {"step": "first"}}},
                   "wait": {"type": "delay", "params": {"seconds": 2}},
                   "then": {"type": "http.request", "params": {"method": "POST", "url": receiver.url(hook),
                                                               "body": {"step": "then", "who": "{{ vars.who }}"}}}},
        "edges": [{"from": "trigger", "to": "note"}, {"from": "note", "port": "ok", "to": "first"},
                  {"from": "first", "port": "ok", "to": "wait"}, {"from": "wait", "port": "ok", "to": "then"}]}})
    started = flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": {"who": "ana"}})
    time.sleep(1.5)  # inside the wait, which is longer than the server's long-wait threshold (1 s)
    assert flows_api(server, "GET", f"flow_runs/{started['run_id']}")["status"] == "running"
    run = finished_run(server, started["run_id"])
    assert run["status"] == "succeeded", run["error"]
    assert [call.payload for call in receiver.wait_for(hook, 2)] == [{"step": "first"}, {"step": "then", "who": "ana"}]
    assert [(step["block"], step["status"]) for step in run["steps"]] == [
        ("note", "succeeded"), ("first", "succeeded"), ("wait", "succeeded"), ("then", "succeeded")]
    time.sleep(0.5)
    assert len(receiver.at(hook)) == 2  # nothing ran twice


def test_a_flow_calls_another_and_gets_its_output(server: RunningServer) -> None:
    callee = flows_api(server, "POST", "flows", {"document": {
        "name": "doubler",
        "trigger": {"type": "flow_call", "params": {"parameters": [{"name": "x", "type": "number", "required": True}]}},
        "blocks": {"double": {"type": "set_variables", "params": {"values": {"twice": "{{ trigger.inputs.x * 2 }}"}}},
                   "check": {"type": "condition", "params": {"expression": "vars.twice < 100"}},
                   "too_big": {"type": "stop", "params": {"status": "failed", "message": "too big"}}},
        "edges": [{"from": "trigger", "to": "double"}, {"from": "double", "port": "ok", "to": "check"},
                  {"from": "check", "port": "false", "to": "too_big"}]}})
    caller = flows_api(server, "POST", "flows", {"document": {
        "name": "caller",
        "trigger": {"type": "manual", "params": {"parameters": [{"name": "x", "type": "number"}]}},
        "blocks": {"call": {"type": "flow.call", "params": {"flow_id": callee["flow_id"],
                                                             "inputs": {"x": "{{ trigger.inputs.x }}"}}},
                   "use": {"type": "set_variables", "params": {"values": {"got": "{{ steps.call.output.variables.twice }}"}}},
                   "handle": {"type": "set_variables", "params": {"values": {"failed": "{{ steps.call.error.message }}"}}}},
        "edges": [{"from": "trigger", "to": "call"}, {"from": "call", "port": "ok", "to": "use"},
                  {"from": "call", "port": "error", "to": "handle"}]}})
    run = finished_run(server, flows_api(server, "POST", f"flows/{caller['flow_id']}/runs", {"inputs": {"x": 21}})["run_id"])
    assert run["status"] == "succeeded" and run["result"]["variables"]["got"] == 42
    called = run["steps"][0]["output"]["run_id"]
    assert flows_api(server, "GET", f"flow_runs/{called}")["trigger"]["inputs"] == {"x": 21}

    failing = finished_run(server, flows_api(server, "POST", f"flows/{caller['flow_id']}/runs", {"inputs": {"x": 80}})["run_id"])
    assert failing["status"] == "succeeded" and "too big" in failing["result"]["variables"]["failed"]
    # Calling a flow that does not start "when called" fails the call, naming why.
    wrong = flows_api(server, "PUT", f"flows/{caller['flow_id']}", {"document": {
        **flows_api(server, "GET", f"flows/{caller['flow_id']}")["document"], "blocks": {
            **flows_api(server, "GET", f"flows/{caller['flow_id']}")["document"]["blocks"],
            "call": {"type": "flow.call", "params": {"flow_id": caller["flow_id"]}}}}})
    refused = finished_run(server, flows_api(server, "POST", f"flows/{wrong['flow_id']}/runs", {"inputs": {"x": 1}})["run_id"])
    assert "not when called" in refused["result"]["variables"]["failed"]


def test_upload_triggers_filter_by_preset_and_metadata(server: RunningServer, receiver: Receiver, files) -> None:
    hook = f"preset-{uuid.uuid4().hex[:8]}"
    preset = f"flowpreset{uuid.uuid4().hex[:6]}"
    cloudinary.api.create_upload_preset(name=preset, unsigned=False, tags="from-preset")
    flow = flows_api(server, "POST", "flows", {"enabled": True, "document": {
        "name": "preset uploads",
        "trigger": {"type": "asset_uploaded", "params": {"upload_preset": preset}},
        "blocks": {"tell": {"type": "http.request", "params": {
            "method": "POST", "url": receiver.url(hook),
            "body": {"public_id": "{{ trigger.public_id }}", "preset": "{{ trigger.upload_preset }}"}}}},
        "edges": [{"from": "trigger", "to": "tell"}]}})
    try:
        cloudinary.uploader.upload(str(files["png"]))  # no preset: no run
        with_preset = cloudinary.uploader.upload(str(files["png"]), upload_preset=preset)
        (call,) = receiver.wait_for(hook, timeout=30)
        assert call.payload == {"public_id": with_preset["public_id"], "preset": preset}
        time.sleep(1)
        assert len(receiver.at(hook)) == 1
        # The preset name reaches flows only: the upload notification keeps Cloudinary's shape.
        (payload,) = [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in server.query(
            "select payload from outbox_events where notification_type = 'upload' and asset_id = :asset_id",
            asset_id=with_preset["asset_id"])]
        assert "upload_preset" not in payload
    finally:
        flows_api(server, "DELETE", f"flows/{flow['flow_id']}")
        cloudinary.api.delete_upload_preset(preset)


def test_the_flow_runtime_starts_only_once_there_is_a_flow_to_run(tmp_path, files) -> None:
    """A medialoom that only stores and delivers media pays nothing for the flow runtime (no
    queue polling); the first run starts it, and a restart with nothing to do leaves it off."""
    from tests.server import start_server

    runtime_file = tmp_path / "runtime.sqlite"
    fresh = start_server(tmp_path, cloud_name="lazy-runtime")
    try:
        os.environ["CLOUDINARY_URL"] = fresh.cloudinary_url
        cloudinary.reset_config()
        uploaded = cloudinary.uploader.upload(str(files["png"]), public_id="lazy/logo")
        assert httpx.get(uploaded["url"]).status_code == 200
        flow = flows_api(fresh, "POST", "flows", {"document": greeting_flow("lazy")})
        assert not runtime_file.exists()  # a disabled flow starts nothing by itself

        run = finished_run(fresh, flows_api(fresh, "POST", f"flows/{flow['flow_id']}/runs",
                                            {"inputs": {"who": "runtime"}})["run_id"])
        assert run["status"] == "succeeded" and run["result"]["message"] == "hello runtime x1"
        assert runtime_file.exists()
    finally:
        fresh.stop()
