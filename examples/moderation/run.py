"""Cloudinary's MediaFlows moderation tutorial, end to end, against a running medialoom.

    MEDIALOOM_OUTBOUND_ALLOW=127.0.0.1,127.0.0.2 ./scripts/serve      # in one terminal
    CLOUDINARY_URL=... .venv/bin/python examples/moderation/run.py [--webhook]

It listens as the receiver on 127.0.0.2:9911, creates the upload preset ``moderate`` (folder
toBeModerated, manual moderation) with the SDK, imports and enables the flow (flow.json, or with
--webhook flow_webhook.json, fed by the server's own signed notifications), uploads two images
with the preset, approves one and rejects the other, then shows what the flow did.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import threading
import time
from pathlib import Path

import cloudinary
import cloudinary.api
import cloudinary.uploader
import httpx

HERE = Path(__file__).parent
RECEIVER = ("127.0.0.2", 9911)
heard: list[dict] = []


class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802
        heard.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0)))))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def flows_api(method: str, path: str, body: object = None) -> dict:
    config = cloudinary.config()
    response = httpx.request(method, f"{config.upload_prefix}/v1_1/{config.cloud_name}/{path}", json=body,
                             auth=(config.api_key, config.api_secret), timeout=30)
    if response.status_code != 200:
        sys.exit(f"{method} {path}: {response.status_code} {response.text}")
    return response.json()


def sample_image(path: Path) -> Path:
    # A small PNG drawn by hand (no imaging library needed): 8x8 grey pixels.
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([128, 128, 128]) * 8 for _ in range(8))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhook", action="store_true", help="start the flow from signed notifications")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
    if not os.environ.get("CLOUDINARY_URL"):
        sys.exit("Set CLOUDINARY_URL as `medialoom serve` prints it.")
    server = http.server.ThreadingHTTPServer(RECEIVER, Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    preset = {"folder": "toBeModerated", "moderation": "manual", "unsigned": False}
    try:
        cloudinary.api.create_upload_preset(name="moderate", **preset)
    except cloudinary.exceptions.BadRequest:  # it exists already: make it what the tutorial needs
        cloudinary.api.update_upload_preset("moderate", **preset)

    document = json.loads((HERE / ("flow_webhook.json" if args.webhook else "flow.json")).read_text())
    document["variables"]["receiver"] = f"http://{RECEIVER[0]}:{RECEIVER[1]}/moderation"
    flow = flows_api("POST", "flows", {"document": document, "enabled": True})
    print(f"flow {flow['flow_id']} enabled: {flow['name']}")
    upload_options: dict = {"upload_preset": "moderate"}
    if args.webhook:
        config = cloudinary.config()
        upload_options["notification_url"] = f"{config.upload_prefix}/v1_1/{config.cloud_name}/{flow['webhook_path']}"

    image = sample_image(Path(os.environ.get("TMPDIR", "/tmp")) / "medialoom-moderation-sample.png")
    approved = cloudinary.uploader.upload(str(image), **upload_options)
    rejected = cloudinary.uploader.upload(str(image), **upload_options)
    print(f"uploaded {approved['public_id']} and {rejected['public_id']} (moderation: pending)")
    cloudinary.api.update(approved["public_id"], moderation_status="approved")
    cloudinary.api.update(rejected["public_id"], moderation_status="rejected")
    print("approved the first, rejected the second")

    deadline = time.monotonic() + args.timeout
    while len(heard) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # anything more that would arrive (it must not)
    server.shutdown()
    decisions = {message["asset_id"]: message for message in heard}
    moved = decisions.get(approved["asset_id"], {}).get("public_id")
    print(f"the receiver heard {len(heard)} messages: {json.dumps(heard)}")
    for run in flows_api("GET", f"flows/{flow['flow_id']}/runs")["runs"]:
        detail = flows_api("GET", f"flow_runs/{run['run_id']}")
        print(f"run {run['run_id']} {run['status']}: " + " -> ".join(
            f"{step['block']}({step['port'] or step['status']})" for step in detail["steps"]))
    expected = f"toBeModerated/approved/{approved['display_name']}"
    ok = (len(heard) == 2 and moved == expected and decisions.get(rejected["asset_id"], {}).get("decision") == "rejected"
          and cloudinary.api.resource(expected)["asset_id"] == approved["asset_id"])
    print("the tutorial worked: the approved asset is now " + expected if ok else "the tutorial did NOT work")
    flows_api("POST", f"flows/{flow['flow_id']}/disable")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
