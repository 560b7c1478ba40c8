"""Notifications reach loopback receivers, signed so that the official SDK's
``verify_notification_signature`` and the ``standardwebhooks`` library accept them; triggers are
managed through the SDK's ``/triggers`` calls; failures are retried and logged."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import cloudinary
import cloudinary.api
import cloudinary.uploader
import cloudinary.utils
import pytest
import requests
import standardwebhooks

from tests.sdk.conftest import ORIGIN_HOST, SERVER_ENV
from tests.server import RunningServer, start_server

pytestmark = pytest.mark.sdk


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers each path with its scripted statuses in turn, then 200."""

    base_url: str
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def at(self, name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == f"/{name}"]

    def wait_for(self, name: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(name)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{name}: {len(self.at(name))} notifications arrived, expected {count}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                statuses = state.script.get(self.path, [])
                status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer((ORIGIN_HOST, 0), Handler)
    state.base_url = f"http://{ORIGIN_HOST}:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state
    httpd.shutdown()


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
    tampered = Received(notification.path, notification.headers, notification.body.replace(b"upload", b"uploaf"))
    assert not _verified_by_sdk(tampered, server.api_secret)


def test_a_trigger_receives_its_event_type_with_standard_webhooks_headers(server: RunningServer,
                                                                          receiver: Receiver, files) -> None:
    name = f"trigger-{uuid.uuid4().hex[:8]}"
    created = cloudinary.api.create_trigger(receiver.url(name), "resource_tags_changed")
    assert created["event_type"] == "resource_tags_changed"
    listed = cloudinary.api.triggers(event_type="resource_tags_changed")
    assert created["id"] in [t["id"] for t in listed["triggers"]]
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


@pytest.fixture(scope="module")
def quick_retries(tmp_path_factory) -> Iterator[RunningServer]:
    """A server that retries after one second, twice, then gives up."""
    running = start_server(tmp_path_factory.mktemp("notify-retries"),
                           extra_env={**SERVER_ENV, "MEDIALOOM_NOTIFICATION_RETRY_SCHEDULE": "1s,1s"})
    yield running
    running.stop()


def _log(server: RunningServer, **params: object) -> list[dict]:
    response = requests.get(f"{server.base_url}/v1_1/{server.cloud_name}/notifications/deliveries",
                            params=params, auth=(server.api_key, server.api_secret), timeout=10)
    response.raise_for_status()
    return response.json()["deliveries"]


def _use(server: RunningServer) -> None:
    """Point the SDK at ``server`` for the rest of the test (the autouse fixture resets it)."""
    os.environ["CLOUDINARY_URL"] = server.cloudinary_url
    cloudinary.reset_config()


def test_failures_are_retried_then_logged(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    _use(quick_retries)
    name = f"flaky-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [500, 429]
    cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    first, second, third = receiver.wait_for(name, 3, timeout=20)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    assert first.body == third.body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = _log(quick_retries)
        (entry,) = [d for d in log if d["url"] == receiver.url(name)]
        if entry["status"] == "delivered":
            break
        time.sleep(0.1)
    assert entry["status"] == "delivered" and entry["attempts"] == 3
    assert [a["status_code"] for a in entry["log"]] == [500, 429, 200]


def test_a_receiver_that_keeps_failing_is_given_up(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    _use(quick_retries)
    name = f"down-{uuid.uuid4().hex[:8]}"
    receiver.script[f"/{name}"] = [503, 503, 503, 503]
    cloudinary.uploader.upload(str(files["png"]), notification_url=receiver.url(name))
    receiver.wait_for(name, 3, timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (entry,) = [d for d in _log(quick_retries) if d["url"] == receiver.url(name)]
        if entry["status"] != "pending":
            break
        time.sleep(0.1)
    assert entry["status"] == "failed" and entry["attempts"] == 3
    time.sleep(1.5)
    assert len(receiver.at(name)) == 3
    # Manual redelivery sends it once more (the receiver answers 503 a fourth time).
    response = requests.post(f"{quick_retries.base_url}/v1_1/{quick_retries.cloud_name}/notifications/deliveries/"
                             f"{entry['id']}/redeliver", auth=(quick_retries.api_key, quick_retries.api_secret),
                             timeout=10)
    assert response.status_code == 200
    receiver.wait_for(name, 4)


def test_410_disables_the_trigger(quick_retries: RunningServer, receiver: Receiver, files) -> None:
    _use(quick_retries)
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
