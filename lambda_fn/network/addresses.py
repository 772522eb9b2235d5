"""Which IP addresses are public destinations: IANA's special-purpose address registries.

Every entry of the IPv4 and IPv6 special-purpose registries is listed with its "Globally
Reachable" column (``None`` where the registry says N/A); the most specific entry that holds an
address decides. An address in no entry is public when it is unicast: IPv4 outside multicast
224.0.0.0/4, IPv6 inside global unicast 2000::/3 (the rest is unassigned or reserved). IPv4-mapped,
NAT64 (64:ff9b::/96) and 6to4 addresses reach the IPv4 address they embed, which decides.
64:ff9b:1::/48 stays refused: it is local-use (RFC 8215), its operator decides where the IPv4
address sits in it and which networks it reaches, so no embedded address can be read from it.
"""

from __future__ import annotations

import ipaddress

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# (block, globally reachable) as in IANA's registries, 2024-2025 additions (RFC 9602, 9665, 9780)
# included.
SPECIAL_PURPOSE: tuple[tuple[IpNetwork, bool | None], ...] = tuple(
    (ipaddress.ip_network(block), reachable)
    for block, reachable in (
        ("0.0.0.0/8", False),  # "this network"
        ("0.0.0.0/32", False),
        ("10.0.0.0/8", False),  # private use
        ("100.64.0.0/10", False),  # shared address space (CGNAT)
        ("127.0.0.0/8", False),  # loopback
        ("169.254.0.0/16", False),  # link local, incl. the metadata endpoints
        ("172.16.0.0/12", False),
        ("192.0.0.0/24", False),  # IETF protocol assignments
        ("192.0.0.0/29", False),  # IPv4 service continuity prefix
        ("192.0.0.8/32", False),  # IPv4 dummy address
        ("192.0.0.9/32", True),  # Port Control Protocol anycast
        ("192.0.0.10/32", True),  # TURN anycast
        ("192.0.0.170/32", False),  # NAT64/DNS64 discovery
        ("192.0.0.171/32", False),
        ("192.0.2.0/24", False),  # documentation
        ("192.31.196.0/24", True),  # AS112-v4
        ("192.52.193.0/24", True),  # AMT
        ("192.88.99.0/24", None),  # deprecated 6to4 relay anycast
        ("192.88.99.2/32", False),  # 6a44 relay anycast
        ("192.168.0.0/16", False),
        ("192.175.48.0/24", True),  # direct delegation AS112 service
        ("198.18.0.0/15", False),  # benchmarking
        ("198.51.100.0/24", False),
        ("203.0.113.0/24", False),
        ("240.0.0.0/4", False),  # reserved
        ("255.255.255.255/32", False),  # limited broadcast
        ("::1/128", False),
        ("::/128", False),
        ("::ffff:0:0/96", False),  # IPv4-mapped: judged by the embedded address first
        ("64:ff9b::/96", True),  # NAT64 well-known prefix: judged by the embedded address first
        ("64:ff9b:1::/48", False),  # local-use IPv4/IPv6 translation
        ("100::/64", False),  # discard only
        ("100:0:0:1::/64", False),  # dummy prefix
        ("2001::/23", False),  # IETF protocol assignments
        ("2001::/32", None),  # Teredo
        ("2001:1::1/128", True),  # PCP anycast
        ("2001:1::2/128", True),  # TURN anycast
        ("2001:1::3/128", True),  # DNS-SD service registration anycast
        ("2001:2::/48", False),  # benchmarking
        ("2001:3::/32", True),  # AMT
        ("2001:4:112::/48", True),  # AS112-v6
        ("2001:10::/28", None),  # deprecated ORCHID
        ("2001:20::/28", True),  # ORCHIDv2
        ("2001:30::/28", True),  # drone remote ID entity tags
        ("2001:db8::/32", False),  # documentation
        ("2002::/16", None),  # 6to4: judged by the embedded address first
        ("2620:4f:8000::/48", True),  # direct delegation AS112 service
        ("3fff::/20", False),  # documentation
        ("5f00::/16", False),  # SRv6 SIDs
        ("fc00::/7", False),  # unique local
        ("fe80::/10", False),  # link-local unicast
    )
)
MULTICAST_IPV4 = ipaddress.IPv4Network("224.0.0.0/4")
GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
NAT64_IPV6 = ipaddress.IPv6Network("64:ff9b::/96")


def parse_address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_public_address(ip: str | IpAddress) -> bool:
    """Whether ``ip`` is a globally reachable unicast address (unparseable → False)."""
    address = parse_address(ip) if isinstance(ip, str) else ip
    if address is None:
        return False
    embedded = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    if embedded is not None:
        return is_public_address(embedded)
    entry = special_purpose_entry(address)
    if entry is not None:
        return entry[1] is True
    if isinstance(address, ipaddress.IPv4Address):
        return address not in MULTICAST_IPV4
    return address in GLOBAL_UNICAST_IPV6


def special_purpose_entry(address: IpAddress) -> tuple[IpNetwork, bool | None] | None:
    """The most specific registry entry that holds ``address``, if any."""
    holding = [entry for entry in SPECIAL_PURPOSE if address in entry[0]]
    return max(holding, key=lambda entry: entry[0].prefixlen, default=None)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 destination that an IPv4-mapped, NAT64 or 6to4 address actually reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_IPV6:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour
