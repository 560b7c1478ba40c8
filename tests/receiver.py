"""A loopback webhook receiver for notification tests: it records every POST and answers each
path with the statuses scripted for it, in turn, then 200."""

from __future__ import annotations

import contextlib
import http.server
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

HANG = 0  # in a script: hold the request for three seconds, then answer 200


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    base_url: str
    received: list[Received] = field(default_factory=list)
    script: dict[str, list[int]] = field(default_factory=dict)
    delay: float = 0.0  # seconds every request is held before its answer
    in_flight: int = 0  # requests received and not yet answered
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


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # noqa: ANN001
        # A sender killed mid-request (the chaos tests do that on purpose) is not an error here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def running_receiver(host: str) -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the dispatcher's pooled connections expect
        # The answer goes out in two writes (headers, body): without this, Nagle holds the body
        # until the sender's delayed ACK, 40 ms later.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender died mid-request: nothing was delivered
                self.close_connection = True
                return
            with state.lock:
                state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                               time.time()))
                statuses = state.script.get(self.path, [])
                status = statuses.pop(0) if statuses else 200
                state.in_flight += 1
            try:
                time.sleep(3 if status == HANG else state.delay)
            finally:
                with state.lock:
                    state.in_flight -= 1
            status = 200 if status == HANG else status
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = _QuietServer((host, 0), Handler)
    state.base_url = f"http://{host}:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
