"""The http.request block against a real loopback server (127.0.0.2, admitted by the allow list):
what it sends (method, headers, query, JSON/form/text bodies, the idempotency key), what it makes
of the answer, and what it refuses: internal addresses (127.0.0.1, the metadata address), redirects
to them, oversize answers, servers that never answer, error statuses."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from medialoom.flows.blocks.base import BlockError
from medialoom.flows.blocks.http_request import BLOCK, MAX_RESPONSE_BYTES, Params
from medialoom.flows.interpreter import Outcome
from medialoom.net.addresses import AllowList
from tests.canary import Canary

ALLOW = AllowList.parse(["127.0.0.2"])
KEY = "run-7:notify:"


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query, keep_blank_values=True)


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes = b"",
           content_type: str = "application/json", headers: Mapping[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class Origin:
    """A loopback HTTP/1.1 server whose routes are functions of (handler, request)."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.seen: list[Seen] = []
        self.routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler, Seen], None]] = {}
        self.release = threading.Event()  # lets a hanging route go at the end
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else a 40 ms delayed-ACK stall per answer

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(self.command, self.path, list(self.headers.items()),
                            self.rfile.read(length) if length else b"")
                origin.seen.append(seen)
                route = origin.routes.get(urlsplit(self.path).path)
                if route is None:
                    answer(self, 404, b'{"error": "no such route"}')
                else:
                    route(self, seen)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = _Server((host, 0), Handler)
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> Origin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def echo(handler: http.server.BaseHTTPRequestHandler, seen: Seen) -> None:
    """What was asked, as JSON."""
    body = json.dumps({"method": seen.method, "query": seen.query, "body": seen.body.decode()}).encode()
    answer(handler, 200, body, "application/json; charset=utf-8", {"X-Trace": "t1", "Set-Cookie": "a=1"})


@pytest.fixture
def origin():
    with Origin() as server:
        server.routes["/echo"] = echo
        yield server


@dataclass
class Context:
    deadline: float = field(default_factory=lambda: time.monotonic() + 30)
    outbound_allow: AllowList = ALLOW
    idempotency_key: str = KEY
    run_id: str = "run-7"
    block: str = "notify"
    attempt: int = 1
    expressions: Mapping[str, Any] = field(default_factory=dict)


