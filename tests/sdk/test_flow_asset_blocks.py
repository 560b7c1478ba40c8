"""The ``asset.*`` blocks on a real server: flows made and run through the flows API change assets
uploaded with the official SDK, the SDK sees the changes, and each change writes the events the
matching API call writes (a block's rename is a ``rename`` ...). A missing asset fails its block
with the API's message and without another attempt; a remote upload to an internal address is
refused by the outbound guard."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import cloudinary.api
import cloudinary.uploader
import httpx
import pytest
from cloudinary.exceptions import NotFound

from tests.canary import Canary
from tests.sdk.helpers import SKU_FIELD, ensure_metadata_fields, finished_run, flows_api
from tests.server import RunningServer

pytestmark = pytest.mark.sdk


# -- helpers ----------------------------------------------------------------------------------

def run_chain(server: RunningServer, *blocks: tuple[str, str, dict], inputs: dict | None = None,
              retry: dict | None = None) -> dict:
    """Save a manual flow whose blocks run one after the other (``ok`` to the next), run it
    with ``inputs`` (each declared as a string input), and return the finished run."""
    nodes = {name: {"type": kind, "params": params, **({"retry": retry} if retry else {})}
             for name, kind, params in blocks}
    names = [name for name, _, _ in blocks]
    document = {
        "name": f"asset blocks {uuid.uuid4().hex[:6]}",
        "trigger": {"type": "manual", "params": {"parameters": [{"name": name} for name in (inputs or {})]}},
        "blocks": nodes,
        "edges": [{"from": "trigger", "to": names[0]},
                  *({"from": a, "port": "ok", "to": b} for a, b in zip(names, names[1:], strict=False))],
    }
    flow = flows_api(server, "POST", "flows", {"document": document})
    try:
        started = flows_api(server, "POST", f"flows/{flow['flow_id']}/runs", {"inputs": inputs or {}})
        return finished_run(server, started["run_id"])
    finally:
        flows_api(server, "DELETE", f"flows/{flow['flow_id']}")


def output(run: dict, block: str) -> dict:
    assert run["status"] == "succeeded", run["error"]
    return run["result"]["steps"][block]


def last_event(server: RunningServer) -> int:
    return server.query("select coalesce(max(id), 0) from outbox_events")[0][0]


def payloads_since(server: RunningServer, after: int, kind: str) -> list[dict]:
    rows = server.query("select payload from outbox_events where id > :after and notification_type = :kind "
                        "order by id", after=after, kind=kind)
    return [payload if isinstance(payload, dict) else json.loads(payload) for payload, in rows]


def events_since(server: RunningServer, after: int) -> list[tuple[str, str | None]]:
    return [(kind, url) for kind, url in server.query(
        "select notification_type, notification_url from outbox_events where id > :after order by id",
        after=after)]


def unique(prefix: str) -> str:
    return f"flowblocks/{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def image(files) -> Iterator[dict]:
    yield cloudinary.uploader.upload(str(files["png"]), public_id=unique("img"))


# -- the blocks -------------------------------------------------------------------------------

def test_the_catalog_lists_every_asset_block(server: RunningServer) -> None:
    catalog = {block["type"]: block for block in flows_api(server, "GET", "flow_catalog")["blocks"]}
    names = {"asset.get_info", "asset.search", "asset.upload_from_url", "asset.update_tags", "asset.update_context",
             "asset.update_metadata", "asset.rename", "asset.set_moderation", "asset.delete", "asset.delivery_url",
             "asset.eager", "asset.set_access_control"}
    assert names <= set(catalog)
    for name in names:
        assert catalog[name]["category"] == "asset" and catalog[name]["ports"] == ["ok", "error"]
    rename = catalog["asset.rename"]["params"]
    assert set(rename["required"]) == {"public_id", "to_public_id"}
    assert rename["properties"]["resource_type"]["default"] == "image"
    assert rename["properties"]["type"]["default"] == "upload"
    assert catalog["asset.search"]["params"]["properties"]["max_results"]["maximum"] == 500


def test_tags_context_and_rename_by_blocks_are_seen_by_the_sdk_with_their_events(server: RunningServer,
                                                                                 image: dict, files) -> None:
    other = cloudinary.uploader.upload(str(files["png"]), public_id=unique("other"))
    renamed = unique("renamed")
    before = last_event(server)
    run = run_chain(
        server,
        ("info", "asset.get_info", {"public_id": "{{ trigger.inputs.public_id }}"}),
        ("tag", "asset.update_tags", {"command": "add", "tags": ["flow-a", "flow-b"],
                                      "public_ids": ["{{ steps.info.output.public_id }}", other["public_id"]]}),
        ("untag", "asset.update_tags", {"command": "remove", "tags": "flow-b",
                                        "public_ids": "{{ trigger.inputs.public_id }}"}),
        ("describe", "asset.update_context", {"context": {"alt": "a cat", "stars": 5},
                                              "public_ids": "{{ trigger.inputs.public_id }}"}),
        ("move", "asset.rename", {"public_id": "{{ trigger.inputs.public_id }}",
                                  "to_public_id": "{{ trigger.inputs.to }}"}),
        inputs={"public_id": image["public_id"], "to": renamed})

    assert output(run, "info")["asset_id"] == image["asset_id"] and output(run, "info")["width"] == image["width"]
    assert output(run, "tag") == {"public_ids": [image["public_id"], other["public_id"]]}
    assert output(run, "move")["public_id"] == renamed and output(run, "move")["asset_id"] == image["asset_id"]

    detail = cloudinary.api.resource(renamed)
    assert detail["asset_id"] == image["asset_id"]
    assert detail["tags"] == ["flow-a"] and detail["context"] == {"custom": {"alt": "a cat", "stars": "5"}}
    assert cloudinary.api.resource(other["public_id"])["tags"] == ["flow-a", "flow-b"]
    with pytest.raises(NotFound):
        cloudinary.api.resource(image["public_id"])
    # Each change wrote what the API call writes, and no per-call notification URL.
    assert events_since(server, before) == [("resource_tags_changed", None), ("resource_tags_changed", None),
                                            ("resource_context_changed", None), ("rename", None)]
    # A block's rename event is the API's: same fields, same meaning.
    (block_rename,) = payloads_since(server, before, "rename")
    by_sdk = cloudinary.uploader.upload(str(files["png"]), public_id=unique("sdk"))
    mark = last_event(server)
    cloudinary.uploader.rename(by_sdk["public_id"], unique("sdk-renamed"))
    (sdk_rename,) = payloads_since(server, mark, "rename")
    assert set(block_rename) == set(sdk_rename)
    assert (block_rename["from_public_id"], block_rename["to_public_id"]) == (image["public_id"], renamed)


def test_metadata_by_a_block_is_checked_against_its_field(server: RunningServer, image: dict) -> None:
    ensure_metadata_fields(SKU_FIELD)
    before = last_event(server)
    run = run_chain(server, ("sku", "asset.update_metadata",
                             {"metadata": {"sku": "A-{{ trigger.inputs.n }}"}, "public_ids": image["public_id"]}),
                    inputs={"n": "17"})
    assert output(run, "sku") == {"public_ids": [image["public_id"]]}
    assert cloudinary.api.resource(image["public_id"])["metadata"] == {"sku": "A-17"}
    assert events_since(server, before) == [("resource_metadata_changed", None)]

    refused = run_chain(server, ("sku", "asset.update_metadata",
                                 {"metadata": {"no_such_field": "x"}, "public_ids": image["public_id"]}),
                        retry={"max_attempts": 3, "backoff_seconds": 0})
    assert refused["status"] == "failed" and "no_such_field" in refused["error"]
    assert len(refused["steps"]) == 1


def test_moderation_by_blocks(server: RunningServer, files) -> None:
    uploaded = cloudinary.uploader.upload(str(files["png"]), public_id=unique("moderated"), moderation="manual")
    before = last_event(server)
    run = run_chain(server, ("decide", "asset.set_moderation",
                             {"public_id": uploaded["public_id"], "status": "rejected"}))
    assert output(run, "decide")["moderation_status"] == "rejected"
    listed = cloudinary.api.resources(type="upload", prefix=uploaded["public_id"], moderations=True)["resources"]
    assert listed[0]["moderation_status"] == "rejected"
    assert httpx.get(uploaded["url"]).status_code == 404
    assert events_since(server, before) == [("moderation", None)]

    run = run_chain(server, ("again", "asset.set_moderation", {"public_id": uploaded["public_id"],
                                                               "status": "pending"}),
                    ("approve", "asset.set_moderation", {"public_id": uploaded["public_id"], "status": "approved"}))
    assert output(run, "again")["moderation_status"] == "pending"
    assert cloudinary.api.resource(uploaded["public_id"])["moderation"][-1]["status"] == "approved"
    assert httpx.get(uploaded["url"]).status_code == 200


def test_upload_from_url_search_eager_delivery_url_and_delete(server: RunningServer, origin: str) -> None:
    public_id, tag = unique("fetched"), f"fetched-{uuid.uuid4().hex[:8]}"
    before = last_event(server)
    run = run_chain(
        server,
        ("fetch", "asset.upload_from_url", {"url": f"{origin}/logo.png", "public_id": public_id, "tags": [tag],
                                            "context": {"source": "flow"}}),
        ("find", "asset.search", {"expression": f"tags={tag}", "max_results": 10}),
        ("render", "asset.eager", {"public_id": "{{ steps.fetch.output.public_id }}",
                                   "transformations": ["w_50,c_scale/webp"]}),
        ("link", "asset.delivery_url", {"public_id": public_id, "transformation": "w_50,c_scale",
                                        "format": "webp"}),
        ("signed", "asset.delivery_url", {"public_id": public_id, "transformation": "w_20,c_scale",
                                          "signed": True}))
    fetched = output(run, "fetch")
    assert fetched["public_id"] == public_id and fetched["width"] == 241 and fetched["tags"] == [tag]
    found = output(run, "find")
    assert found["total_count"] == 1 and found["next_cursor"] is None
    assert [item["public_id"] for item in found["resources"]] == [public_id]
    (eager,) = output(run, "render")["eager"]
    assert (eager["width"], eager["format"]) == (50, "webp")

    link = output(run, "link")["url"]
    assert link == f"{server.base_url}/{server.cloud_name}/image/upload/w_50,c_scale/v{fetched['version']}/" \
                   f"{public_id}.webp"
    delivered = httpx.get(link)
    assert delivered.status_code == 200 and delivered.headers["content-type"] == "image/webp"
    signed = output(run, "signed")["url"]
    signature = signed.split("/s--", 1)[1].split("--/", 1)[0]
    assert len(signature) == 8 and httpx.get(signed).status_code == 200
    assert httpx.get(signed.replace(signature, "A" * 8 if signature != "A" * 8 else "B" * 8)).status_code == 401

    detail = cloudinary.api.resource(public_id)
    assert detail["context"] == {"custom": {"source": "flow"}}
    assert ("c_scale,w_50", "webp") in [(d["transformation"], d["format"]) for d in detail["derived"]]
    assert events_since(server, before) == [("upload", None)]

    mark = last_event(server)
    gone = run_chain(server, ("drop", "asset.delete", {"public_id": public_id}),
                     ("again", "asset.delete", {"public_id": public_id}))
    assert output(gone, "drop") == {"result": "ok"} and output(gone, "again") == {"result": "not found"}
    with pytest.raises(NotFound):
        cloudinary.api.resource(public_id)
    assert events_since(server, mark) == [("delete", None)]


def test_access_control_by_a_block(server: RunningServer, image: dict) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = last_event(server)
    run = run_chain(server,
                    ("close", "asset.set_access_control",
                     {"public_id": image["public_id"], "access_control": [{"access_type": "anonymous",
                                                                           "start": tomorrow}]}),
                    ("link", "asset.delivery_url", {"public_id": image["public_id"], "signed": True}))
    assert output(run, "close")["access_control"] == [{"access_type": "anonymous", "start": tomorrow}]
    assert httpx.get(image["url"]).status_code == 401
    assert httpx.get(output(run, "link")["url"]).status_code == 200  # a signed URL still may

    run_chain(server, ("open", "asset.set_access_control", {"public_id": image["public_id"], "access_control": []}))
    assert httpx.get(image["url"]).status_code == 200
    assert events_since(server, before) == [("access_control_changed", None), ("access_control_changed", None)]


# -- errors -----------------------------------------------------------------------------------

def test_a_missing_asset_fails_the_block_with_the_api_message_and_no_retry(server: RunningServer) -> None:
    missing = unique("missing")
    before = last_event(server)
    for kind, params in (("asset.rename", {"public_id": missing, "to_public_id": unique("nowhere")}),
                         ("asset.get_info", {"public_id": missing}),
                         ("asset.set_moderation", {"public_id": missing, "status": "approved"}),
                         ("asset.eager", {"public_id": missing, "transformations": ["w_10"]}),
                         ("asset.delivery_url", {"public_id": missing})):
        run = run_chain(server, ("act", kind, params), retry={"max_attempts": 3, "backoff_seconds": 0})
        assert run["status"] == "failed", kind
        assert run["error"] == f"block 'act' failed: Resource not found - {missing}", kind
        assert [(step["attempt"], step["status"]) for step in run["steps"]] == [(1, "failed")], kind
    assert events_since(server, before) == []


def test_bad_input_fails_with_the_api_message(server: RunningServer, image: dict, files) -> None:
    taken = cloudinary.uploader.upload(str(files["png"]), public_id=unique("taken"))
    cases = (
        ("asset.rename", {"public_id": image["public_id"], "to_public_id": taken["public_id"]},
         f"to_public_id ({taken['public_id']}) already exists"),
        ("asset.eager", {"public_id": image["public_id"], "transformations": ["w_abc"]},
         "Invalid eager transformation"),
        ("asset.delivery_url", {"public_id": image["public_id"], "transformation": "w_abc"}, "w_abc"),
        ("asset.search", {"expression": "tags=("}, "Invalid search expression"),
        ("asset.upload_from_url", {"url": "http://127.0.0.2:1/x.png", "upload_preset": "no-such-preset"},
         "Upload preset not found: no-such-preset"),
    )
    for kind, params, message in cases:
        run = run_chain(server, ("act", kind, params), retry={"max_attempts": 2, "backoff_seconds": 0})
        assert run["status"] == "failed" and message in run["error"], (kind, run["error"])
        assert len(run["steps"]) == 1, kind
    # Parameters the block does not take are refused when the flow is saved.
    document = {"name": "bad", "trigger": {"type": "manual"},
                "blocks": {"act": {"type": "asset.update_tags", "params": {"command": "explode", "tags": ["x"],
                                                                          "public_ids": ["a"],
                                                                          "notification_url": "http://x"}}},
                "edges": [{"from": "trigger", "to": "act"}]}
    message = flows_api(server, "POST", "flows", {"document": document}, expect=400)["error"]["message"]
    assert "blocks.act.params.command" in message and "blocks.act.params.notification_url" in message


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    with Canary() as running:
        yield running


def test_a_remote_upload_to_an_internal_address_is_refused(server: RunningServer, canary: Canary) -> None:
    before = last_event(server)
    port = canary.port
    for url in (f"http://127.0.0.1:{port}/x.png", f"http://localhost:{port}/x.png", "file:///etc/passwd"):
        run = run_chain(server, ("fetch", "asset.upload_from_url", {"url": url, "public_id": unique("ssrf")}),
                        retry={"max_attempts": 3, "backoff_seconds": 0})
        assert run["status"] == "failed" and "Remote URL refused" in run["error"], run["error"]
        assert len(run["steps"]) == 1
    assert canary.hits == []
    assert events_since(server, before) == []
