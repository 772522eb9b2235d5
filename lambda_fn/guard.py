"""URL and destination policy: which hosts the browser may reach (DESIGN.md, issue 7).

Hosts are canonicalised the way Chromium's URL parser does (WHATWG host parsing: percent-decoding,
IDNA, IPv4 numbers in decimal, octal, hex and short forms), so the address that is checked is the
address the browser would connect to. ``check_url`` returns the URL re-serialised from what it
checked; navigate to that, not to the input. The egress proxy checks every connection the browser
makes through ``check_destination``, the same code path.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from lambda_fn.errors import UrlBlockedError

Resolver = Callable[[str, int], Sequence[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

# Chromium resolves these to loopback itself, without asking DNS.
LOCALHOST_NAMES = frozenset(
    {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6"}
)

# IANA special-purpose IPv4 ranges that are not reachable public destinations.
NON_PUBLIC_IPV4 = tuple(
    ipaddress.IPv4Network(network)
    for network in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT shared space
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. the 169.254.169.254 metadata endpoints
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
    )
)
# Public IPv6 lives in global unicast 2000::/3; inside it, these are not public destinations.
GLOBAL_UNICAST_IPV6 = ipaddress.IPv6Network("2000::/3")
NON_PUBLIC_GLOBAL_IPV6 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32 and benchmarking
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
NAT64_IPV6 = ipaddress.IPv6Network("64:ff9b::/96")  # embeds an IPv4 destination in its low bits

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_C0_CONTROL_OR_SPACE = "".join(chr(code) for code in range(0x21))
_REMOVE_TAB_AND_NEWLINE = str.maketrans("", "", "\t\n\r")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_PATH_END = re.compile(r"[?#]")
_DOMAIN = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_PORT = re.compile(r"[0-9]*")
_IPV4_DIGITS = {10: frozenset("0123456789"), 8: frozenset("01234567")}
_IPV4_DIGITS[16] = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """``allowed_hosts``: fnmatch globs such as ``*.e2b.app`` (empty → any public host)."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that passed the policy. ``url`` is its canonical form: navigate to it."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Host:
    name: str  # canonical, as serialised in a URL: "example.com", "127.0.0.1", "[::1]"
    address: IpAddress | None  # set when the host is an IP literal


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (the default ``Resolver``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_url(url: str, policy: UrlPolicy, resolve: Resolver = resolve_host) -> CheckedUrl:
    """Check ``url`` against ``policy``; refusals raise ``UrlBlockedError`` with a ``why`` code."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlBlockedError(f"URL longer than {MAX_URL_LENGTH} characters", why="too_long")
    scheme, authority, rest = _split_url(url)
    host_text, port = parse_authority(authority, DEFAULT_PORTS[scheme])
    host = _parse_host(host_text)
    addresses = _check_host(host, port, policy, resolve)
    return CheckedUrl(
        url=_serialise_url(scheme, host, port, rest),
        scheme=scheme,
        host=host.name,
        port=port,
        addresses=addresses,
    )


def check_destination(
    host: str, port: int, policy: UrlPolicy, resolve: Resolver = resolve_host
) -> tuple[str, ...]:
    """Check a connection target (host as in a URL, IPv6 bracketed or bare); return its addresses.

    Connect to one of the returned addresses, never to the name again: a second resolution may
    give a different answer (DNS rebinding).
    """
    if not 0 <= port <= 0xFFFF:
        raise UrlBlockedError(f"port {port} out of range", why="invalid_port")
    return _check_host(_parse_host(host), port, policy, resolve)


def check_final_url(url: str, policy: UrlPolicy) -> None:
    """A navigation that ended at ``url`` (after redirects) must still be on an allowed host.

    Addresses are not resolved again: the egress proxy checked every one it connected to.
    """
    if not policy.allowed_hosts:
        return
    scheme, authority, _ = _split_url(url)
    host_text, _ = parse_authority(authority, DEFAULT_PORTS[scheme])
    if not _is_allowed_host(_parse_host(host_text).name, policy.allowed_hosts):
        raise UrlBlockedError(
            f"redirected to a host outside ALLOWED_URL_HOSTS: {url[:200]}", why="host_not_allowed"
        )


def parse_authority(authority: str, default_port: int) -> tuple[str, int]:
    """Split ``host[:port]`` (no userinfo allowed) into the host text and the port."""
    if "@" in authority:
        raise UrlBlockedError("credentials in URL", why="userinfo")
    host, port_text = _split_host_port(authority)
    if not _PORT.fullmatch(port_text) or int(port_text or default_port) > 0xFFFF:
        raise UrlBlockedError(f"invalid port {port_text[:16]!r}", why="invalid_port")
    return host, int(port_text or default_port)


def is_public_address(ip: str | IpAddress) -> bool:
    """Whether ``ip`` is a globally reachable unicast address (unparseable → False)."""
    address = _parse_address(ip) if isinstance(ip, str) else ip
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return _is_public_ipv4(address)
    return _is_public_ipv6(address)


def _is_public_ipv4(address: ipaddress.IPv4Address) -> bool:
    return not any(address in network for network in NON_PUBLIC_IPV4)


def _is_public_ipv6(address: ipaddress.IPv6Address) -> bool:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _is_public_ipv4(embedded)
    if address not in GLOBAL_UNICAST_IPV6:
        return False  # loopback, unspecified, IPv4-compatible, ULA, link/site-local, multicast
    return not any(address in network for network in NON_PUBLIC_GLOBAL_IPV6)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 destination that an IPv4-mapped, NAT64 or 6to4 address actually reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_IPV6:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _parse_address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _split_url(url: str) -> tuple[str, str, str]:
    """Scheme, authority and the rest, split the way a WHATWG parser splits a special URL."""
    text = url.strip(_C0_CONTROL_OR_SPACE).translate(_REMOVE_TAB_AND_NEWLINE)
    match = _SCHEME.match(text)
    scheme = match[1].lower() if match else ""
    if match is None or scheme not in DEFAULT_PORTS:
        raise UrlBlockedError("only http and https URLs are allowed", why="scheme")
    # Special schemes skip any run of slashes and backslashes before the authority.
    remainder = text[match.end() :].lstrip("/\\")
    end = _AUTHORITY_END.search(remainder)
    cut = end.start() if end else len(remainder)
    return scheme, remainder[:cut], remainder[cut:]


def _split_host_port(authority: str) -> tuple[str, str]:
    if not authority.startswith("["):
        host, _, port = authority.partition(":")
        return host, port
    close = authority.find("]")
    tail = authority[close + 1 :]
    if close < 0 or (tail and not tail.startswith(":")):
        raise UrlBlockedError("malformed IPv6 host", why="invalid_host")
    return authority[: close + 1], tail[1:]


def _parse_host(text: str) -> _Host:
    if text.startswith("[") and text.endswith("]"):
        return _parse_ipv6_host(text[1:-1])
    if ":" in text:
        return _parse_ipv6_host(text)
    name = _to_ascii(_percent_decode(text))
    if _ends_in_number(name):
        address = _parse_ipv4(name)
        return _Host(str(address), address)
    if not _DOMAIN.fullmatch(name):
        raise UrlBlockedError("invalid host name", why="invalid_host")
    return _Host(name, None)


def _parse_ipv6_host(text: str) -> _Host:
    # Zone ids ("%eth0") are refused by the URL standard and would pick an interface.
    if "%" in text:
        raise UrlBlockedError("IPv6 zone ids are not allowed", why="invalid_host")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise UrlBlockedError("invalid IPv6 host", why="invalid_host") from exc
    return _Host(f"[{_serialise_ipv6(address)}]", address)


def _serialise_ipv6(address: ipaddress.IPv6Address) -> str:
    """WHATWG/RFC 5952 form (Python 3.13 changed ``str`` for IPv4-mapped addresses)."""
    pieces = [int.from_bytes(address.packed[i : i + 2], "big") for i in range(0, 16, 2)]
    start, length = _longest_zero_run(pieces)
    if length < 2:
        return ":".join(f"{piece:x}" for piece in pieces)
    head = ":".join(f"{piece:x}" for piece in pieces[:start])
    tail = ":".join(f"{piece:x}" for piece in pieces[start + length :])
    return f"{head}::{tail}"


def _longest_zero_run(pieces: list[int]) -> tuple[int, int]:
    best_start, best_length, start = 0, 0, 0
    for index, piece in enumerate([*pieces, 1]):
        if piece != 0:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = index + 1
    return best_start, best_length


def _percent_decode(text: str) -> str:
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise UrlBlockedError("host is not valid UTF-8", why="invalid_host") from exc


def _to_ascii(text: str) -> str:
    """Domain to ASCII; compatibility mapping turns e.g. full-width digits into ASCII ones."""
    if text.isascii():
        return text.lower()
    try:
        return text.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise UrlBlockedError("host is not a valid IDNA name", why="invalid_host") from exc


def _ends_in_number(name: str) -> bool:
    """WHATWG "ends in a number": such hosts are IPv4 addresses or invalid, never names."""
    parts = name.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    return (last.isascii() and last.isdigit()) or _parse_ipv4_number(last) is not None


def _parse_ipv4(name: str) -> ipaddress.IPv4Address:
    parts = name.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    numbers = [_parse_ipv4_number(part) for part in parts]
    valid = [number for number in numbers if number is not None]
    if len(parts) > 4 or len(valid) != len(numbers):
        raise UrlBlockedError("invalid IPv4 host", why="invalid_host")
    *head, last = valid
    if any(number > 0xFF for number in head) or last >= 256 ** (5 - len(valid)):
        raise UrlBlockedError("IPv4 host out of range", why="invalid_host")
    value = last + sum(number << (8 * (3 - index)) for index, number in enumerate(head))
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(part: str) -> int | None:
    """One IPv4 part: ``0x``-prefixed hex, ``0``-prefixed octal, else decimal; None if invalid."""
    if part == "":
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, radix = part[1:], 8
    if part == "":
        return 0
    if not set(part) <= _IPV4_DIGITS[radix]:
        return None
    return int(part, radix)


def _check_host(host: _Host, port: int, policy: UrlPolicy, resolve: Resolver) -> tuple[str, ...]:
    if policy.allowed_hosts and not _is_allowed_host(host.name, policy.allowed_hosts):
        raise UrlBlockedError(f"host {host.name} is not allowed", why="host_not_allowed")
    if host.address is not None:
        addresses: tuple[IpAddress, ...] = (host.address,)
    elif not policy.allow_private and _is_localhost_name(host.name):
        raise UrlBlockedError(f"{host.name} is a loopback name", why="private_address")
    else:
        addresses = _resolve_addresses(host.name, port, resolve)
    if not policy.allow_private:
        _require_public(host.name, addresses)
    return tuple(str(address) for address in addresses)


def _is_allowed_host(name: str, globs: tuple[str, ...]) -> bool:
    bare = name.removesuffix(".")
    return any(fnmatch.fnmatchcase(bare, glob.lower().removesuffix(".")) for glob in globs)


def _is_localhost_name(name: str) -> bool:
    bare = name.removesuffix(".")
    return bare in LOCALHOST_NAMES or bare.endswith(".localhost")


def _resolve_addresses(name: str, port: int, resolve: Resolver) -> tuple[IpAddress, ...]:
    try:
        answers = resolve(name, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise UrlBlockedError(f"cannot resolve {name}", why="unresolvable") from exc
    addresses = [_parse_address(answer) for answer in answers]
    if not addresses or None in addresses:
        raise UrlBlockedError(f"no usable address for {name}", why="unresolvable")
    return tuple(dict.fromkeys(address for address in addresses if address is not None))


def _require_public(name: str, addresses: tuple[IpAddress, ...]) -> None:
    for address in addresses:
        if not is_public_address(address):
            raise UrlBlockedError(f"{name} is at non-public {address}", why="private_address")


def _serialise_url(scheme: str, host: _Host, port: int, rest: str) -> str:
    """The checked URL rebuilt from its parts, so the browser cannot read another host from it."""
    path_end = _PATH_END.search(rest)
    cut = path_end.start() if path_end else len(rest)
    path = rest[:cut].replace("\\", "/") or "/"
    port_part = "" if port == DEFAULT_PORTS[scheme] else f":{port}"
    return f"{scheme}://{host.name}{port_part}{path}{rest[cut:]}"
