"""http.request: one HTTP call to another service, through the outbound guard.

Every connection goes through ``net.outbound.GuardedBackend``: the host is resolved, every
address judged (loopback, private, link-local/metadata ... are refused unless the allow list
admits them) and the socket opened to the judged address, so URL tricks, DNS rebinding and
redirects all meet the same gate. The allow list is the context's ``outbound_allow``
(``net.addresses.AllowList``, from MEDIALOOM_OUTBOUND_ALLOW); a context without one allows
nothing beyond the public internet.

The request:

* ``url`` (http or https, no credentials in it) with ``query`` added to its own query
  (a null value leaves that name out, a list repeats it);
* ``headers`` as given; the framing headers (Host, Content-Length, Transfer-Encoding,
  Connection ...) and Accept-Encoding are the block's own (answers are read uncompressed);
  ``Idempotency-Key: <the step's idempotency key>`` is sent unless the flow sets one, so a
  receiver can drop the repeats of a retried or replayed step;
* a ``body`` (not with GET or HEAD) sent as ``json`` (any JSON value), ``form`` (a map of
  values, URL-encoded) or ``text`` (as it is, UTF-8), with a Content-Type to match unless the
  flow sets one.

Limits: ``timeout_seconds`` (at most 60) bounds the whole call, redirects and reading the
answer included, and the call never runs past the block's deadline; every socket operation is
clamped to what is left. An answer larger than 1 MiB is refused. Redirects are not followed
unless ``follow_redirects``; then at most 5 hops, each one judged by the guard again, a 303 (or
a 301/302 after a POST) continues as a GET without the body, and a hop to another origin drops
every header the flow set except Accept, Accept-Language, User-Agent, Content-Type and
Idempotency-Key (they may carry a credential).

The output, on the ``ok`` port: ``{"status", "headers" (lower-case names, repeated ones joined
with ", "), "body", "url" (the last one, after redirects), "duration_ms"}``. The body is the
parsed JSON when the answer's Content-Type is JSON (application/json or +json) and it parses,
else the text (decoded by the Content-Type's charset, UTF-8 by default, undecodable bytes
replaced). With ``fail_on_status`` (the default) a 4xx or 5xx answer fails the attempt, so the
block's retry policy applies, and then its error port; without it every answer goes to ``ok``.
A refused address, a network error or a timeout fails the attempt with a BlockError saying so.
"""

from __future__ import annotations

import codecs
import json
import re
import time
import urllib.parse
from typing import Any, Literal

import httpcore
import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medialoom.events import causation
from medialoom.flows.blocks.base import BlockContext, BlockError, BlockType
from medialoom.flows.interpreter import Outcome
from medialoom.net.addresses import AllowList
from medialoom.net.outbound import FetchFailed, GuardedBackend, OutboundRefused, parse_outbound_url

MAX_TIMEOUT = 60.0
MAX_RESPONSE_BYTES = 1 << 20
MAX_REDIRECTS = 5
MAX_JSON_DEPTH = 32  # the output is read by expressions, which refuse contexts deeper than 64
USER_AGENT = "medialoom-flows/1"
_REDIRECTS = {301, 302, 303, 307, 308}
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
_MANAGED = {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
            "proxy-connection", "accept-encoding"}
CHAIN_HEADER = causation.CHAIN_HEADER
_KEPT_ACROSS_ORIGINS = {"accept", "accept-language", "user-agent", "content-type", "idempotency-key",
                        CHAIN_HEADER.lower()}
_CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded",
                  "text": "text/plain; charset=utf-8"}