def call(params: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
    outcome = BLOCK.run(context or Context(), Params.model_validate(params))
    assert isinstance(outcome, Outcome) and outcome.port == "ok"
    return outcome.output


def refused(params: dict[str, Any], context: Context | None = None) -> str:
    with pytest.raises(BlockError) as raised:
        BLOCK.run(context or Context(), Params.model_validate(params))
    return str(raised.value)


# -- what is sent -------------------------------------------------------------------------------

def test_a_json_post_with_headers_and_query(origin):
    output = call({"method": "POST", "url": f"{origin.url}/echo?page=1&flag",
                   "headers": {"Authorization": "Bearer s3cret", "X-Count": 3, "X-On": True},
                   "query": {"q": "red shoes/é", "tag": ["a", "b"], "skip": None, "n": 2, "yes": False},
                   "body": {"public_id": "shoe", "tags": ["a"], "n": 1.5}})
    [seen] = origin.seen
    assert seen.method == "POST" and seen.path.startswith("/echo?page=1&flag&")
    assert seen.query == {"page": ["1"], "flag": [""], "q": ["red shoes/é"], "tag": ["a", "b"], "n": ["2"],
                          "yes": ["false"]}
    assert json.loads(seen.body) == {"public_id": "shoe", "tags": ["a"], "n": 1.5}
    assert seen.header("Content-Type") == ["application/json"]
    assert seen.header("Authorization") == ["Bearer s3cret"]
    assert seen.header("X-Count") == ["3"] and seen.header("X-On") == ["true"]
    assert seen.header("Idempotency-Key") == [KEY]
    assert seen.header("User-Agent") == ["medialoom-flows/1"] and seen.header("Accept-Encoding") == ["identity"]

    assert output["status"] == 200 and output["url"] == f"{origin.url}{seen.path}"
    assert output["body"] == {"method": "POST", "query": seen.query, "body": seen.body.decode()}
    assert output["headers"]["content-type"] == "application/json; charset=utf-8"
    assert output["headers"]["x-trace"] == "t1" and output["headers"]["set-cookie"] == "a=1"
    assert all(name == name.lower() for name in output["headers"])
    assert isinstance(output["duration_ms"], float) and output["duration_ms"] >= 0
    json.dumps(output)


def test_a_form_body_and_a_text_body(origin):
    call({"method": "PUT", "url": f"{origin.url}/echo", "body_format": "form",
          "body": {"name": "a b&c", "tags": ["x", "y"], "on": True, "none": None}})
    call({"method": "PATCH", "url": f"{origin.url}/echo", "body_format": "text", "body": "<xml>é</xml>",
          "headers": {"content-type": "application/xml"}})
    form, text = origin.seen
    assert form.method == "PUT" and form.header("Content-Type") == ["application/x-www-form-urlencoded"]
    assert parse_qs(form.body.decode()) == {"name": ["a b&c"], "tags": ["x", "y"], "on": ["true"]}
    assert text.method == "PATCH" and text.body == "<xml>é</xml>".encode()
    assert text.header("Content-Type") == ["application/xml"]  # the flow's, not the default


def test_the_flows_idempotency_key_wins_and_is_not_doubled(origin):
    call({"url": f"{origin.url}/echo", "headers": {"idempotency-key": "mine"}})
    assert origin.seen[0].header("Idempotency-Key") == ["mine"]


def test_delete_and_head(origin):
    origin.routes["/thing"] = lambda handler, seen: answer(handler, 204 if seen.method == "DELETE" else 200,
                                                           b"" if seen.method == "DELETE" else b"{}")
    assert call({"method": "DELETE", "url": f"{origin.url}/thing"})["status"] == 204
    head = call({"method": "HEAD", "url": f"{origin.url}/thing"})
    assert head["status"] == 200 and head["body"] == "" and head["headers"]["content-length"] == "2"
    assert [seen.method for seen in origin.seen] == ["DELETE", "HEAD"]


# -- what is made of the answer ----------------------------------------------------------------

@pytest.mark.parametrize("content_type, raw, body", [
    ("application/json", b'{"a": [1, 2.5, null, true]}', {"a": [1, 2.5, None, True]}),
    ("application/problem+json", b'{"title": "x"}', {"title": "x"}),
    ("application/json", b"not json", "not json"),
    ("application/json", b"[NaN]", "[NaN]"),  # no NaN in an output stored as JSON
    ("text/plain; charset=iso-8859-1", "café".encode("latin-1"), "café"),
    ("text/html", "<p>é</p>".encode(), "<p>é</p>"),
    ("text/plain; charset=rot13", b"abc", "abc"),
    ("application/octet-stream", b"\xff\xfe", "\ufffd\ufffd"),
    ("application/json", b"", ""),
])
def test_answers_are_parsed_json_or_text(origin, content_type, raw, body):
    origin.routes["/answer"] = lambda handler, seen: answer(handler, 200, raw, content_type)
    assert call({"url": f"{origin.url}/answer"})["body"] == body


def test_json_nested_too_deep_for_expressions_is_refused(origin):
    origin.routes["/deep"] = lambda handler, seen: answer(handler, 200, b"[" * 40 + b"]" * 40)
    assert "nested deeper than 32 levels" in refused({"url": f"{origin.url}/deep"})


def test_error_statuses_fail_the_attempt_unless_told_otherwise(origin):
    origin.routes["/broken"] = lambda handler, seen: answer(handler, 503, b'{"error": "try later"}')
    message = refused({"url": f"{origin.url}/broken?token=abc"})
    assert message.startswith(f"HTTP 503 from GET {origin.url}/broken") and "try later" in message
    assert "token" not in message  # query strings often carry credentials
    output = call({"url": f"{origin.url}/broken", "fail_on_status": False})
    assert output["status"] == 503 and output["body"] == {"error": "try later"}
    assert "HTTP 404" in refused({"url": f"{origin.url}/missing"})


def test_oversize_answers_are_refused(origin):
    def declared(handler, seen):
        answer(handler, 200, b"x" * (MAX_RESPONSE_BYTES + 1), "text/plain")

    def undeclared(handler, seen):  # no Content-Length: the body ends when the connection does
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        for _ in range(MAX_RESPONSE_BYTES // 65536 + 2):
            handler.wfile.write(b"x" * 65536)

    origin.routes["/declared"], origin.routes["/undeclared"] = declared, undeclared
    assert "more than the 1048576 byte limit" in refused({"url": f"{origin.url}/declared"})
    assert "more than the 1048576 byte limit" in refused({"url": f"{origin.url}/undeclared"})
    origin.routes["/fits"] = lambda handler, seen: answer(handler, 200, b"x" * MAX_RESPONSE_BYTES, "text/plain")
    assert len(call({"url": f"{origin.url}/fits"})["body"]) == MAX_RESPONSE_BYTES


def test_compressed_answers_are_refused(origin):
    origin.routes["/gz"] = lambda handler, seen: answer(handler, 200, b"\x1f\x8b", "text/plain",
                                                        {"Content-Encoding": "gzip"})
    assert "compressed (gzip)" in refused({"url": f"{origin.url}/gz"})


# -- time --------------------------------------------------------------------------------------

def hang(origin: Origin):
    def respond(handler, seen):
        origin.release.wait(10)
        answer(handler, 200, b"{}")
    return respond


def test_a_server_that_does_not_answer_times_out(origin):
    origin.routes["/hang"] = hang(origin)
    assert "timed out after 0.3 s" in refused({"url": f"{origin.url}/hang", "timeout_seconds": 0.3})


def test_the_block_deadline_caps_the_timeout(origin):
    origin.routes["/hang"] = hang(origin)
    message = refused({"url": f"{origin.url}/hang", "timeout_seconds": 60}, Context(deadline=time.monotonic() + 0.3))
    assert "timed out" in message
    assert "no time left" in refused({"url": f"{origin.url}/echo"}, Context(deadline=time.monotonic() - 1))
    assert origin.seen[-1].path == "/hang"  # the late call was never made


def test_a_server_that_drips_its_answer_cannot_outlast_the_timeout(origin):
    def drip(handler, seen):
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            if origin.release.wait(0.05):
                return
            handler.wfile.write(b"x")
            handler.wfile.flush()

    origin.routes["/drip"] = drip
    assert "timed out" in refused({"url": f"{origin.url}/drip", "timeout_seconds": 0.5})


# -- the outbound guard ------------------------------------------------------------------------

def test_internal_addresses_are_refused_before_connecting():
    with Canary("127.0.0.1") as canary:
        message = refused({"url": f"{canary.url}/admin"})
        assert message.startswith("Remote URL refused") and "loopback" in message
        assert "link-local" in refused({"url": "http://169.254.169.254/latest/meta-data/"})
        assert "loopback" in refused({"url": f"http://localhost:{canary.port}/"})
        assert "loopback" in refused({"url": f"http://[::ffff:127.0.0.1]:{canary.port}/"})
        assert "scheme is not allowed" in refused({"url": "file:///etc/passwd"})
        assert "credentials" in refused({"url": f"http://user:pw@127.0.0.2:{canary.port}/"})
        assert canary.hits == []


def test_without_an_allow_list_on_the_context_nothing_internal_is_reached(origin):
    @dataclass
    class Bare:
        deadline: float = field(default_factory=lambda: time.monotonic() + 30)
        idempotency_key: str = KEY
        expressions: Mapping[str, Any] = field(default_factory=dict)

    assert "loopback" in refused({"url": f"{origin.url}/echo"}, Bare())  # type: ignore[arg-type]
    assert origin.seen == []


def redirect(location: str, status: int = 302):
    return lambda handler, seen: answer(handler, status, b"", "text/plain", {"Location": location})


def test_redirects_are_not_followed_unless_asked(origin):
    origin.routes["/moved"] = redirect("/echo")
    output = call({"url": f"{origin.url}/moved"})
    assert output["status"] == 302 and output["headers"]["location"] == "/echo"
    followed = call({"url": f"{origin.url}/moved?x=1", "follow_redirects": True})
    assert followed["status"] == 200 and followed["url"] == f"{origin.url}/echo"
    assert [seen.path for seen in origin.seen] == ["/moved", "/moved?x=1", "/echo"]


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/", "http://localhost:{port}/",
                                    "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
                                    "gopher://127.0.0.1:{port}/_x"])
