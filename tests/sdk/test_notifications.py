"""Notifications reach loopback receivers, signed so that the official SDK's
``verify_notification_signature`` and the ``standardwebhooks`` library accept them; triggers are
managed through the SDK's ``/triggers`` calls; failures are retried and logged."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import cloudinary
import cloudinary.api
import cloudinary.uploader
import cloudinary.utils
import pytest
import requests
import standardwebhooks

from tests.receiver import HANG, Received, Receiver, running_receiver
from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV
from tests.sdk.helpers import medialoom, use
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver(ORIGIN_HOST) as running:
        yield running


def _verified_by_sdk(notification: Received, api_secret: str, algorithm: str = "sha1") -> bool:
    cloudinary.config(api_secret=api_secret)
    return cloudinary.utils.verify_notification_signature(
        notification.body.decode(), notification.headers["x-cld-timestamp"],
        notification.headers["x-cld-signature"], algorithm=algorithm)


def test_upload_notification_url_gets_a_signed_upload_event(server: RunningServer, receiver: Receiver,
                                                            files) -> None:
    name = f"upload-{uuid.uuid4().hex[:8]}"
    result = cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    (notification,) = receiver.wait_for(name)
    assert notification.headers["content-type"] == "application/json"
    assert _verified_by_sdk(notification, server.api_secret)
    payload = notification.payload
    assert payload["notification_type"] == "upload"
    assert payload["public_id"] == result["public_id"]
    assert payload["asset_id"] == result["asset_id"]
    assert notification.headers["webhook-id"]  # the event id, the same on every attempt
    # A tampered body no longer verifies.
    tampered = Received(notification.path, notification.headers,
                        notification.body.replace(b"upload", b"uploaf"), notification.at)
    assert not _verified_by_sdk(tampered, server.api_secret)


def test_a_sha256_environment_signs_with_sha256(server: RunningServer, receiver: Receiver, files) -> None:
    cloud = f"sha256-{uuid.uuid4().hex[:8]}"
    api_key, api_secret = str(uuid.uuid4().int)[:15], f"secret-{uuid.uuid4().hex}"
    created = medialoom(server, "env", "create", cloud, "--api-key", api_key, "--api-secret", api_secret,
                        "--signature-algorithm", "sha256")
    use(created.strip().split("=", 1)[1])
    name = f"sha256-{uuid.uuid4().hex[:8]}"
    result = cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    (notification,) = receiver.wait_for(name)
    assert _verified_by_sdk(notification, api_secret, "sha256")
    assert not _verified_by_sdk(notification, api_secret, "sha1")
    assert len(notification.headers["x-cld-signature"]) == 64
    # The upload response's own signature follows the same setting.
    assert cloudinary.utils.verify_api_response_signature(result["public_id"], result["version"],
                                                          result["signature"], algorithm="sha256")


def test_a_trigger_receives_its_event_type_with_standard_webhooks_headers(server: RunningServer,
                                                                          receiver: Receiver, files) -> None:
    name = f"trigger-{uuid.uuid4().hex[:8]}"
    created = cloudinary.api.create_trigger(receiver.url(name), "resource_tags_changed")
    assert created["event_type"] == "resource_tags_changed"
    listed = cloudinary.api.triggers(event_type="resource_tags_changed")
    assert created["id"] in [t["id"] for t in listed["triggers"]]
    # The SDK's test_trigger asks whether the trigger would fire for a sample; nothing is sent.
    tested = cloudinary.api.test_trigger(created["id"], {"notification_type": "upload", "public_id": "x"})
    assert tested == {"trigger_id": created["id"], "filter_present": False, "filter_result": False}
    assert cloudinary.api.test_trigger(created["id"], {"notification_type": "resource_tags_changed"})[
        "filter_result"] is True
    try:
        upload = cloudinary.uploader.upload(str(files["png"]))  # upload events do not go to this trigger
        cloudinary.uploader.add_tag("notified", [upload["public_id"]])
        (notification,) = receiver.wait_for(name)
        assert notification.payload["notification_type"] == "resource_tags_changed"
        assert _verified_by_sdk(notification, server.api_secret)
        webhook = standardwebhooks.Webhook(created["signing_secret"])
        assert webhook.verify(notification.body, {
            "webhook-id": notification.headers["webhook-id"],
            "webhook-timestamp": notification.headers["webhook-timestamp"],
            "webhook-signature": notification.headers["webhook-signature"]})
        time.sleep(0.5)
        assert len(receiver.at(name)) == 1
    finally:
        cloudinary.api.delete_trigger(created["id"])
    assert created["id"] not in [t["id"] for t in cloudinary.api.triggers()["triggers"]]


def test_triggers_refuse_internal_addresses_and_unknown_event_types(server: RunningServer) -> None:
    with pytest.raises(cloudinary.exceptions.BadRequest, match="169.254.169.254"):
        cloudinary.api.create_trigger("http://169.254.169.254/latest/meta-data", "upload")
    with pytest.raises(cloudinary.exceptions.BadRequest, match="event_type"):
        cloudinary.api.create_trigger("http://127.0.0.2:9/x", "no_such_event")


def test_per_call_notification_urls_pass_the_outbound_guard(server: RunningServer, files) -> None:
    # An address or shape the server must never POST to is refused with the call, which changes nothing.
    uploaded = cloudinary.uploader.upload(str(files["png"]), tags="kept")
    for url in ("http://169.254.169.254/latest/meta-data", "ftp://127.0.0.2/hook", "http://user:pw@127.0.0.2/"):
        with pytest.raises(cloudinary.exceptions.BadRequest, match="notification_url"):
            cloudinary.uploader.upload(str(files["png"]), public_id="never-stored", notification_url=url)
        with pytest.raises(cloudinary.exceptions.BadRequest, match="notification_url"):
            cloudinary.api.update(uploaded["public_id"], tags="changed", notification_url=url)
    with pytest.raises(cloudinary.exceptions.NotFound):
        cloudinary.api.resource("never-stored")
    assert cloudinary.api.resource(uploaded["public_id"])["tags"] == ["kept"]

    # A host name is resolved when sending (not on the request path): one that resolves to a
    # loopback address fails there, without a request, and the log says why.
    with running_receiver("127.0.0.1") as canary:
        url = f"http://localhost:{canary.base_url.rsplit(':', 1)[1]}/hook-{uuid.uuid4().hex[:8]}"
        cloudinary.uploader.upload(str(files["png"]), notification_url=url)
        entry = _settled(server, url)
        assert entry["status"] == "failed" and "refused" in entry["last_error"]
        assert canary.received == []


@pytest.fixture(scope="module")
def quick_retries(tmp_path_factory) -> Iterator[RunningServer]:
    """A server that retries after one second, twice, then gives up; an attempt may take a second."""
    running = start_server(tmp_path_factory.mktemp("notify-retries"),
                           extra_env={**SERVER_ENV, "MEDIALOOM_NOTIFICATION_RETRY_SCHEDULE": "1s,1s",
                                      "MEDIALOOM_NOTIFICATION_TIMEOUT_SECONDS": "1"})
    yield running
    running.stop()


def _log(server: RunningServer, **params: object) -> list[dict]:
    response = requests.get(f"{server.base_url}/v1_1/{server.cloud_name}/notifications/deliveries",
                            params=params, auth=(server.api_key, server.api_secret), timeout=10)
    response.raise_for_status()
    return response.json()["deliveries"]


def _settled(server: RunningServer, url: str, timeout: float = 10) -> dict:
    """The delivery log's entry for ``url`` once it is no longer pending (the dispatcher may
    not even have picked up the event when the call that wrote it returns)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = [d for d in _log(server) if d["url"] == url]
        assert len(entries) <= 1, entries
        if entries and entries[0]["status"] != "pending" or time.monotonic() > deadline:
            assert entries, f"no delivery to {url}"
            return entries[0]
        time.sleep(0.1)