Scalar = str | bool | int | float | None  # bool before int: true stays true, not 1
HeaderValue = str | bool | int | float


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field("GET", description="The HTTP method.")
    url: str = Field(min_length=1, max_length=8192,
                     description="An http or https URL, often a template: https://api.example.com/items/"
                                 "{{ trigger.public_id }}. Internal addresses are refused.")
    headers: dict[str, HeaderValue] = Field(
        default_factory=dict, max_length=50,
        description="Request headers. Host, Content-Length, Transfer-Encoding, Connection and Accept-Encoding "
                    "are set by the block. Idempotency-Key defaults to the step's key.")
    query: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, max_length=100,
        description="Query parameters added to the URL's own; null leaves one out, a list repeats it.")
    body: Any = Field(None, description="The request body (not with GET or HEAD), sent as body_format says.")
    body_format: Literal["json", "form", "text"] = Field(
        "json", description="json: the body as JSON; form: a map URL-encoded (application/x-www-form-urlencoded); "
                            "text: the body text as it is.")
    timeout_seconds: float = Field(30, gt=0, le=MAX_TIMEOUT,
                                   description="For the whole call, redirects and the answer included (at most 60).")
    fail_on_status: bool = Field(True, description="A 4xx or 5xx answer fails the attempt (retries and the error "
                                                   "port apply); off, every answer continues on ok.")
    follow_redirects: bool = Field(False, description=f"Follow up to {MAX_REDIRECTS} redirects, each target "
                                                      "checked again; off, a 3xx answer is the result.")

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, HeaderValue]) -> dict[str, HeaderValue]:
        for name, value in headers.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in _MANAGED:
                raise ValueError(f"the {name} header is set by the block")
            text = _text(value)
            if len(text) > 8192 or any(char in text for char in "\r\n\0"):
                raise ValueError(f"the {name} header's value has a line break or NUL, or is over 8192 characters")
        return headers

    @model_validator(mode="after")
    def _body(self) -> Params:
        if self.body is None:
            return self
        if self.method in ("GET", "HEAD"):
            raise ValueError(f"a {self.method} request has no body")
        if self.body_format == "form":
            if not isinstance(self.body, dict) or not all(_form_value(value) for value in self.body.values()):
                raise ValueError("a form body is a map of text, numbers, booleans or lists of them")
        elif self.body_format == "text" and not isinstance(self.body, str):
            raise ValueError("a text body is text")
        return self


def run(ctx: BlockContext, params: Params) -> Outcome:
    left = ctx.deadline - time.monotonic()
    if left <= 0:
        raise BlockError("no time left before the block's deadline")
    budget = min(params.timeout_seconds, left)
    deadline = time.monotonic() + budget
    allow = getattr(ctx, "outbound_allow", None) or AllowList()
    started = time.perf_counter()
    try:
        target = _with_query(parse_outbound_url(params.url), params.query)
        status, headers, raw, final = _exchange(params, ctx.idempotency_key, target, allow, deadline)
    except OutboundRefused as error:
        raise BlockError(str(error)) from None
    except FetchFailed as error:
        raise BlockError(str(error)) from None
    except httpcore.TimeoutException:
        raise BlockError(f"timed out after {budget:g} s") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpx.InvalidURL) as error:
        raise BlockError(f"network error: {type(error).__name__} {error}".strip()) from None
    body = _decode(raw, headers.get("content-type", ""))
    if params.fail_on_status and status >= 400:
        snippet = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        snippet = snippet[:200] + ("…" if len(snippet) > 200 else "")
        raise BlockError(f"HTTP {status} from {params.method} {_without_query(final)}"
                         + (f": {snippet}" if snippet else ""))
    return Outcome("ok", {"status": status, "headers": headers, "body": body, "url": str(final),
                          "duration_ms": round((time.perf_counter() - started) * 1000, 3)})


def _exchange(params: Params, idempotency_key: str, target: httpx.URL, allow: AllowList,
              deadline: float) -> tuple[int, dict[str, str], bytes, httpx.URL]:
    method, content = params.method, _content(params)
    headers: dict[str, str] = {"user-agent": USER_AGENT}  # lower-case name -> value
    names: dict[str, str] = {"user-agent": "User-Agent"}  # lower-case name -> as the flow wrote it
    if idempotency_key:
        headers["idempotency-key"], names["idempotency-key"] = idempotency_key, "Idempotency-Key"
    if content is not None:
        headers["content-type"], names["content-type"] = _CONTENT_TYPES[params.body_format], "Content-Type"
    for name, value in params.headers.items():
        headers[name.lower()], names[name.lower()] = _text(value), name
    # A catch webhook this request reaches continues the run's chain (events/causation.py); set
    # last, so a flow's own headers cannot reset it.
    headers[CHAIN_HEADER.lower()], names[CHAIN_HEADER.lower()] = str(causation.next_depth()), CHAIN_HEADER
    backend = _DeadlineBackend(GuardedBackend(allow), deadline)
    with httpcore.ConnectionPool(network_backend=backend, retries=0, max_connections=2) as pool:
        for hop in range(MAX_REDIRECTS + 1):
            sent = [(b"Host", target.netloc), (b"Accept-Encoding", b"identity")]
            sent += [(names[key].encode(), value.encode("utf-8")) for key, value in headers.items()]
            if content is not None or method in ("POST", "PUT", "PATCH"):
                sent.append((b"Content-Length", str(len(content or b"")).encode()))
            url = httpcore.URL(scheme=target.raw_scheme, host=target.raw_host, port=target.port,
                               target=target.raw_path)
            with pool.stream(method, url, headers=sent, content=content,
                             extensions={"timeout": _timeouts(deadline)}) as response:
                answered = _headers(response.headers)
                location = answered.get("location")
                if not (params.follow_redirects and response.status in _REDIRECTS and location):
                    return response.status, answered, _read(response, answered, deadline), target
            if hop == MAX_REDIRECTS:
                raise BlockError(f"more than {MAX_REDIRECTS} redirects")
            following = parse_outbound_url(str(target.join(location)))
            if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                method, content = ("HEAD" if method == "HEAD" else "GET"), None
                headers.pop("content-type", None)
            if _origin(following) != _origin(target):
                headers = {key: value for key, value in headers.items() if key in _KEPT_ACROSS_ORIGINS}
            target = following
    raise AssertionError("unreachable")


