"""Run a real medialoom server in a subprocess on a free loopback port (for SDK and CLI tests)."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    process: subprocess.Popen
    base_url: str
    cloud_name: str
    api_key: str
    api_secret: str
    data_dir: Path
    log_path: Path
    extra_env: dict[str, str] | None = None

    @property
    def database_url(self) -> str:
        configured = (self.extra_env or {}).get("MEDIALOOM_DATABASE_URL")
        return configured or f"sqlite:///{self.data_dir / 'medialoom.db'}"

    def query(self, sql: str, **params: object) -> list[tuple]:
        """Read the server's database directly (tests check what an API call left behind)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(text(sql), params)]
        finally:
            engine.dispose()

    def execute(self, sql: str, **params: object) -> None:
        """Change the server's database behind its back (only to set up what the API cannot,
        such as assets uploaded years ago)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.database_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(sql), params)
        finally:
            engine.dispose()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cloudinary_url(self) -> str:
        host = self.base_url.split("://", 1)[1]
        return (f"cloudinary://{self.api_key}:{self.api_secret}@{self.cloud_name}"
                f"?upload_prefix={self.base_url}&cname={host}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        stop_process(self.process)

    def restart(self) -> None:
        self.stop()
        replacement = start_server(self.data_dir, cloud_name=self.cloud_name, api_key=self.api_key,
                                   api_secret=self.api_secret, port=int(self.base_url.rsplit(":", 1)[1]),
                                   extra_env=self.extra_env)
        self.process = replacement.process


def stop_process(process: subprocess.Popen) -> None:
    """Ask a server to stop, and make it stop if it takes longer than ten seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def start_server(data_dir: Path, *, cloud_name: str = "medialoom-test", api_key: str = "123456789012345",
                 api_secret: str = "test-secret-abcdefghij", port: int | None = None,
                 extra_env: dict[str, str] | None = None, workers: int = 1, timeout: float = 60.0) -> RunningServer:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    env = {**os.environ, "MEDIALOOM_CLOUD_NAME": cloud_name, "MEDIALOOM_API_KEY": api_key,
           "MEDIALOOM_API_SECRET": api_secret, **(extra_env or {})}
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child process owns it while it runs
    process = subprocess.Popen(
        [sys.executable, "-m", "medialoom", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--data-dir", str(data_dir), "--workers", str(workers)],
        stdout=log_file, stderr=subprocess.STDOUT, env=env,
    )
    server = RunningServer(process, f"http://127.0.0.1:{port}", cloud_name, api_key, api_secret, data_dir,
                           log_path, extra_env)
    auth = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"medialoom server exited with {process.returncode}:\n{server.log()}")
        try:
            request = urllib.request.Request(f"{server.base_url}/v1_1/{cloud_name}/ping",
                                             headers={"Authorization": f"Basic {auth}"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return server
        except urllib.error.HTTPError as error:
            if error.code == 420:  # up, with its Admin API budget spent (the rate-limit test)
                return server
            time.sleep(0.1)
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"medialoom server did not become ready in {timeout}s:\n{server.log()}")
