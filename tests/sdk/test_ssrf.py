"""Remote-URL uploads can never reach internal addresses (reliability.md SSRF-01..05).

A canary listens on 127.0.0.1 (not allowed); the test origin on 127.0.0.2 is allowed and
redirects to the canary. Whatever the encoding, the canary must see zero requests.
"""

from __future__ import annotations

import http.server
import threading

import pytest

from tests.sdk.helpers import error_message, post, sign


def upload_url(server, url: str):
    """What the SDK sends for a remote URL: the URL as the ``file`` text field, signed."""
    return post(server, "upload", {**sign(server, {}), "file": url})


class _Canary(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits = 0


@pytest.fixture(scope="module")
def canary():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.server.hits += 1
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"\x89PNG canary")

        def log_message(self, *args):
            pass

    httpd = _Canary(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()


@pytest.fixture(scope="module")
def redirector(canary):
    """An allowed origin (127.0.0.2) that redirects wherever the path says."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", self.path[1:].replace("CANARY", str(canary.server_address[1])))
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{httpd.server_address[1]}"
    httpd.shutdown()


TARGETS = [
    "http://127.0.0.1:{port}/x.png", "http://localhost:{port}/x.png", "http://0.0.0.0:{port}/x.png",
    "http://0:{port}/x.png", "http://127.1:{port}/x.png", "http://0x7f.1:{port}/x.png",
    "http://2130706433:{port}/x.png", "http://017700000001:{port}/x.png", "http://[::1]:{port}/x.png",
    "http://[::ffff:127.0.0.1]:{port}/x.png", "http://[::ffff:7f00:1]:{port}/x.png", "http://[::]:{port}/x.png",
    "http://[64:ff9b::7f00:1]:{port}/x.png", "http://[2002:7f00:1::]:{port}/x.png",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.0.0.1/x.png", "http://100.64.0.1/x.png", "http://224.0.0.1/x.png",
    "http://allowed.example@127.0.0.1:{port}/x.png", "http://127.0.0.1:{port}#@allowed.example/x.png",
    "http://127.0.0.1:{port}\\@allowed.example/x.png", "file:///etc/passwd", "gopher://127.0.0.1:{port}/_x",
    "ftp://127.0.0.1:{port}/x.png", "http://127.0.0.1\t:{port}/x.png",
]


@pytest.mark.parametrize("template", TARGETS)
def test_internal_targets_are_refused(server, canary, template):
    response = upload_url(server, template.format(port=canary.server_address[1]))
    assert response.status_code == 400, response.text
    assert error_message(response)
    assert canary.hits == 0


@pytest.mark.parametrize("target", ["http://127.0.0.1:CANARY/x.png", "file:///etc/passwd",
                                    "gopher://127.0.0.1:CANARY/_x", "http://[::1]:CANARY/"])
def test_redirects_to_internal_targets_are_refused(server, canary, redirector, target):
    response = upload_url(server, f"{redirector}/{target}")
    assert response.status_code == 400, response.text
    assert canary.hits == 0
