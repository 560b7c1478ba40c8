"""Which network addresses a server-side fetch may reach. Pure: no sockets, no I/O.

The deny list is our own rather than the standard library's ``is_private``/``is_global``
flags, whose answers changed between Python patch releases. IPv6 addresses that carry an
IPv4 address inside (mapped, compatible, NAT64, 6to4, Teredo) are judged by that address too.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DENIED: list[tuple[str, str]] = [
    ("0.0.0.0/8", "a 'this network' address"),
    ("127.0.0.0/8", "a loopback address"),
    ("10.0.0.0/8", "a private address"),
    ("172.16.0.0/12", "a private address"),
    ("192.168.0.0/16", "a private address"),
    ("169.254.0.0/16", "a link-local address (cloud metadata lives here)"),
    ("100.64.0.0/10", "a carrier-grade NAT address"),
    ("192.0.0.0/24", "an IETF protocol address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "the unspecified address"),
    ("::1/128", "a loopback address"),
    ("fc00::/7", "a unique-local address (cloud metadata lives here)"),
    ("fe80::/10", "a link-local address"),
    ("ff00::/8", "a multicast address"),
    ("100::/64", "a discard-only address"),
]
# Documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24) are not routed anywhere, so
# a connection would simply fail; they stay allowed so tests can use them as "public".
DENIED_NETWORKS = [(ipaddress.ip_network(cidr), reason) for cidr, reason in _DENIED]

_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = [ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48")]
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address would deliver to, if it carries one."""
    value = int(address)
    if address in _MAPPED or address in _COMPATIBLE or any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((value >> 80) & 0xFFFFFFFF)
    if address in _TEREDO:
        return ipaddress.IPv4Address((value & 0xFFFFFFFF) ^ 0xFFFFFFFF)
    return None


def denial_reason(address: IPAddress) -> str | None:
    """Why a connection to ``address`` must not be made, or None when it may."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.append(inner)
    for candidate in candidates:
        for network, reason in DENIED_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return reason
    return None


@dataclass(frozen=True)
class AllowList:
    """Targets that may be reached although the deny list covers them (MEDIALOOM_OUTBOUND_ALLOW).

    An IP or CIDR entry allows connecting to those addresses whatever name led there; a host
    name entry allows the addresses that name resolves to when the URL names it exactly.
    """

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, items: list[str]) -> AllowList:
        networks = []
        hosts = set()
        for item in items:
            item = item.strip().strip("[]")
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, host: str, address: IPAddress) -> bool:
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(address.version == net.version and address in net for net in self.networks)
