"""A loopback HTTP server that counts every request: SSRF tests assert it saw none."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


class Canary:
    def __init__(self, host: str = "127.0.0.1", respond: Callable[[http.server.BaseHTTPRequestHandler], None] | None = None) -> None:
        self.hits: list[str] = []
        canary = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                canary.hits.append(self.path)
                if respond:
                    respond(self)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(b"canary")

            def log_message(self, *args):
                pass

        self._server = _Server((host, 0), Handler)
        self.host = host
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Canary:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"