def test_failures_are_retried_then_logged(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    use(quick_retries.cloudinary_url)
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [500, 429]
    cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    first, second, third = receiver.wait_for(name, 3, timeout=20)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    assert first.body == third.body
    entry = _settled(quick_retries, receiver.url(name))
    assert entry["status"] == "delivered" and entry["attempts"] == 3
    assert [a["status_code"] for a in entry["log"]] == [500, 429, 200]
    # The same log on the command line, attempts included.
    printed = medialoom(quick_retries, "notifications", "log", "--attempts", "--event-id", entry["event_id"])
    assert f"{entry['id']}\t" in printed and "delivered" in printed and "attempts=3" in printed
    assert [line.split("\t")[1] for line in printed.splitlines() if line.startswith("    ")] == ["500", "429", "200"]


def test_a_receiver_that_hangs_times_out_and_is_retried(quick_retries: RunningServer, receiver: Receiver,
                                                       files) -> None:
    use(quick_retries.cloudinary_url)
    name = f"hang-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [HANG]
    cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    receiver.wait_for(name, 2, timeout=20)
    entry = _settled(quick_retries, receiver.url(name))
    assert entry["status"] == "delivered" and entry["attempts"] == 2
    hung, answered = entry["log"]
    assert hung["status_code"] is None and "timed out" in hung["error"]
    assert 900 <= hung["duration_ms"] < 2500  # the one-second limit, not the receiver's three
    assert answered["status_code"] == 200


def test_a_receiver_that_keeps_failing_is_given_up(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    use(quick_retries.cloudinary_url)
    name = f"down-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [503, 503, 503, 503, 503]
    cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    receiver.wait_for(name, 3, timeout=20)
    entry = _settled(quick_retries, receiver.url(name))
    assert entry["status"] == "failed" and entry["attempts"] == 3
    time.sleep(1.5)
    assert len(receiver.at(name)) == 3
    # Manual redelivery sends it once more, through the API (the receiver answers 503 a fourth
    # time) and through the command line (a fifth).
    response = requests.post(f"{quick_retries.base_url}/v1_1/{quick_retries.cloud_name}/notifications/deliveries/"
                             f"{entry['id']}/redeliver", auth=(quick_retries.api_key, quick_retries.api_secret),
                             timeout=10)
    assert response.status_code == 200
    receiver.wait_for(name, 4)
    assert _settled(quick_retries, receiver.url(name))["status"] == "failed"  # the schedule stays spent
    failed = json.loads(medialoom(quick_retries, "notifications", "log", "--status", "failed", "--json"))
    assert entry["id"] in [d["id"] for d in failed["deliveries"]]
    medialoom(quick_retries, "notifications", "redeliver", str(entry["id"]))
    fifth = receiver.wait_for(name, 5)[-1]
    assert fifth.headers["webhook-id"] == entry["event_id"]


def test_410_disables_the_trigger(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    use(quick_retries.cloudinary_url)
    name = f"gone-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [410]
    trigger = cloudinary.api.create_trigger(receiver.url(name), "upload")
    cloudinary.uploader.upload(str(files["png"]))
    receiver.wait_for(name)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (listed,) = [t for t in cloudinary.api.triggers()["triggers"] if t["id"] == trigger["id"]]
        if listed["disabled_at"]:
            break
        time.sleep(0.1)
    assert listed["disabled_at"] and "410" in listed["disabled_reason"]
    cloudinary.uploader.upload(str(files["png"]))
    time.sleep(1.0)
    assert len(receiver.at(name)) == 1
