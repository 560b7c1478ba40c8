"""One POST of a notification to a receiver, through the outbound guard.

Receivers are other people's servers: the address is judged where the socket opens (as for
uploads by URL), redirects are not followed (a webhook that moved must be registered again),
only the first bytes of an answer are read, and every attempt has its own deadline. The
answer is reduced to an ``Outcome`` that the dispatcher records and schedules by.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpcore
import httpx

from medialoom.net.addresses import AllowList
from medialoom.net.outbound import FetchFailed, GuardedBackend, OutboundRefused, parse_outbound_url

SNIPPET_BYTES = 1024


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no answer (refused, network error, timeout)
    error: str | None
    duration_ms: float
    snippet: str | None
    retry_after: str | None = None  # the receiver's Retry-After header, as sent

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def refused_for_good(self) -> bool:
        """The target may never be reached (a guarded address): retrying cannot help."""
        return self.status_code is None and (self.error or "").startswith("Remote URL refused")


class Sender:
    """Keeps connections to receivers open between notifications (thread-safe)."""

    def __init__(self, allow: AllowList, *, timeout: float, max_connections: int = 32) -> None:
        self._pool = httpcore.ConnectionPool(network_backend=GuardedBackend(allow), retries=0,
                                             max_connections=max_connections, keepalive_expiry=30.0)
        self._timeouts = {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        started = time.perf_counter()

        def outcome(status: int | None, error: str | None, snippet: str | None = None,
                    retry_after: str | None = None) -> Outcome:
            return Outcome(status, error, (time.perf_counter() - started) * 1000, snippet, retry_after)

        try:
            target = parse_outbound_url(url)
            request_headers = [(b"Host", target.netloc), (b"Content-Type", b"application/json"),
                               (b"Content-Length", str(len(body)).encode()),
                               (b"User-Agent", b"medialoom-notifications/1")]
            request_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
            with self._pool.stream("POST", httpcore.URL(scheme=target.raw_scheme, host=target.raw_host,
                                                         port=target.port, target=target.raw_path),
                                   headers=request_headers, content=body,
                                   extensions={"timeout": self._timeouts}) as response:
                snippet = _read_snippet(response)
                answered = {key.lower(): value for key, value in response.headers}
                retry_after = answered.get(b"retry-after")
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
                return outcome(response.status, error, snippet,
                               retry_after.decode("latin-1") if retry_after else None)
        except (OutboundRefused, FetchFailed) as error:
            return outcome(None, str(error))
        except httpcore.TimeoutException:
            return outcome(None, "timed out")
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, httpx.InvalidURL) as error:
            return outcome(None, f"network error: {error.__class__.__name__} {error}".strip())

    def close(self) -> None:
        self._pool.close()


def _read_snippet(response: httpcore.Response) -> str | None:
    """The start of the answer, for the delivery log; the rest is drained unread (up to a
    bound) so the connection can be kept."""
    kept = b""
    drained = 0
    for block in response.iter_stream():
        if len(kept) < SNIPPET_BYTES:
            kept += block[:SNIPPET_BYTES - len(kept)]
        drained += len(block)
        if drained > 64 * SNIPPET_BYTES:
            break  # a chatty receiver: the connection is not worth keeping
    return kept.decode("utf-8", errors="replace") if kept else None
