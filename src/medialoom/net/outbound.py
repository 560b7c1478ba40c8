"""Server-side fetches (upload by URL) that cannot be pointed at internal services.

The check happens where the socket is opened, not on the URL text: the host is resolved
here, every answer is judged, and the connection goes to exactly the address that was
judged. URL-parser tricks, DNS rebinding and redirects therefore all meet the same gate.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
import time
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote

import httpcore
import httpx

from medialoom.net.addresses import AllowList, denial_reason

_SPOOL_IN_MEMORY = 4 * 1024 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}


class OutboundRefused(Exception):
    """The target is not allowed (scheme, address, credentials in the URL)."""


class FetchFailed(Exception):
    """The target was allowed but the fetch did not succeed (network, status, size, time)."""


@dataclass
class Fetched:
    file: BinaryIO
    size: int
    content_type: str
    final_url: str
    filename: str


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, judges every address, and connects to the judged address only."""

    def __init__(self, allow: AllowList) -> None:
        self._allow = allow
        self._inner = httpcore.SyncBackend()

    def pin(self, host: str, port: int) -> str:
        try:
            answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise FetchFailed(f"cannot resolve {host}: {error.strerror}") from error
        addresses = []
        for *_, sockaddr in answers:
            address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
            reason = denial_reason(address)
            if reason and not self._allow.allows(host, address):
                # One bad answer spoils the set: the next lookup could hand out that one.
                raise OutboundRefused(f"Remote URL refused: {host} resolves to {address}, {reason}")
            addresses.append(address)
        if not addresses:
            raise FetchFailed(f"cannot resolve {host}")
        return str(addresses[0])

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # noqa: ANN001, ANN201
        address = self.pin(host, port)
        return self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                       socket_options=socket_options)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # noqa: ANN001, ANN201
        raise OutboundRefused("Remote URL refused: unix sockets are never reached")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def parse_outbound_url(url: str) -> httpx.URL:
    """The URL when its shape may be fetched (http/https, a host, no credentials)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as error:
        raise OutboundRefused(f"Remote URL refused: invalid URL ({error})") from error
    if parsed.scheme not in ("http", "https"):
        raise OutboundRefused(f"Remote URL refused: the {parsed.scheme or 'missing'} scheme is not allowed "
                              "(only http and https)")
    if not parsed.host:
        raise OutboundRefused("Remote URL refused: no host")
    if parsed.userinfo:
        raise OutboundRefused("Remote URL refused: credentials in URLs are not supported")
    return parsed


def check_outbound_url(url: str, allow: AllowList) -> None:
    """Refuse a URL the server must never call (registering a notification URL, say): its
    shape, and every address its host resolves to now. Sends re-check at connect time, since
    DNS answers change. Raises OutboundRefused, or FetchFailed when the host does not resolve."""
    target = parse_outbound_url(url)
    GuardedBackend(allow).pin(target.host, target.port or (443 if target.scheme == "https" else 80))


def check_outbound_url_offline(url: str, allow: AllowList) -> None:
    """What can be refused without a DNS lookup: the URL's shape, and its address when the host
    is one. For URLs given with a call (a per-call notification_url): the request path must not
    wait on DNS, nor fail when the resolver is unreachable; names are checked at connect time."""
    target = parse_outbound_url(url)
    try:
        ipaddress.ip_address(target.host)
    except ValueError:
        return
    GuardedBackend(allow).pin(target.host, target.port or (443 if target.scheme == "https" else 80))


def _filename(url: httpx.URL) -> str:
    return unquote(url.path.rsplit("/", 1)[-1])


def fetch(url: str, *, allow: AllowList, max_bytes: int, timeout: float, max_redirects: int = 5) -> Fetched:
    deadline = time.monotonic() + timeout
    current = parse_outbound_url(url)
    timeouts = {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}
    with httpcore.ConnectionPool(network_backend=GuardedBackend(allow), retries=0, max_connections=4) as pool:
        for _hop in range(max_redirects + 1):
            headers = [(b"Host", current.netloc), (b"Accept-Encoding", b"identity"),
                       (b"User-Agent", b"medialoom-fetch/1")]
            try:
                with pool.stream("GET", httpcore.URL(scheme=current.raw_scheme, host=current.raw_host,
                                                     port=current.port, target=current.raw_path),
                                 headers=headers, extensions={"timeout": timeouts}) as response:
                    if response.status in _REDIRECTS:
                        location = dict((k.lower(), v) for k, v in response.headers).get(b"location")
                        if not location:
                            raise FetchFailed(f"HTTP {response.status} without a Location header")
                        current = parse_outbound_url(str(current.join(location.decode("latin-1"))))
                        continue
                    if not 200 <= response.status < 300:
                        raise FetchFailed(f"HTTP {response.status}")
                    return _read_body(response, current, max_bytes, deadline)
            except (OutboundRefused, FetchFailed):
                raise
            except httpcore.TimeoutException as error:
                raise FetchFailed("timed out") from error
            except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as error:
                raise FetchFailed(f"network error: {error.__class__.__name__} {error}") from error
    raise FetchFailed(f"too many redirects (more than {max_redirects})")


def _read_body(response: httpcore.Response, url: httpx.URL, max_bytes: int, deadline: float) -> Fetched:
    headers = {key.lower(): value.decode("latin-1") for key, value in response.headers}
    encoding = headers.get(b"content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchFailed(f"unsupported Content-Encoding {encoding!r}")
    declared = headers.get(b"content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed(f"File size too large ({declared} bytes exceeds the {max_bytes} byte limit)")
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    size = 0
    for block in response.iter_stream():
        size += len(block)
        if size > max_bytes:
            spool.close()
            raise FetchFailed(f"File size too large (exceeds the {max_bytes} byte limit)")
        if time.monotonic() > deadline:
            spool.close()
            raise FetchFailed("timed out")
        spool.write(block)
    spool.seek(0)
    content_type = headers.get(b"content-type", "").split(";")[0].strip()
    return Fetched(spool, size, content_type, str(url), _filename(url))