def test_redirects_to_refused_addresses_are_refused(origin, target):
    with Canary("127.0.0.1") as canary:
        origin.routes["/go"] = redirect(target.format(port=canary.port))
        message = refused({"method": "POST", "url": f"{origin.url}/go", "follow_redirects": True, "body": {}})
        assert message.startswith("Remote URL refused")
        assert canary.hits == []


def test_redirect_loops_stop_after_five_hops(origin):
    origin.routes["/loop"] = redirect("/loop")
    assert "more than 5 redirects" in refused({"url": f"{origin.url}/loop", "follow_redirects": True})
    assert len(origin.seen) == 6


def test_a_303_continues_as_a_get_and_307_keeps_the_body(origin):
    origin.routes["/see-other"] = redirect("/echo", 303)
    origin.routes["/temporary"] = redirect("/echo", 307)
    assert call({"method": "POST", "url": f"{origin.url}/see-other", "follow_redirects": True,
                 "body": {"a": 1}})["body"] == {"method": "GET", "query": {}, "body": ""}
    assert call({"method": "PUT", "url": f"{origin.url}/temporary", "follow_redirects": True,
                 "body": {"a": 1}})["body"] == {"method": "PUT", "query": {}, "body": '{"a":1}'}
    assert origin.seen[1].header("Content-Type") == []


