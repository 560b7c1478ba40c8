"""The outbound guard (reliability.md SSRF-01..05): nothing internal is ever connected to."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medialoom.net import outbound
from medialoom.net.addresses import AllowList, denial_reason, embedded_ipv4
from medialoom.net.outbound import FetchFailed, OutboundRefused, fetch
from tests.canary import Canary

NOTHING_ALLOWED = AllowList()


def get(url: str, allow: AllowList = NOTHING_ALLOWED, **kwargs):
    return fetch(url, allow=allow, max_bytes=kwargs.pop("max_bytes", 1000), timeout=5, **kwargs)


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.255.0.9", "0.0.0.0", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "224.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:a9fe:a9fe",
    "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "fd00:ec2::254", "fe80::1", "ff02::1",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo carrying 127.0.0.1
])
def test_denied_addresses(address):
    assert denial_reason(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "203.0.113.10", "2606:4700::1111", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert denial_reason(ipaddress.ip_address(address)) is None


def test_embedded_ipv4_is_unwrapped():
    assert str(embedded_ipv4(ipaddress.IPv6Address("2002:7f00:1::"))) == "127.0.0.1"
    assert str(embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a9fe:a9fe"))) == "169.254.169.254"


@settings(max_examples=300)
@given(st.sampled_from(["127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10", "172.16.0.0/12",
                        "192.168.0.0/16"]), st.integers(min_value=0, max_value=2**24 - 1),
       st.sampled_from(["plain", "mapped", "nat64", "6to4", "compat"]))
def test_every_encoding_of_a_denied_address_is_denied(cidr, offset, encoding):
    network = ipaddress.ip_network(cidr)
    v4 = network[offset % network.num_addresses]
    value = int(v4)
    forms = {
        "plain": v4,
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | value),
        "nat64": ipaddress.IPv6Address((0x64FF9B << 96) | value),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (value << 80)),
        "compat": ipaddress.IPv6Address(value),
    }
    assert denial_reason(forms[encoding])


CONFUSIONS = [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://0.0.0.0:{port}/", "http://0:{port}/",
    "http://127.1:{port}/", "http://0x7f.1:{port}/", "http://2130706433:{port}/", "http://017700000001:{port}/",
    "http://[::1]:{port}/", "http://[::ffff:127.0.0.1]:{port}/", "http://[::]:{port}/",
    "http://allowed.example@127.0.0.1:{port}/", "http://127.0.0.1:{port}#@allowed.example/",
    "http://127.0.0.1:{port}\\@allowed.example/", "http://127.0.0.1\t:{port}/", "http://127.0.0.1\n:{port}/",
    "http://127。0。0。1:{port}/", "file:///etc/passwd", "gopher://127.0.0.1:{port}/_x", "ftp://127.0.0.1:{port}/",
    "dict://127.0.0.1:{port}/", "data:text/plain,hi", "http://[127.0.0.1]:{port}/",
]


@pytest.mark.parametrize("template", CONFUSIONS)
def test_confused_urls_never_reach_the_canary(template):
    with Canary() as canary:
        with pytest.raises((OutboundRefused, FetchFailed)):
            get(template.format(port=canary.port))
        assert canary.hits == []


def test_allowed_loopback_origin_is_fetched():
    with Canary("127.0.0.2") as origin:
        fetched = get(f"{origin.url}/dir/photo%20one.png", allow=AllowList.parse(["127.0.0.2"]))
        assert fetched.file.read() == b"canary" and fetched.size == 6
        assert fetched.content_type == "image/png" and fetched.filename == "photo one.png"
        cidr = get(f"{origin.url}/x", allow=AllowList.parse(["127.0.0.0/30"]))
        assert cidr.size == 6


def test_dns_rebinding_connects_only_to_the_checked_address(monkeypatch):
    """The first lookup says public, any later one says loopback: we must never look twice."""
    answers = iter(["203.0.113.10", "127.0.0.1", "127.0.0.1"])
    connected: list[str] = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    def fake_connect(self, host, port, timeout=None, local_address=None, socket_options=None):
        connected.append(host)
        raise outbound.httpcore.ConnectError("test stops here")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(outbound.httpcore.SyncBackend, "connect_tcp", fake_connect)
    with pytest.raises(FetchFailed):
        get("http://rebinding.example/x")
    assert connected == ["203.0.113.10"]


def test_mixed_answers_are_refused(monkeypatch):
    def fake_getaddrinfo(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.10", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(OutboundRefused, match="loopback"):
        get("http://mixed.example/x")


def _redirect_to(location: str):
    def respond(handler):
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.end_headers()
    return respond


@pytest.mark.parametrize("target", ["http://127.0.0.1:{canary}/", "file:///etc/passwd",
                                    "gopher://127.0.0.1:{canary}/_x", "http://[::1]:{canary}/"])
def test_redirects_are_checked_at_every_hop(target):
    with Canary() as canary:
        location = target.format(canary=canary.port)
        with Canary("127.0.0.2", respond=_redirect_to(location)) as origin:
            with pytest.raises(OutboundRefused):
                get(f"{origin.url}/start", allow=AllowList.parse(["127.0.0.2"]))
        assert canary.hits == []


def test_redirect_loops_stop():
    def loop(handler):
        handler.send_response(302)
        handler.send_header("Location", "/again")
        handler.end_headers()

    with Canary("127.0.0.2", respond=loop) as origin:
        with pytest.raises(FetchFailed, match="too many redirects"):
            get(f"{origin.url}/start", allow=AllowList.parse(["127.0.0.2"]), max_redirects=5)
        assert len(origin.hits) == 6


def _body(size: int, chunked: bool):
    def respond(handler):
        handler.send_response(200)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for _ in range(size // 100):
                handler.wfile.write(b"64\r\n" + b"x" * 100 + b"\r\n")
            handler.wfile.write(b"0\r\n\r\n")
        else:
            handler.send_header("Content-Length", str(size))
            handler.end_headers()
            handler.wfile.write(b"x" * size)
    return respond


@pytest.mark.parametrize("chunked", [False, True])
def test_size_limit(chunked):
    with Canary("127.0.0.2", respond=_body(5000, chunked)) as origin:
        with pytest.raises(FetchFailed, match="too large"):
            get(f"{origin.url}/big", allow=AllowList.parse(["127.0.0.2"]), max_bytes=1000)
        assert get(f"{origin.url}/big", allow=AllowList.parse(["127.0.0.2"]), max_bytes=5000).size == 5000


def test_error_statuses_fail():
    def not_found(handler):
        handler.send_response(404)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with Canary("127.0.0.2", respond=not_found) as origin:
        with pytest.raises(FetchFailed, match="HTTP 404"):
            get(f"{origin.url}/missing", allow=AllowList.parse(["127.0.0.2"]))