def _content(params: Params) -> bytes | None:
    if params.body is None:
        return None
    if params.body_format == "json":
        try:
            return json.dumps(params.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as error:
            raise BlockError(f"the body cannot be sent as JSON: {error}") from None
    if params.body_format == "form":
        return _urlencode(params.body).encode()
    return str(params.body).encode("utf-8")


def _with_query(url: httpx.URL, query: dict[str, Any]) -> httpx.URL:
    """The URL with ``query`` appended to its own query, which is kept byte for byte."""
    added = _urlencode(query)
    if not added:
        return url
    own = url.query.decode("ascii")
    return url.copy_with(query=(f"{own}&{added}" if own else added).encode("ascii"))


def _urlencode(values: dict[str, Any]) -> str:
    pairs = []
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((name, _text(item)))
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _form_value(value: Any) -> bool:
    scalar = (str, bool, int, float, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(item, scalar) for item in value))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _without_query(url: httpx.URL) -> str:
    return str(url.copy_with(query=None, fragment=None))


def _timeouts(deadline: float) -> dict[str, float]:
    left = max(deadline - time.monotonic(), 0.001)
    return {"connect": min(left, 10.0), "read": left, "write": left, "pool": left}


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _read(response: httpcore.Response, headers: dict[str, str], deadline: float) -> bytes:
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BlockError(f"the answer is compressed ({encoding}), which this block does not read")
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise BlockError(f"the answer is {declared} bytes, more than the {MAX_RESPONSE_BYTES} byte limit; refused")
    chunks, size = [], 0
    for chunk in response.iter_stream():
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise BlockError(f"the answer is more than the {MAX_RESPONSE_BYTES} byte limit; refused")
        if time.monotonic() > deadline:
            raise httpcore.ReadTimeout("the time allowed ran out")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(raw: bytes, content_type: str) -> Any:
    mime, _, rest = content_type.partition(";")
    mime = mime.strip().lower()
    charset = "utf-8"
    for parameter in rest.split(";"):
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"'):
            charset = value.strip().strip('"')
    try:
        text = raw.decode(codecs.lookup(charset).name, errors="replace")
    except LookupError:  # an unknown charset, or a codec that is no text encoding (rot13, base64 ...)
        text = raw.decode("utf-8", errors="replace")
    if mime == "application/json" or mime.endswith("+json"):
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            return text
        if _deeper_than(value, MAX_JSON_DEPTH):
            raise BlockError(f"the JSON answer is nested deeper than {MAX_JSON_DEPTH} levels, which later blocks "
                             "could not read")
        return value
    return text


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity: the output is stored as JSON


def _deeper_than(value: Any, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_deeper_than(item, limit - 1) for item in value.values())
    if isinstance(value, list):
        return any(_deeper_than(item, limit - 1) for item in value)
    return False


class _DeadlineBackend(httpcore.NetworkBackend):
    """Clamps every connect, TLS handshake, read and write to the time left before ``deadline``:
    httpcore's own timeouts apply per operation, so a server answering a byte at a time could
    otherwise hold the call far beyond it."""

    def __init__(self, inner: httpcore.NetworkBackend, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        timeout = _clamp(self._deadline, timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout=timeout, local_address=local_address,
                                         socket_options=socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001, ANN201
        return self._inner.connect_unix_socket(path, timeout=timeout, socket_options=socket_options)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # noqa: ANN001, ANN201
        timeout = _clamp(self._deadline, timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _clamp(deadline: float, timeout: float | None, error: type[Exception]) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the time allowed ran out")
    return left if timeout is None else min(timeout, left)


BLOCK = BlockType(
    name="http.request", title="HTTP request", category="integration",
    description="Calls an HTTP API (any method, headers, query, a JSON, form or text body) and continues with "
                "its answer. Internal addresses are refused; a 4xx/5xx answer fails the attempt by default.",
    Params=Params, ports=("ok",), run=run, version=1, side_effects=True)