def test_a_redirect_to_another_origin_drops_the_flows_credentials(origin):
    with Origin() as other:
        other.routes["/echo"] = echo
        origin.routes["/away"] = redirect(f"{other.url}/echo")
        call({"url": f"{origin.url}/away", "follow_redirects": True,
              "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k", "Accept": "application/json"}})
        [first], [second] = origin.seen, other.seen
    assert first.header("Authorization") == ["Bearer s3cret"] and first.header("X-Api-Key") == ["k"]
    assert second.header("Authorization") == [] and second.header("X-Api-Key") == []
    assert second.header("Accept") == ["application/json"] and second.header("Idempotency-Key") == [KEY]


# -- parameters --------------------------------------------------------------------------------

@pytest.mark.parametrize("params, problem", [
    ({"url": "http://x/", "method": "GET", "body": {"a": 1}}, "a GET request has no body"),
    ({"url": "http://x/", "method": "HEAD", "body": "x", "body_format": "text"}, "a HEAD request has no body"),
    ({"url": "http://x/", "method": "POST", "body": [1], "body_format": "form"}, "a form body is a map"),
    ({"url": "http://x/", "method": "POST", "body": {"a": {"b": 1}}, "body_format": "form"}, "a form body is a map"),
    ({"url": "http://x/", "method": "POST", "body": 5, "body_format": "text"}, "a text body is text"),
    ({"url": "http://x/", "headers": {"Host": "internal"}}, "the Host header is set by the block"),
    ({"url": "http://x/", "headers": {"content-length": "5"}}, "set by the block"),
    ({"url": "http://x/", "headers": {"Accept-Encoding": "gzip"}}, "set by the block"),
    ({"url": "http://x/", "headers": {"X-A": "1\r\nX-Injected: 1"}}, "line break"),
    ({"url": "http://x/", "headers": {"Bad Name": "1"}}, "not a header name"),
    ({"url": "http://x/", "timeout_seconds": 61}, "timeout_seconds"),
    ({"url": "http://x/", "timeout_seconds": 0}, "timeout_seconds"),
    ({"url": "http://x/", "method": "TRACE"}, "method"),
    ({"url": ""}, "url"),
    ({"url": "http://x/", "query": {"a": {"b": 1}}}, "query.a"),
])
def test_bad_parameters_are_refused(params, problem):
    with pytest.raises(ValidationError, match=problem):
        Params.model_validate(params)


def test_the_block_is_described_for_the_catalogue():
    described = BLOCK.describe()
    assert described["type"] == "http.request" and described["ports"] == ["ok", "error"]
    assert set(described["params"]["properties"]) == {"method", "url", "headers", "query", "body", "body_format",
                                                      "timeout_seconds", "fail_on_status", "follow_redirects"}
    assert described["params"]["properties"]["timeout_seconds"]["maximum"] == 60
